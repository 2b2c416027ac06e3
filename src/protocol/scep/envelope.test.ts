import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { decryptEnvelope, encryptEnvelope } from './envelope.ts';
import { ScepFailure } from './oids.ts';
import { makePki } from './scep-fixtures.test.ts';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

test('this Node decrypts RSA PKCS#1 v1.5 with implicit rejection (no padding oracle)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const good = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.alloc(32, 7));
  assert.deepEqual(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, good), Buffer.alloc(32, 7));
  // Invalid padding does not throw: it yields a pseudo-random message that is
  // deterministic for the same ciphertext (RFC draft "implicit rejection").
  for (let i = 0; i < 20; i++) {
    const bogus = Buffer.from(randomBytes(256));
    bogus[0] = 0; // below the modulus
    const a = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, bogus);
    const b = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, bogus);
    assert.deepEqual(a, b);
  }
});

test('envelope round trip for every accepted cipher; wrong recipient and tampering fail alike', async () => {
  const { ra } = await makePki();
  const other = await makePki();
  for (const cipher of ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc'] as const) {
    const env = encryptEnvelope(new Uint8Array([1, 2, 3]), ra.certDer, cipher, rnd);
    assert.deepEqual(decryptEnvelope(env, [other.ra, ra]).content, new Uint8Array([1, 2, 3]));
    assert.throws(() => decryptEnvelope(env, [other.ra]), (e: unknown) => e instanceof ScepFailure && e.failInfo === 'badMessageCheck');
  }
  // Flip bytes of the encrypted key: the same failure, never an exception from OpenSSL.
  const env = encryptEnvelope(new Uint8Array(100), ra.certDer, 'aes-256-cbc', rnd);
  const idx = Buffer.from(env).indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00])); // OCTET STRING of 256 bytes: the encrypted key
  assert.ok(idx > 0);
  for (let i = 0; i < 10; i++) {
    const t = Uint8Array.from(env);
    t[idx + 4 + 10 + i] = (t[idx + 4 + 10 + i] as number) ^ 0x55;
    assert.throws(() => decryptEnvelope(t, [ra]), (e: unknown) => e instanceof ScepFailure && e.failInfo === 'badMessageCheck');
  }
});
