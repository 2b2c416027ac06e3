// Development PKI for a fresh clone (`npm start`): a local CA and a TLS
// certificate for localhost, 127.0.0.1 and ::1. Not for production.

import type { KeyObject } from 'node:crypto';
import { createCertificateAuthority, issueCertificate } from './authority.ts';
import type { CaMaterial } from './authority.ts';
import { generateKey } from './crypto-keys.ts';
import { toPem } from './pem.ts';

export type DevelopmentPki = {
  ca: CaMaterial;
  caCertPem: string;
  tls: {
    certDer: Uint8Array;
    certPem: string;
    /** Leaf then CA, for a TLS server's `cert` option. */
    chainPem: string;
    privateKey: KeyObject;
    keyPem: string;
  };
};

/** Apple refuses TLS server certificates valid for longer than this. */
export const TLS_VALIDITY_DAYS = 397;

export async function createDevelopmentPki(now: Date): Promise<DevelopmentPki> {
  const ca = await createCertificateAuthority({
    commonName: 'Rampart Development CA',
    organization: 'Rampart (development)',
    validityDays: 3650,
    now,
    keyAlgorithm: 'rsa-2048',
  });
  const tlsKey = await generateKey('ecdsa-p256');
  const certDer = await issueCertificate(ca, {
    subject: 'CN=localhost,O=Rampart (development)',
    publicKey: tlsKey.publicKey,
    validityDays: TLS_VALIDITY_DAYS,
    now,
    profile: 'tls-server',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  const caCertPem = toPem('CERTIFICATE', ca.certDer);
  const certPem = toPem('CERTIFICATE', certDer);
  const keyPem = tlsKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return {
    ca,
    caCertPem,
    tls: { certDer, certPem, chainPem: certPem + caCertPem, privateKey: tlsKey.privateKey, keyPem },
  };
}
