// Certificate revocation lists signed by the CA.

import { sign as cryptoSign } from 'node:crypto';
import { badRequest } from '../lib/errors.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import { derNull, encodeOid, encodeSmallInt, encodeTime, explicit, octetString, seq, tlv } from '../protocol/cms/der.ts';
import type { CaMaterial } from './authority.ts';
import { signingAlgorithm } from './crypto-keys.ts';

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

/** DER INTEGER for a non-negative bigint (at most 20 octets: CRL numbers and serials). */
function derInteger(v: bigint): Uint8Array {
  if (v < 0n) throw badRequest('invalid CRL number');
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (((bytes[0] as number) & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (bytes.length > 21) throw badRequest('invalid CRL number');
  return tlv(0x02, new Uint8Array(bytes));
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
  const seen = new Set<string>();
  // Encoded directly (RFC 5280 5.1): the @peculiar/x509 generator took seconds for ten thousand entries.
  const entries = revoked.map((r) => {
    const serial = r.serialHex.toLowerCase().replace(/^(?:00)+(?=.)/, '');
    if (!/^[0-9a-f]{1,40}$/.test(serial) || /^0+$/.test(serial)) throw badRequest('invalid serial');
    if (seen.has(serial)) throw badRequest('duplicate serial');
    seen.add(serial);
    if (!(r.revokedAt instanceof Date) || Number.isNaN(r.revokedAt.getTime())) throw badRequest('invalid revocation time');
    const parts = [derInteger(BigInt(`0x${serial}`)), encodeTime(r.revokedAt)];
    if (r.reason !== undefined) {
      const code = CRL_REASONS[r.reason];
      if (code === undefined) throw badRequest('invalid revocation reason');
      parts.push(seq(seq(encodeOid('2.5.29.21'), octetString(tlv(0x0a, new Uint8Array([code]))))));
    }
    return seq(...parts);
  });
  const extensions = [seq(encodeOid('2.5.29.20'), octetString(derInteger(crlNumber)))];
  if (caCert.subjectKeyId) extensions.push(seq(encodeOid('2.5.29.35'), octetString(seq(tlv(0x80, caCert.subjectKeyId)))));
  const alg = signingAlgorithm(ca.privateKey);
  const algId = alg.name === 'ECDSA' ? seq(encodeOid('1.2.840.10045.4.3.2')) : seq(encodeOid('1.2.840.113549.1.1.11'), derNull());
  const tbs = seq(
    encodeSmallInt(1),
    algId,
    Uint8Array.from(caCert.subjectRaw),
    encodeTime(opts.now),
    encodeTime(new Date(opts.now.getTime() + opts.nextUpdateHours * 3600 * 1000)),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    explicit(0, seq(...extensions)),
  );
  const signature = cryptoSign('sha256', tbs, ca.privateKey);
  const bits = new Uint8Array(signature.length + 1);
  bits.set(signature, 1);
  return seq(tbs, algId, tlv(0x03, bits));
}
