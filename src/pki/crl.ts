// Certificate revocation lists signed by the CA.

import * as x509 from './x509.ts';
import { badRequest } from '../lib/errors.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import type { CaMaterial } from './authority.ts';
import { signingAlgorithm, toSigningCryptoKey, webCrypto } from './crypto-keys.ts';

export type RevokedEntry = { serialHex: string; revokedAt: Date; reason?: string };

export const CRL_REASONS: Readonly<Record<string, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};

/** DER INTEGER for a non-negative bigint. */
function derInteger(v: bigint): Uint8Array {
  if (v < 0n) throw badRequest('invalid CRL number');
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (((bytes[0] as number) & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (bytes.length > 20) throw badRequest('invalid CRL number');
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

export async function createCrl(
  ca: CaMaterial,
  revoked: RevokedEntry[],
  opts: { now: Date; nextUpdateHours: number; crlNumber: bigint | number },
): Promise<Uint8Array> {
  if (!Number.isFinite(opts.nextUpdateHours) || opts.nextUpdateHours <= 0 || opts.nextUpdateHours > 24 * 366) {
    throw badRequest('invalid next update');
  }
  const crlNumber = typeof opts.crlNumber === 'bigint' ? opts.crlNumber : BigInt(Math.trunc(opts.crlNumber));
  const caCert = parseCertificate(ca.certDer);
  const issuer = new x509.Name(caCert.subjectRaw.slice().buffer as ArrayBuffer);
  const seen = new Set<string>();
  const entries: x509.X509CrlEntryParams[] = revoked.map((r) => {
    const serial = r.serialHex.toLowerCase().replace(/^(?:00)+(?=.)/, '');
    if (!/^[0-9a-f]{1,40}$/.test(serial) || /^0+$/.test(serial)) throw badRequest('invalid serial');
    if (seen.has(serial)) throw badRequest('duplicate serial');
    seen.add(serial);
    if (!(r.revokedAt instanceof Date) || Number.isNaN(r.revokedAt.getTime())) throw badRequest('invalid revocation time');
    const entry: x509.X509CrlEntryParams = { serialNumber: serial.length % 2 ? `0${serial}` : serial, revocationDate: r.revokedAt };
    if (r.reason !== undefined) {
      const code = CRL_REASONS[r.reason];
      if (code === undefined) throw badRequest('invalid revocation reason');
      entry.reason = code;
    }
    return entry;
  });
  const extensions: x509.Extension[] = [new x509.Extension('2.5.29.20', false, derInteger(crlNumber).buffer as ArrayBuffer)];
  if (caCert.subjectKeyId) {
    extensions.push(new x509.AuthorityKeyIdentifierExtension(Buffer.from(caCert.subjectKeyId).toString('hex'), false));
  }
  const crl = await x509.X509CrlGenerator.create({
    issuer,
    thisUpdate: opts.now,
    nextUpdate: new Date(opts.now.getTime() + opts.nextUpdateHours * 3600 * 1000),
    signingAlgorithm: signingAlgorithm(ca.privateKey),
    signingKey: toSigningCryptoKey(ca.privateKey),
    entries,
    extensions,
  }, webCrypto);
  return new Uint8Array(crl.rawData);
}
