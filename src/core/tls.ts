// Development TLS for the device listener: a certificate for localhost,
// 127.0.0.1 and ::1 issued by the enrollment CA, kept in the data directory.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { issueCertificate, type CaMaterial } from '../pki/authority.ts';
import { generateKey } from '../pki/crypto-keys.ts';
import { toPem } from '../pki/pem.ts';

export async function createDevelopmentTls(dataDir: string, ca: CaMaterial, now: Date): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'device-cert.pem');
  const keyFile = path.join(dir, 'device-key.pem');
  const caPem = toPem('CERTIFICATE', ca.certDer);
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), caPem };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = await generateKey('ecdsa-p256');
  const der = await issueCertificate(ca, {
    subject: 'CN=localhost,O=Rampart (development)',
    publicKey: key.publicKey,
    validityDays: 397,
    now,
    profile: 'tls-server',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  const certPem = toPem('CERTIFICATE', der) + caPem;
  const keyPem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem, { mode: 0o644 });
  writeFileSync(path.join(dir, 'ca.pem'), caPem, { mode: 0o644 });
  return { certPem, keyPem, caPem };
}
