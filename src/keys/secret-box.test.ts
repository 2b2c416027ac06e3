import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RampartError } from '../lib/errors.ts';
import { SecretBox, createKeyRing, createSecretBox } from './secret-box.ts';

const k1 = new Uint8Array(randomBytes(32));
const k2 = new Uint8Array(randomBytes(32));
const ring1 = createKeyRing([{ id: 'k1', key: k1 }], 'k1');
const text = new TextEncoder().encode('push certificate private key');

function refused(fn: () => unknown, detail?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RampartError && e.message === 'sealed value cannot be opened' && (detail === undefined || e.detail === detail));
}

describe('SecretBox', () => {
  it('round-trips and names its key id in the documented format', () => {
    const box = createSecretBox(ring1);
    const sealed = box.seal(text, 'push-key');
    assert.equal(sealed[0], 1);
    assert.equal(sealed[1], 2);
    assert.equal(Buffer.from(sealed.subarray(2, 4)).toString(), 'k1');
    assert.equal(sealed.length, 1 + 1 + 2 + 12 + text.length + 16);
    assert.equal(SecretBox.keyIdOf(sealed), 'k1');
    assert.deepEqual(box.open(sealed, 'push-key'), text);
    assert.deepEqual(box.open(box.seal(new Uint8Array(0), ''), ''), new Uint8Array(0));
  });

  it('uses a fresh nonce every time', () => {
    const box = createSecretBox(ring1);
    const a = box.seal(text, 'x');
    const b2 = box.seal(text, 'x');
    assert.notDeepEqual(a.subarray(4, 16), b2.subarray(4, 16));
  });

  it('refuses the wrong aad, the wrong key and unknown key ids', () => {
    const box = createSecretBox(ring1);
    const sealed = box.seal(text, 'ca-key');
    refused(() => box.open(sealed, 'push-key'), 'authentication failed');
    const otherSameId = createSecretBox(createKeyRing([{ id: 'k1', key: k2 }], 'k1'));
    refused(() => otherSameId.open(sealed, 'ca-key'), 'authentication failed');
    const otherId = createSecretBox(createKeyRing([{ id: 'k2', key: k2 }], 'k2'));
    refused(() => otherId.open(sealed, 'ca-key'), 'unknown key id');
  });

  it('refuses every single-byte change and every truncation', () => {
    const box = createSecretBox(ring1);
    const sealed = box.seal(text, 'aad');
    for (let i = 0; i < sealed.length; i++) {
      const m = Uint8Array.from(sealed);
      m[i] = (m[i] as number) ^ 0x01;
      refused(() => box.open(m, 'aad'));
      refused(() => box.open(sealed.subarray(0, i), 'aad'));
    }
  });

  it('a key id cannot be relabelled onto another key in the ring', () => {
    const ring = createKeyRing([{ id: 'ka', key: k1 }, { id: 'kb', key: k1 }], 'ka');
    const box = createSecretBox(ring);
    const sealed = box.seal(text, 'aad');
    const relabelled = Uint8Array.from(sealed);
    relabelled[3] = 'b'.charCodeAt(0);
    refused(() => box.open(relabelled, 'aad'), 'authentication failed');
  });

  it('supports rotation: old values open after a new key becomes active', () => {
    const oldBox = createSecretBox(ring1);
    const sealed = oldBox.seal(text, 'aad');
    const rotated = createSecretBox(createKeyRing([{ id: 'k1', key: k1 }, { id: 'k2', key: k2 }], 'k2'));
    assert.deepEqual(rotated.open(sealed, 'aad'), text);
    assert.equal(SecretBox.keyIdOf(rotated.seal(text, 'aad')), 'k2');
  });

  it('key rings refuse bad ids, lengths, duplicates and a missing active key', () => {
    assert.throws(() => createKeyRing([{ id: 'bad id', key: k1 }], 'bad id'), RampartError);
    assert.throws(() => createKeyRing([{ id: 'k', key: k1.subarray(1) }], 'k'), RampartError);
    assert.throws(() => createKeyRing([{ id: 'k', key: k1 }, { id: 'k', key: k2 }], 'k'), RampartError);
    assert.throws(() => createKeyRing([{ id: 'k', key: k1 }], 'other'), RampartError);
  });

  it('random input to open only ever raises the fixed RampartError', () => {
    const box = createSecretBox(ring1);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (x) => {
      try {
        box.open(x, 'aad');
        return false;
      } catch (e) {
        return e instanceof RampartError && e.message === 'sealed value cannot be opened';
      }
    }), { numRuns: 1000 });
  });
});
