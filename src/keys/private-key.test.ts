import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { openPrivateKey, sealPrivateKey } from './private-key.ts';
import { createKeyRing, createSecretBox } from './secret-box.ts';

const box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));

describe('sealed private keys', () => {
  it('round-trip EC and RSA keys under the "ca-key" purpose', () => {
    for (const { privateKey } of [generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), generateKeyPairSync('rsa', { modulusLength: 1024 })]) {
      const sealed = sealPrivateKey(box, privateKey);
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      assert.ok(!Buffer.from(sealed).includes(pkcs8.subarray(-32)), 'no plaintext key material');
      const back = openPrivateKey(box, sealed);
      assert.deepEqual(back.export({ format: 'der', type: 'pkcs8' }), pkcs8);
      assert.throws(() => openPrivateKey(box, sealed, 'push-key'), RampartError);
    }
  });

  it('refuses public keys and sealed values that are not keys', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    assert.throws(() => sealPrivateKey(box, publicKey), RampartError);
    assert.throws(() => openPrivateKey(box, box.seal(new Uint8Array([1, 2, 3]), 'ca-key')), RampartError);
  });
});
