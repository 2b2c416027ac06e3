// Object identifiers and the algorithm choices Rampart accepts.

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
} as const;

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type KeyKind = 'rsa' | 'ec';

export const DIGEST_OIDS: Readonly<Record<string, HashName>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export const DIGEST_OID_BY_NAME: Readonly<Record<HashName, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

/** Signature algorithms: key kind plus the hash they bind (undefined = taken from the digest algorithm). */
export const SIGNATURE_OIDS: Readonly<Record<string, { key: KeyKind; hash: HashName | undefined }>> = {
  '1.2.840.113549.1.1.1': { key: 'rsa', hash: undefined },
  '1.2.840.113549.1.1.5': { key: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.11': { key: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { key: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { key: 'rsa', hash: 'sha512' },
  '1.2.840.10045.2.1': { key: 'ec', hash: undefined },
  '1.2.840.10045.4.1': { key: 'ec', hash: 'sha1' },
  '1.2.840.10045.4.3.2': { key: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { key: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { key: 'ec', hash: 'sha512' },
};

export const ECDSA_OID_BY_HASH: Readonly<Record<HashName, string>> = {
  sha1: '1.2.840.10045.4.1',
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};

/** Curves accepted for ECDSA keys (node's names). */
export const ACCEPTED_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
export const MIN_RSA_BITS = 2048;

/** Hashes accepted in certificate signatures (never SHA-1). */
export const CERT_SIGNATURE_HASHES: ReadonlySet<HashName> = new Set(['sha256', 'sha384', 'sha512']);
