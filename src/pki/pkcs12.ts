// PKCS#12 (RFC 7292) reader for one identity: the private key and its
// certificate, as exported from macOS Keychain or `openssl pkcs12 -export`.
// The integrity MAC (HMAC keyed by the appendix B KDF) is verified before
// anything is decrypted; shrouded key bags and encrypted certificate bags are
// decrypted with ./pkcs12-pbe.ts. ASN.1 through asn1js. Pure: no I/O.
//
// Every failure is a RampartError('bad_request') with a fixed message; the
// detail (never the password or key material) is for the log only.
import { X509Certificate, createHmac, createPrivateKey, timingSafeEqual } from 'node:crypto';
import * as asn1js from 'asn1js';
import { badRequest, isRampartError, type RampartError } from '../lib/errors.ts';
import {
  DIGEST_OIDS, HMAC_OIDS, KDF_MAC, PBES2_CIPHER_OIDS, PKCS12_PBE_OIDS, bmpPassword, pbeDecrypt, pkcs12Kdf, type PbeParams,
} from './pkcs12-pbe.ts';

export const MAX_PKCS12_BYTES = 64 * 1024;
/** Bags across all SafeContents (a push identity has two or three). */
const MAX_BAGS = 64;
const MAX_NESTING = 4;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbmac1: '1.2.840.113549.1.5.14',
} as const;

export const P12_ERRORS = {
  invalid: 'invalid PKCS#12 file',
  password: 'wrong PKCS#12 password or corrupted file',
  noMac: 'PKCS#12 file has no integrity MAC',
  unsupported: 'unsupported PKCS#12 encryption',
  noKey: 'PKCS#12 file has no private key',
  manyKeys: 'PKCS#12 file has more than one private key',
  noCert: 'PKCS#12 file has no certificate',
  mismatch: 'private key does not match the certificate',
} as const;

export interface Pkcs12Identity {
  /** PKCS#8 DER of the private key. */
  keyDer: Uint8Array;
  /** DER of the certificate that belongs to the key. */
  certDer: Uint8Array;
  /** DER of the other certificates in the file (chain), in file order. */
  otherCerts: Uint8Array[];
}

class Bad extends Error {
  readonly msg: string;
  constructor(msg: string, detail: string) {
    super(detail);
    this.msg = msg;
  }
}
const invalid = (detail: string): never => {
  throw new Bad(P12_ERRORS.invalid, detail);
};

function parse(bytes: Uint8Array, what: string): asn1js.AsnType {
  const r = asn1js.fromBER(bytes);
  if (r.offset === -1 || r.offset !== bytes.length) invalid(`${what}: not one BER value`);
  return r.result;
}

function items(n: asn1js.AsnType | undefined, what: string, min: number, max: number): asn1js.AsnType[] {
  if (!(n instanceof asn1js.Sequence)) return invalid(`${what}: not a SEQUENCE`);
  const v = n.valueBlock.value;
  if (v.length < min || v.length > max) invalid(`${what}: ${v.length} elements`);
  return v;
}

function setItems(n: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(n instanceof asn1js.Set)) return invalid(`${what}: not a SET`);
  return n.valueBlock.value;
}

function oid(n: asn1js.AsnType | undefined, what: string): string {
  if (!(n instanceof asn1js.ObjectIdentifier)) return invalid(`${what}: not an OID`);
  return n.valueBlock.toString();
}

function octets(n: asn1js.AsnType | undefined, what: string): Uint8Array {
  if (!(n instanceof asn1js.OctetString)) return invalid(`${what}: not an OCTET STRING`);
  return new Uint8Array(n.getValue());
}

function smallInt(n: asn1js.AsnType | undefined, what: string): number {
  if (!(n instanceof asn1js.Integer)) return invalid(`${what}: not an INTEGER`);
  const hex = n.valueBlock.valueHexView;
  if (hex.length > 4 || (hex.length > 0 && (hex[0]! & 0x80) !== 0)) invalid(`${what}: out of range`);
  return n.valueBlock.valueDec;
}

/** [0] EXPLICIT x: the single value inside. */
function explicit0(n: asn1js.AsnType | undefined, what: string): asn1js.AsnType {
  if (!(n instanceof asn1js.Constructed) || n.idBlock.tagClass !== 3 || n.idBlock.tagNumber !== 0) return invalid(`${what}: not [0]`);
  const v = n.valueBlock.value;
  if (v.length !== 1) invalid(`${what}: [0] holds ${v.length} values`);
  return v[0]!;
}

/** [0] IMPLICIT OCTET STRING, primitive or constructed (BER). */
function implicitOctets0(n: asn1js.AsnType | undefined, what: string): Uint8Array {
  if (!n || n.idBlock.tagClass !== 3 || n.idBlock.tagNumber !== 0) return invalid(`${what}: not [0]`);
  if (n instanceof asn1js.Constructed) {
    const parts = n.valueBlock.value.map((p, i) => octets(p, `${what}[${i}]`));
    return new Uint8Array(Buffer.concat(parts));
  }
  if (n instanceof asn1js.Primitive) return new Uint8Array(n.valueBlock.valueHexView);
  return invalid(`${what}: unexpected encoding`);
}

