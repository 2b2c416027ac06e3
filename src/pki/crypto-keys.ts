// Bridges node:crypto KeyObjects to the WebCrypto keys @peculiar/x509 wants.

import { createPublicKey, generateKeyPair, randomBytes, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export type KeyAlgorithm = 'rsa-2048' | 'rsa-3072' | 'ecdsa-p256';

export const webCrypto = webcrypto as unknown as Crypto;

const generate = promisify(generateKeyPair);

export async function generateKey(alg: KeyAlgorithm): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (alg) {
    case 'rsa-2048':
    case 'rsa-3072':
      return generate('rsa', { modulusLength: alg === 'rsa-2048' ? 2048 : 3072, publicExponent: 0x10001 });
    case 'ecdsa-p256':
      return generate('ec', { namedCurve: 'prime256v1' });
    default:
      throw new Error('unsupported key algorithm');
  }
}

/** WebCrypto signing parameters (SHA-256) for a private key. */
export type SigningAlgorithm = { name: 'RSASSA-PKCS1-v1_5' | 'ECDSA'; hash: 'SHA-256'; namedCurve: string };

export function signingAlgorithm(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', namedCurve: '' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : '';
    if (!namedCurve) throw new Error('unsupported curve');
    return { name: 'ECDSA', hash: 'SHA-256', namedCurve };
  }
  throw new Error('unsupported signing key');
}

export function toSigningCryptoKey(key: KeyObject): CryptoKey {
  if (key.type !== 'private') throw new Error('not a private key');
  const alg = signingAlgorithm(key);
  const params = alg.name === 'ECDSA' ? { name: 'ECDSA', namedCurve: alg.namedCurve } : { name: alg.name, hash: alg.hash };
  return key.toCryptoKey(params, false, ['sign']) as CryptoKey;
}

export function spkiDer(key: KeyObject | Uint8Array): Uint8Array {
  const ko = key instanceof Uint8Array
    ? createPublicKey({ key: Buffer.from(key.buffer, key.byteOffset, key.byteLength), format: 'der', type: 'spki' })
    : key.type === 'public' ? key : createPublicKey(key);
  return new Uint8Array(ko.export({ format: 'der', type: 'spki' }));
}

/** 16 random bytes as a positive INTEGER without a leading zero octet (hex). */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) || 0x01;
  return b.toString('hex');
}
