// CMS Mdm-Signature verification cost (not a test): an RSA-2048 device
// signature over a check-in body, verified with the cached-certificate
// verifier the gateway and the core use, and with the one-shot function.
//
//   ./node_modules/.bin/node bench/cms-verify.ts [--n 5000]
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createCertificateAuthority, issueCertificate } from '../src/pki/authority.ts';
import { signDetached } from '../src/protocol/cms/sign.ts';
import { createCmsVerifier, verifyDetachedSignature } from '../src/protocol/cms/verify.ts';
import { buildPlist } from '../src/protocol/plist/index.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '5000' } } });
const n = Number(values.n);
const now = new Date();
const ca = await createCertificateAuthority({ commonName: 'Bench CA', validityDays: 30, now, keyAlgorithm: 'rsa-2048' });
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const certDer = await issueCertificate(ca, { subject: 'CN=device', publicKey, validityDays: 30, now, profile: 'device-identity' });
const body = buildPlist({ UDID: '00008030-000A1B2C3D4E5F60', Status: 'Idle' });
const sig = signDetached(body, { certDer, privateKey });
const anchors = [ca.certDer];

function time(label: string, fn: () => void): void {
  for (let i = 0; i < 200; i++) fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const c = process.cpuUsage(c0);
  console.log(`${label}: ${((c.user + c.system) / n).toFixed(1)} µs CPU per verification`);
}
const v = createCmsVerifier({ trustAnchors: anchors });
time('createCmsVerifier().verifyDetached (signer certificate cached)', () => v.verifyDetached(sig, body, { now }));
time('verifyDetachedSignature (one-shot, verifier cached per trust-anchor set)', () => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }));
