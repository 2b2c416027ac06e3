// The enrollment CA as the core keeps it: certificate in settings, private key
// sealed with the key-encryption key (never in plaintext in the database, never
// in the gateway). Created on first start.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { createCertificateAuthority, issueCertificate, type CaMaterial } from '../pki/authority.ts';
import { certInfo } from '../pki/info.ts';
import type { Sealer } from '../services/checkin.ts';
import type { CertificateStore, SettingsStore } from '../storage/types.ts';

const CERT_KEY = 'ca.cert';
const SEALED_KEY = 'ca.key.sealed';
const KEY_AAD = 'ca-key';
const CHAIN_KEY = 'ca.chain';

export async function loadOrCreateCa(
  deps: { settings: SettingsStore; sealer: Sealer; now: () => Date },
  opts: { commonName: string; validityDays: number },
): Promise<{ ca: CaMaterial; created: boolean }> {
  const existing = await loadCa(deps);
  if (existing) return { ca: existing, created: false };
  const ca = await createCertificateAuthority({
    commonName: opts.commonName,
    organization: 'Rampart',
    validityDays: opts.validityDays,
    now: deps.now(),
    keyAlgorithm: 'rsa-2048',
  });
  const pkcs8 = ca.privateKey.export({ format: 'der', type: 'pkcs8' });
  const now = deps.now().toISOString();
  await deps.settings.set(SEALED_KEY, Buffer.from(deps.sealer.seal(new Uint8Array(pkcs8), KEY_AAD)).toString('base64'), now);
  await deps.settings.set(CERT_KEY, Buffer.from(ca.certDer).toString('base64'), now);
  return { ca, created: true };
}

/** The issuing CA and, for an intermediate, the certificates above it (`ca.chain`, issuer first). */
export async function loadCa(deps: { settings: SettingsStore; sealer: Sealer }): Promise<(CaMaterial & { chain: Uint8Array[] }) | undefined> {
  const [cert, sealed, chain] = await Promise.all([deps.settings.get(CERT_KEY), deps.settings.get(SEALED_KEY), deps.settings.get(CHAIN_KEY)]);
  if (!cert || !sealed) return undefined;
  const pkcs8 = deps.sealer.open(new Uint8Array(Buffer.from(sealed, 'base64')), KEY_AAD);
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  return { certDer: new Uint8Array(Buffer.from(cert, 'base64')), privateKey, chain: decodeList(chain) };
}

/** A JSON list of base64 DER certificates ('' or absent: none). */
export function decodeList(raw: string | undefined): Uint8Array[] {
  if (!raw) return [];
  const list = JSON.parse(raw) as unknown;
  if (!Array.isArray(list)) return [];
  return list.filter((x): x is string => typeof x === 'string').map((b) => new Uint8Array(Buffer.from(b, 'base64')));
}

/** Issues a device identity certificate and records it (serial tracking, revocation later). */
export async function issueDeviceIdentity(
  deps: { ca: CaMaterial; certificates: CertificateStore; now: () => Date },
  req: { publicKey: KeyObject | Uint8Array; commonName: string; deviceId?: string; validityDays?: number; crlUrl?: string },
): Promise<Uint8Array> {
  const der = await issueCertificate(deps.ca, {
    subject: `CN=${req.commonName.replace(/[,=+<>#;"\\]/g, '_')},O=Rampart`,
    publicKey: req.publicKey,
    validityDays: req.validityDays ?? 365,
    now: deps.now(),
    profile: 'device-identity',
    ...(req.crlUrl ? { crlDistributionPoints: [req.crlUrl] } : {}),
  });
  const info = certInfo(der);
  await deps.certificates.add({
    serial: info.serialHex,
    subject: info.subject,
    sha256: info.sha256,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    deviceId: req.deviceId ?? null,
    der,
  });
  return der;
}
