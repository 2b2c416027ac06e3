// Password-based keys for PKCS#12: the RFC 7292 appendix B key derivation
// (used for the integrity MAC and the legacy pbeWithSHAAnd* schemes), and
// decryption for the schemes real exports use: PBES2 (PBKDF2 + AES-CBC, the
// OpenSSL 3 and newer macOS default), pbeWithSHAAnd3-KeyTripleDES-CBC,
// 2-key 3DES and pbeWithSHAAnd{40,128}BitRC2-CBC (older Keychain exports and
// `openssl pkcs12 -legacy`; RC2 from ./rc2.ts). Pure: no I/O.
import { createDecipheriv, hash, pbkdf2Sync } from 'node:crypto';
import { rc2CbcDecrypt } from './rc2.ts';

/** Hash name → [output bytes u, block bytes v] for the appendix B KDF. */
const HASHES: Readonly<Record<string, readonly [number, number]>> = {
  sha1: [20, 64],
  sha224: [28, 64],
  sha256: [32, 64],
  sha384: [48, 128],
  sha512: [64, 128],
};

/** Digest OIDs as they appear in MacData and PBKDF2's prf. */
export const DIGEST_OIDS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
export const HMAC_OIDS: Readonly<Record<string, string>> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

/** Iteration counts above these are refused (a crafted file must not pin the core's CPU). */
export const MAX_KDF_ITERATIONS = 200_000;
export const MAX_PBKDF2_ITERATIONS = 2_000_000;

/** Key-derivation purposes (RFC 7292 B.3). */
export const KDF_KEY = 1;
export const KDF_IV = 2;
export const KDF_MAC = 3;

/** The password as the appendix B KDF wants it: big-endian UTF-16 with a two-byte NUL terminator. */
export function bmpPassword(password: string): Uint8Array {
  const out = new Uint8Array(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    out[2 * i] = c >>> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

function repeatTo(src: Uint8Array, v: number): Uint8Array {
  if (src.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(v * Math.ceil(src.length / v));
  for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
  return out;
}

/** RFC 7292 appendix B.2: n bytes of key material for purpose `id`. */
export function pkcs12Kdf(hashName: string, password: Uint8Array, salt: Uint8Array, id: number, iterations: number, n: number): Uint8Array {
  const hv = HASHES[hashName];
  if (!hv) throw new RangeError('unsupported digest');
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_KDF_ITERATIONS) throw new RangeError('iteration count out of range');
  const [u, v] = hv;
  const d = new Uint8Array(v).fill(id);
  const s = repeatTo(salt, v);
  const p = repeatTo(password, v);
  const i = new Uint8Array(s.length + p.length);
  i.set(s);
  i.set(p, s.length);
  const out = new Uint8Array(n);
  const di = new Uint8Array(v + i.length);
  di.set(d);
  const b = new Uint8Array(v);
  for (let off = 0; ; off += u) {
    di.set(i, v);
    let a: Uint8Array = hash(hashName, di, 'buffer');
    for (let r = 1; r < iterations; r++) a = hash(hashName, a, 'buffer');
    out.set(a.subarray(0, Math.min(u, n - off)), off);
    if (off + u >= n) return out;
    for (let k = 0; k < v; k++) b[k] = a[k % u]!;
    // I_j = (I_j + B + 1) mod 2^(8v), big-endian, for each v-byte block of I.
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const x = i[j + k]! + b[k]! + carry;
        i[j + k] = x & 0xff;
        carry = x >>> 8;
      }
    }
  }
}

export type PbeParams =
  | { kind: 'pkcs12'; scheme: Pkcs12Scheme; salt: Uint8Array; iterations: number }
  | { kind: 'pbes2'; prf: string; salt: Uint8Array; iterations: number; keyLength?: number; cipher: Pbes2Cipher; iv: Uint8Array };

export type Pkcs12Scheme = '3des' | '2des' | 'rc2-128' | 'rc2-40';
export type Pbes2Cipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc';

/** PKCS#12 PBE algorithm OIDs (RFC 7292 appendix C); RC4 schemes are not supported. */
export const PKCS12_PBE_OIDS: Readonly<Record<string, Pkcs12Scheme>> = {
  '1.2.840.113549.1.12.1.3': '3des',
  '1.2.840.113549.1.12.1.4': '2des',
  '1.2.840.113549.1.12.1.5': 'rc2-128',
  '1.2.840.113549.1.12.1.6': 'rc2-40',
};
export const PBES2_CIPHER_OIDS: Readonly<Record<string, Pbes2Cipher>> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc',
  '2.16.840.1.101.3.4.1.22': 'aes-192-cbc',
  '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
  '1.2.840.113549.3.7': 'des-ede3-cbc',
};
const PBES2_KEY_BYTES: Readonly<Record<Pbes2Cipher, number>> = { 'aes-128-cbc': 16, 'aes-192-cbc': 24, 'aes-256-cbc': 32, 'des-ede3-cbc': 24 };
const PBES2_IV_BYTES: Readonly<Record<Pbes2Cipher, number>> = { 'aes-128-cbc': 16, 'aes-192-cbc': 16, 'aes-256-cbc': 16, 'des-ede3-cbc': 8 };

function nodeDecrypt(alg: string, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const d = createDecipheriv(alg, key, iv);
  return new Uint8Array(Buffer.concat([d.update(data), d.final()]));
}

/**
 * Decrypts `data` under `params` with `password`. Throws (RangeError or an
 * OpenSSL error) on a bad parameter or padding; callers map that to a fixed message.
 */
export function pbeDecrypt(params: PbeParams, password: string, data: Uint8Array): Uint8Array {
  if (params.kind === 'pbes2') {
    if (!Number.isInteger(params.iterations) || params.iterations < 1 || params.iterations > MAX_PBKDF2_ITERATIONS) throw new RangeError('iteration count out of range');
    const keyLen = PBES2_KEY_BYTES[params.cipher];
    if (params.keyLength !== undefined && params.keyLength !== keyLen) throw new RangeError('key length does not fit the cipher');
    if (params.iv.length !== PBES2_IV_BYTES[params.cipher]) throw new RangeError('bad IV length');
    // PBES2 takes the password's UTF-8 bytes (as OpenSSL and Keychain write them).
    const key = pbkdf2Sync(Buffer.from(password, 'utf8'), params.salt, params.iterations, keyLen, params.prf);
    return nodeDecrypt(params.cipher, key, params.iv, data);
  }
  const pw = bmpPassword(password);
  const kdf = (id: number, n: number): Uint8Array => pkcs12Kdf('sha1', pw, params.salt, id, params.iterations, n);
  switch (params.scheme) {
    case '3des':
      return nodeDecrypt('des-ede3-cbc', kdf(KDF_KEY, 24), kdf(KDF_IV, 8), data);
    case '2des':
      return nodeDecrypt('des-ede-cbc', kdf(KDF_KEY, 16), kdf(KDF_IV, 8), data);
    case 'rc2-128':
      return rc2CbcDecrypt(kdf(KDF_KEY, 16), 128, kdf(KDF_IV, 8), data);
    case 'rc2-40':
      return rc2CbcDecrypt(kdf(KDF_KEY, 5), 40, kdf(KDF_IV, 8), data);
  }
}
