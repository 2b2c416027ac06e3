// Summary of a certificate for display, storage and logs.

import { badRequest } from '../lib/errors.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import { sha256Hex } from './pem.ts';

export type CertInfo = {
  subject: string;
  issuer: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, lower-case hex. */
  sha256: string;
};

export function certInfo(der: Uint8Array): CertInfo {
  let c;
  try {
    c = parseCertificate(der);
  } catch {
    throw badRequest('invalid certificate');
  }
  return {
    subject: c.subject,
    issuer: c.issuer,
    serialHex: c.serialHex,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    sha256: sha256Hex(der),
  };
}