/** ContentInfo of type data: the octets inside. */
function dataContent(n: asn1js.AsnType | undefined, what: string): Uint8Array {
  const [type, content] = items(n, what, 2, 2);
  if (oid(type, `${what}.contentType`) !== OID.data) invalid(`${what}: not data`);
  return octets(explicit0(content, `${what}.content`), `${what}.content`);
}

function pbeParams(alg: asn1js.AsnType | undefined, what: string): PbeParams {
  const [algOid, params] = items(alg, what, 1, 2);
  const id = oid(algOid, `${what}.algorithm`);
  const scheme = PKCS12_PBE_OIDS[id];
  if (scheme) {
    const [salt, iter] = items(params, `${what}.parameters`, 2, 2);
    return { kind: 'pkcs12', scheme, salt: octets(salt, 'salt'), iterations: smallInt(iter, 'iterations') };
  }
  if (id !== OID.pbes2) throw new Bad(P12_ERRORS.unsupported, `encryption ${id}`);
  const [kdf, enc] = items(params, `${what}.pbes2`, 2, 2);
  const [kdfOid, kdfParams] = items(kdf, 'keyDerivationFunc', 2, 2);
  const kdfId = oid(kdfOid, 'keyDerivationFunc');
  if (kdfId !== OID.pbkdf2) throw new Bad(P12_ERRORS.unsupported, `kdf ${kdfId}`);
  const kp = items(kdfParams, 'pbkdf2', 2, 4);
  const salt = octets(kp[0], 'pbkdf2.salt');
  const iterations = smallInt(kp[1], 'pbkdf2.iterations');
  let keyLength: number | undefined;
  let prf = 'sha1';
  for (const extra of kp.slice(2)) {
    if (extra instanceof asn1js.Integer && keyLength === undefined && prf === 'sha1') keyLength = smallInt(extra, 'pbkdf2.keyLength');
    else {
      const [prfOid] = items(extra, 'pbkdf2.prf', 1, 2);
      const p = HMAC_OIDS[oid(prfOid, 'pbkdf2.prf')];
      if (!p) throw new Bad(P12_ERRORS.unsupported, 'pbkdf2 prf');
      prf = p;
    }
  }
  const [encOid, iv] = items(enc, 'encryptionScheme', 2, 2);
  const encId = oid(encOid, 'encryptionScheme');
  const cipher = PBES2_CIPHER_OIDS[encId];
  if (!cipher) throw new Bad(P12_ERRORS.unsupported, `cipher ${encId}`);
  return { kind: 'pbes2', prf, salt, iterations, ...(keyLength !== undefined ? { keyLength } : {}), cipher, iv: octets(iv, 'iv') };
}

function decrypt(alg: asn1js.AsnType | undefined, data: Uint8Array, password: string, what: string): Uint8Array {
  const params = pbeParams(alg, what);
  try {
    return pbeDecrypt(params, password, data);
  } catch (e) {
    // The MAC was verified: a failure here is a bad parameter or a file whose parts use another password.
    throw new Bad(P12_ERRORS.password, `${what}: ${(e as Error).message}`);
  }
}

