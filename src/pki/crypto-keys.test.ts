import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { randomSerialHex, signingAlgorithm, spkiDer, toSigningCryptoKey } from './crypto-keys.ts';

describe('crypto-keys', () => {
  it('random serials are 16 bytes, positive, without a leading zero octet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const s = randomSerialHex();
      assert.match(s, /^[0-7][0-9a-f]{31}$/);
      assert.notEqual(s.slice(0, 2), '00');
      seen.add(s);
    }
    assert.equal(seen.size, 500);
  });

  it('maps keys to WebCrypto signing parameters and SPKI', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    assert.deepEqual(signingAlgorithm(ec.privateKey), { name: 'ECDSA', hash: 'SHA-256', namedCurve: 'P-256' });
    assert.equal(toSigningCryptoKey(ec.privateKey).type, 'private');
    const spki = spkiDer(ec.privateKey);
    assert.deepEqual(spkiDer(spki), spki);
    assert.deepEqual(spkiDer(ec.publicKey), spki);
    assert.throws(() => toSigningCryptoKey(ec.publicKey));
    assert.throws(() => signingAlgorithm(generateKeyPairSync('ed25519').privateKey));
  });
});
