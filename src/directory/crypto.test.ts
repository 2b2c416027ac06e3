import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RampartError } from '../lib/errors.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { createBlindIndexer } from './blind-index.ts';
import { decryptField, encryptField, newDataKey } from './envelope.ts';
import { masterKeyWrapper } from './key-provider.ts';

describe('field envelope', () => {
  it('round-trips unicode and binds record id and field name', () => {
    const k = newDataKey();
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (s) => decryptField(k, 'r1', 'givenName', encryptField(k, 'r1', 'givenName', s)) === s));
    const c = encryptField(k, 'r1', 'email', 'jane@example.org');
    assert.equal(c[0], 1);
    assert.ok(!Buffer.from(c).includes(Buffer.from('jane')));
    for (const [rid, f] of [['r2', 'email'], ['r1', 'phones']] as const) {
      assert.throws(() => decryptField(k, rid, f, c), (e: unknown) => e instanceof RampartError && e.message === 'personal data cannot be decrypted');
    }
    assert.throws(() => decryptField(newDataKey(), 'r1', 'email', c), RampartError);
    for (let i = 0; i < c.length; i++) {
      const m = Uint8Array.from(c);
      m[i]! ^= 0x80;
      assert.throws(() => decryptField(k, 'r1', 'email', m), RampartError);
    }
  });
});

describe('master-key wrapper', () => {
  it('wraps with the active key id as version, re-wraps after rotation', () => {
    const k1 = new Uint8Array(randomBytes(32));
    const w1 = masterKeyWrapper(createSecretBox(createKeyRing([{ id: 'a', key: k1 }], 'a')));
    const dek = newDataKey();
    const wrapped = w1.wrap(dek, 'rec');
    assert.equal(w1.versionOf(wrapped), 'a');
    assert.throws(() => w1.unwrap(wrapped, 'other'), (e: unknown) => e instanceof RampartError && e.message === 'data key cannot be unwrapped');
    const w2 = masterKeyWrapper(createSecretBox(createKeyRing([{ id: 'a', key: k1 }, { id: 'b', key: new Uint8Array(randomBytes(32)) }], 'b')));
    const re = w2.wrap(w2.unwrap(wrapped, 'rec'), 'rec');
    assert.equal(w2.versionOf(re), 'b');
    assert.deepEqual(w2.unwrap(re, 'rec'), dek);
  });
});

describe('blind index', () => {
  it('is deterministic per key and kind, different across keys and kinds', () => {
    const key = new Uint8Array(randomBytes(32));
    const a = createBlindIndexer(key);
    assert.deepEqual(a.index('email', 'x@y.org'), createBlindIndexer(Uint8Array.from(key)).index('email', 'x@y.org'));
    assert.notDeepEqual(a.index('email', 'x@y.org'), a.index('userName', 'x@y.org'));
    assert.notDeepEqual(a.index('email', 'x@y.org'), createBlindIndexer(new Uint8Array(randomBytes(32))).index('email', 'x@y.org'));
    assert.equal(a.index('phone', '+3247').length, 32);
  });
});