function verifyMac(macData: asn1js.AsnType | undefined, authSafe: Uint8Array, password: string): void {
  const m = items(macData, 'macData', 2, 3);
  const [digestInfo, saltNode, iterNode] = m;
  const [alg, mac] = items(digestInfo, 'mac', 2, 2);
  const [algOid] = items(alg, 'mac.algorithm', 1, 2);
  const algId = oid(algOid, 'mac.algorithm');
  if (algId === OID.pbmac1) throw new Bad(P12_ERRORS.unsupported, 'PBMAC1');
  const digest = DIGEST_OIDS[algId];
  if (!digest) throw new Bad(P12_ERRORS.unsupported, `mac digest ${algId}`);
  const expected = octets(mac, 'mac.digest');
  const salt = octets(saltNode, 'macSalt');
  const iterations = iterNode === undefined ? 1 : smallInt(iterNode, 'iterations');
  const tryPassword = (pw: Uint8Array): boolean => {
    let key: Uint8Array;
    try {
      key = pkcs12Kdf(digest, pw, salt, KDF_MAC, iterations, expected.length === 0 ? 1 : macLength(digest));
    } catch (e) {
      throw new Bad(P12_ERRORS.invalid, `mac kdf: ${(e as Error).message}`);
    }
    const got = createHmac(digest, key).update(authSafe).digest();
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  // An empty password is written as two NUL bytes by some tools and as nothing by others (OpenSSL tries both).
  if (tryPassword(bmpPassword(password))) return;
  if (password === '' && tryPassword(new Uint8Array(0))) return;
  throw new Bad(P12_ERRORS.password, 'MAC mismatch');
}

function macLength(digest: string): number {
  return { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 }[digest] ?? 20;
}

interface Collected {
  keys: Uint8Array[];
  certs: Uint8Array[];
  bags: number;
}

function readSafeContents(bytes: Uint8Array, password: string, out: Collected, depth: number): void {
  if (depth > MAX_NESTING) invalid('SafeContents nested too deep');
  const bags = items(parse(bytes, 'SafeContents'), 'SafeContents', 0, MAX_BAGS);
  for (const bag of bags) {
    if (++out.bags > MAX_BAGS) invalid('too many bags');
    const [bagIdNode, valueNode, attrs] = items(bag, 'SafeBag', 2, 3);
    if (attrs !== undefined) setItems(attrs, 'bagAttributes');
    const bagId = oid(bagIdNode, 'bagId');
    const value = explicit0(valueNode, 'bagValue');
    switch (bagId) {
      case OID.keyBag:
        out.keys.push(new Uint8Array(value.toBER(false)));
        break;
      case OID.shroudedKeyBag: {
        const [alg, enc] = items(value, 'EncryptedPrivateKeyInfo', 2, 2);
        out.keys.push(decrypt(alg, octets(enc, 'encryptedData'), password, 'shrouded key bag'));
        break;
      }
      case OID.certBag: {
        const [certId, certValue] = items(value, 'CertBag', 2, 2);
        // Only X.509 certificates; SDSI certificates are skipped.
        if (oid(certId, 'certId') === OID.x509Certificate) out.certs.push(octets(explicit0(certValue, 'certValue'), 'certValue'));
        break;
      }
      case OID.safeContentsBag:
        readSafeContents(new Uint8Array(value.toBER(false)), password, out, depth + 1);
        break;
      default:
        // CRL and secret bags carry nothing a push identity needs.
        break;
    }
  }
}

function readIdentity(p12: Uint8Array, password: string): Pkcs12Identity {
  if (!(p12 instanceof Uint8Array) || p12.length === 0 || p12.length > MAX_PKCS12_BYTES) invalid('size');
  if (typeof password !== 'string' || password.length > 1024) throw new Bad(P12_ERRORS.password, 'password length');
  const pfx = items(parse(p12, 'PFX'), 'PFX', 2, 3);
  if (smallInt(pfx[0], 'version') !== 3) invalid('version');
  const authSafe = dataContent(pfx[1], 'authSafe');
  if (pfx[2] === undefined) throw new Bad(P12_ERRORS.noMac, 'no MacData');
  verifyMac(pfx[2], authSafe, password);

  const out: Collected = { keys: [], certs: [], bags: 0 };
  const contentInfos = items(parse(authSafe, 'AuthenticatedSafe'), 'AuthenticatedSafe', 1, 16);
  for (const ci of contentInfos) {
    const [type, content] = items(ci, 'ContentInfo', 2, 2);
    const t = oid(type, 'contentType');
    if (t === OID.data) {
      readSafeContents(octets(explicit0(content, 'content'), 'content'), password, out, 0);
    } else if (t === OID.encryptedData) {
      const [version, eci] = items(explicit0(content, 'content'), 'EncryptedData', 2, 3);
      smallInt(version, 'EncryptedData.version');
      const [ctype, alg, enc] = items(eci, 'EncryptedContentInfo', 3, 3);
      if (oid(ctype, 'EncryptedContentInfo.contentType') !== OID.data) invalid('encrypted content is not data');
      readSafeContents(decrypt(alg, implicitOctets0(enc, 'encryptedContent'), password, 'encrypted certificate bags'), password, out, 0);
    } else {
      throw new Bad(P12_ERRORS.unsupported, `content type ${t}`);
    }
  }

  if (out.keys.length === 0) throw new Bad(P12_ERRORS.noKey, 'no key bag');
  if (out.keys.length > 1) throw new Bad(P12_ERRORS.manyKeys, `${out.keys.length} key bags`);
  if (out.certs.length === 0) throw new Bad(P12_ERRORS.noCert, 'no certificate bag');
  const keyDer = out.keys[0]!;
  let key;
  try {
    key = createPrivateKey({ key: Buffer.from(keyDer), format: 'der', type: 'pkcs8' });
  } catch {
    throw new Bad(P12_ERRORS.invalid, 'private key is not PKCS#8');
  }
  let index = -1;
  for (let i = 0; i < out.certs.length; i++) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(out.certs[i]!);
    } catch {
      return invalid(`certificate ${i} does not parse`);
    }
    if (index === -1 && cert.checkPrivateKey(key)) index = i;
  }
  if (index === -1) throw new Bad(P12_ERRORS.mismatch, 'no certificate for the key');
  return { keyDer, certDer: out.certs[index]!, otherCerts: out.certs.filter((_, i) => i !== index) };
}

/**
 * The one private key in `p12` and the certificate that belongs to it.
 * Throws RampartError('bad_request') with one of P12_ERRORS.
 */
export function readPkcs12(p12: Uint8Array, password: string): Pkcs12Identity {
  try {
    return readIdentity(p12, password);
  } catch (e) {
    if (e instanceof Bad) throw badRequest(e.msg, e.message);
    if (isRampartError(e)) throw e as RampartError;
    // asn1js or node:crypto on malformed input (including stack exhaustion on absurd nesting).
    throw badRequest(P12_ERRORS.invalid, e instanceof Error ? e.name : 'error');
  }
}
