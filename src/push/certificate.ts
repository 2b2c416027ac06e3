// The MDM push certificate (APNs TLS client certificate): parse, check that
// the private key belongs to it, read the topic (the UID attribute of the
// subject, "com.apple.mgmt.External.<uuid>") and the validity window. Pure:
// no I/O; the time to judge expiry is passed in.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { badRequest } from '../lib/errors.ts';
import { fromPem, sha256Hex, toPem } from '../pki/pem.ts';
import * as x509 from '../pki/x509.ts';
import { readPkcs12 } from '../pki/pkcs12.ts';

/** OID of the userId (UID) attribute, which carries the push topic. */
export const UID_OID = '0.9.2342.19200300.100.1.1';
const TOPIC_RE = /^com\.apple\.mgmt\.[A-Za-z0-9._-]{1,200}$/;
const MAX_PEM = 64 * 1024;

export interface PushCertificate {
  /** The leaf certificate only, PEM. */
  certPem: string;
  /** PKCS#8 PEM of the private key (never logged, sealed before storage). */
  keyPem: string;
  topic: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
  /** Issuer distinguished name, for display (no personal data in Apple's push certificates). */
  issuer: string;
}

export type CertState = 'valid' | 'expiring' | 'expired' | 'not_yet_valid';

/** Parses and validates an uploaded pair. Throws RampartError('bad_request') with a fixed message. */
export function parsePushCertificate(certPem: string, keyPem: string, opts: { keyPassphrase?: string } = {}): PushCertificate {
  if (typeof certPem !== 'string' || certPem.length > MAX_PEM) throw badRequest('invalid certificate');
  if (typeof keyPem !== 'string' || keyPem.length > MAX_PEM) throw badRequest('invalid private key');
  const ders = fromPem(certPem, 'CERTIFICATE');
  const der = ders[0];
  if (!der) throw badRequest('invalid certificate', 'no CERTIFICATE block');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw badRequest('invalid certificate');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(opts.keyPassphrase !== undefined ? { key: keyPem, passphrase: opts.keyPassphrase } : { key: keyPem });
  } catch {
    throw badRequest('invalid private key');
  }
  if (!cert.checkPrivateKey(key)) throw badRequest('private key does not match the certificate');
  const topic = topicOf(der);
  if (topic === undefined) throw badRequest('certificate is not an MDM push certificate', 'no com.apple.mgmt.* UID in the subject');
  return {
    certPem: toPem('CERTIFICATE', der),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    topic,
    notBefore: cert.validFromDate.toISOString(),
    notAfter: cert.validToDate.toISOString(),
    sha256: sha256Hex(der),
    issuer: cert.issuer.replace(/\n/g, ', '),
  };
}

/**
 * Parses and validates a PKCS#12 (.p12) export of the push certificate with
 * its key (macOS Keychain, openssl pkcs12 -export; PBES2/AES, 3DES or RC2).
 * Throws RampartError('bad_request') with a fixed message.
 */
export function parsePushCertificateP12(p12: Uint8Array, password: string): PushCertificate {
  const id = readPkcs12(p12, password);
  return parsePushCertificate(toPem('CERTIFICATE', id.certDer), toPem('PRIVATE KEY', id.keyDer));
}

/** The push topic: the subject's UID attribute when it is com.apple.mgmt.*. */
export function topicOf(der: Uint8Array): string | undefined {
  let values: string[];
  try {
    values = new x509.X509Certificate(Uint8Array.from(der).buffer).subjectName.getField(UID_OID);
  } catch {
    return undefined;
  }
  return values.find((v) => TOPIC_RE.test(v));
}

/** valid / expiring (within warnDays) / expired / not_yet_valid at `now`. */
export function certState(c: Pick<PushCertificate, 'notBefore' | 'notAfter'>, now: Date, warnDays: number): CertState {
  const t = now.getTime();
  if (t < Date.parse(c.notBefore)) return 'not_yet_valid';
  const end = Date.parse(c.notAfter);
  if (t >= end) return 'expired';
  if (end - t <= warnDays * 86_400_000) return 'expiring';
  return 'valid';
}
