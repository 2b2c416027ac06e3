// PKCS#10 certification requests (RFC 2986) as SCEP carries them: parse and
// verify (the core), build (the simulator). Also a minimal self-signed
// certificate, the "signer certificate" a device makes for its PKCSReq.
// Pure: node:crypto only, no I/O.
import { createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SIGNATURE_OIDS, MIN_RSA_BITS, ACCEPTED_CURVES, ECDSA_OID_BY_HASH } from '../cms/algorithms.ts';
import { formatName } from '../cms/certificate.ts';
import {
  DerError, TAG, bitString, children, content, concat, derNull, encodeOid, encodeSmallInt, encodeTime, expect,
  expectKids, explicit, oid, parse, raw, seq, setOf, tlv,
} from '../cms/der.ts';
import type { Node } from '../cms/der.ts';
import { SCEP_OID } from './oids.ts';

export type ParsedCsr = {
  der: Uint8Array;
  /** Subject as "CN=a,O=b" (encoded order). */
  subject: string;
  subjectRaw: Uint8Array;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  publicKey: KeyObject;
  challengePassword: string | undefined;
};

const MAX_CHALLENGE_CHARS = 255;
const STRING_TAGS: ReadonlySet<number> = new Set([TAG.PrintableString, TAG.UTF8String, TAG.IA5String, TAG.TeletexString]);

function acceptedKey(key: KeyObject): boolean {
  if (key.asymmetricKeyType === 'rsa') return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
  if (key.asymmetricKeyType === 'ec') return ACCEPTED_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '');
  return false;
}

function directoryString(n: Node): string {
  if (!STRING_TAGS.has(n.tag)) throw new DerError('bad string');
  const c = content(n);
  if (c.length > MAX_CHALLENGE_CHARS * 4) throw new DerError('string too long');
  const s = n.tag === TAG.UTF8String ? new TextDecoder('utf-8', { fatal: true }).decode(c) : String.fromCharCode(...c);
  if (n.tag !== TAG.UTF8String && c.some((b) => b > 0x7e)) throw new DerError('bad string');
  return s;
}

/** Parses and verifies a PKCS#10 request (its self-signature, key type and size). Throws DerError. */
export function parseCsr(der: Uint8Array): ParsedCsr {
  const root = parse(der);
  const [infoN, algN, sigN] = expectKids(root, TAG.SEQUENCE, 3, 3);
  const info = expectKids(infoN, TAG.SEQUENCE, 3, 4);
  const version = content(expect(info[0], TAG.INTEGER));
  if (version.length !== 1 || version[0] !== 0) throw new DerError('bad CSR version');
  const subjectN = expect(info[1], TAG.SEQUENCE);
  const subject = formatName(subjectN);
  const spkiN = expect(info[2], TAG.SEQUENCE);
  const spki = Uint8Array.from(raw(spkiN));
  let challengePassword: string | undefined;
  if (info[3] !== undefined) {
    const attrs = children(expect(info[3], 0xa0));
    if (attrs.length > 16) throw new DerError('too many attributes');
    const seen = new Set<string>();
    for (const a of attrs) {
      const [t, vals] = expectKids(a, TAG.SEQUENCE, 2, 2);
      const type = oid(t);
      if (seen.has(type)) throw new DerError('duplicate attribute');
      seen.add(type);
      const values = expectKids(vals, TAG.SET, 1, 1);
      if (type === SCEP_OID.challengePassword) challengePassword = directoryString(values[0] as Node);
    }
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new DerError('bad public key');
  }
  if (!acceptedKey(publicKey)) throw new DerError('unsupported key');
  const [algOidN] = expectKids(algN, TAG.SEQUENCE, 1, 2);
  const alg = SIGNATURE_OIDS[oid(algOidN)];
  if (!alg || !alg.hash || alg.hash === 'sha1' || alg.key !== publicKey.asymmetricKeyType) throw new DerError('bad CSR signature algorithm');
  const sig = bitString(sigN);
  if (sig.unused !== 0) throw new DerError('bad signature');
  let ok = false;
  try {
    ok = cryptoVerify(alg.hash, raw(infoN as Node), publicKey, sig.bytes);
  } catch {
    ok = false;
  }
  if (!ok) throw new DerError('CSR signature does not verify');
  return { der: Uint8Array.from(der), subject, subjectRaw: Uint8Array.from(raw(subjectN)), spki, publicKey, challengePassword };
}

// ---- building (simulator, tests) -------------------------------------------

const utf8 = (s: string): Uint8Array => tlv(TAG.UTF8String, new TextEncoder().encode(s));

/** A Name with a CN and optionally an O (UTF8String values). */
export function encodeName(commonName: string, organization?: string): Uint8Array {
  const rdns = [setOf([seq(encodeOid(SCEP_OID.commonName), utf8(commonName))])];
  if (organization !== undefined) rdns.push(setOf([seq(encodeOid(SCEP_OID.organization), utf8(organization))]));
  return seq(...rdns);
}

function sigAlgFor(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType === 'rsa') return seq(encodeOid(SCEP_OID.sha256WithRsa), derNull());
  if (key.asymmetricKeyType === 'ec') return seq(encodeOid(ECDSA_OID_BY_HASH.sha256));
  throw new DerError('unsupported key');
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
}

function signed(tbs: Uint8Array, key: KeyObject): Uint8Array {
  const signature = cryptoSign('sha256', tbs, key);
  return seq(tbs, sigAlgFor(key), tlv(TAG.BIT_STRING, concat([new Uint8Array([0]), signature])));
}

export function buildCsr(opts: { privateKey: KeyObject; name: Uint8Array; challengePassword?: string }): Uint8Array {
  const attrs: Uint8Array[] = [];
  if (opts.challengePassword !== undefined) {
    attrs.push(seq(encodeOid(SCEP_OID.challengePassword), setOf([utf8(opts.challengePassword)])));
  }
  const info = seq(encodeSmallInt(0), opts.name, spkiOf(opts.privateKey), setOf(attrs, 0xa0));
  return signed(info, opts.privateKey);
}

/** A self-signed certificate (v3, no extensions) for signing a SCEP request. */
export function buildSelfSignedCert(opts: { privateKey: KeyObject; name: Uint8Array; serial: Uint8Array; notBefore: Date; notAfter: Date }): Uint8Array {
  const serial = Uint8Array.from(opts.serial);
  serial[0] = (serial[0] as number) & 0x7f;
  if (serial[0] === 0) serial[0] = 1;
  const tbs = seq(
    explicit(0, encodeSmallInt(2)),
    tlv(TAG.INTEGER, serial),
    sigAlgFor(opts.privateKey),
    opts.name,
    seq(encodeTime(opts.notBefore), encodeTime(opts.notAfter)),
    opts.name,
    spkiOf(opts.privateKey),
  );
  return signed(tbs, opts.privateKey);
}
