// The SCEP registration authority: a key and certificate issued by the
// enrollment CA (profile scep-ra: digitalSignature + keyEncipherment). Devices
// encrypt their requests to it; it signs CertReps and enrollment profiles.
// Its key is sealed with the key-encryption key like the CA's and never leaves
// the core. It is re-issued when the CA changes (rotation).
import { createPrivateKey, generateKeyPairSync, hash, type KeyObject } from 'node:crypto';
import { issueCertificate, type CaMaterial } from '../pki/authority.ts';
import type { Sealer } from '../services/checkin.ts';
import type { SettingsStore } from '../storage/types.ts';

export type RaMaterial = { certDer: Uint8Array; privateKey: KeyObject };

const CERT = 'scep.ra.cert';
const SEALED = 'scep.ra.key.sealed';
const FOR_CA = 'scep.ra.ca_sha256';
const AAD = 'scep-ra-key';

/** The stored RA, when it was issued for `ca` (another node may not have issued it yet after a CA change). */
export async function loadRa(deps: { settings: SettingsStore; sealer: Sealer }, ca: Pick<CaMaterial, 'certDer'>): Promise<RaMaterial | undefined> {
  const caSha = hash('sha256', ca.certDer, 'hex');
  const [cert, sealed, forCa] = await Promise.all([deps.settings.get(CERT), deps.settings.get(SEALED), deps.settings.get(FOR_CA)]);
  if (!cert || !sealed || forCa !== caSha) return undefined;
  const pkcs8 = deps.sealer.open(new Uint8Array(Buffer.from(sealed, 'base64')), AAD);
  return { certDer: new Uint8Array(Buffer.from(cert, 'base64')), privateKey: createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }) };
}

export async function loadOrCreateRa(
  deps: { settings: SettingsStore; sealer: Sealer; now: () => Date },
  ca: CaMaterial,
  opts: { validityDays?: number } = {},
): Promise<{ ra: RaMaterial; created: boolean }> {
  const existing = await loadRa(deps, ca);
  if (existing) return { ra: existing, created: false };
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certDer = await issueCertificate(ca, {
    subject: 'CN=Rampart SCEP RA,O=Rampart',
    publicKey,
    validityDays: opts.validityDays ?? 730,
    now: deps.now(),
    profile: 'scep-ra',
  });
  const now = deps.now().toISOString();
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  await deps.settings.set(SEALED, Buffer.from(deps.sealer.seal(new Uint8Array(pkcs8), AAD)).toString('base64'), now);
  await deps.settings.set(CERT, Buffer.from(certDer).toString('base64'), now);
  await deps.settings.set(FOR_CA, hash('sha256', ca.certDer, 'hex'), now);
  return { ra: { certDer, privateKey }, created: true };
}
