import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { openPkcs11KeyWrapper } from './key-provider-pkcs11.ts';
import type { Pkcs11KeyWrapper } from './key-provider-pkcs11.ts';
import { createTempToken, SOFTHSM_LIBRARY } from '../../test/support/softhsm.ts';
import type { TempToken } from '../../test/support/softhsm.ts';

describe('PKCS#11 key provider (SoftHSM2)', () => {
  let token: TempToken;
  let w: Pkcs11KeyWrapper;
  before(() => {
    token = createTempToken();
    w = openPkcs11KeyWrapper({ library: SOFTHSM_LIBRARY, tokenLabel: token.tokenLabel, pin: token.pin, activeKeyLabel: 'kek-1' });
    w.generateKey('kek-1');
  });
  after(() => {
    w.close();
    token.cleanup();
  });

  it('wraps inside the token, names the key version, binds the aad', () => {
    const dek = new Uint8Array(randomBytes(32));
    const wrapped = w.wrap(dek, 'staff-1');
    assert.equal(w.versionOf(wrapped), 'kek-1');
    assert.ok(!Buffer.from(wrapped).includes(Buffer.from(dek)));
    assert.deepEqual(w.unwrap(wrapped, 'staff-1'), dek);
    assert.throws(() => w.unwrap(wrapped, 'staff-2'), (e: unknown) => e instanceof RampartError && e.message === 'data key cannot be unwrapped');
    const flipped = Uint8Array.from(wrapped);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => w.unwrap(flipped, 'staff-1'), RampartError);
    assert.throws(() => w.unwrap(wrapped.subarray(0, 10), 'staff-1'), RampartError);
  });

  it('refuses a duplicate label, a wrong PIN and an unknown token', () => {
    assert.throws(() => w.generateKey('kek-1'), RampartError);
    assert.throws(() => w.generateKey('bad label'), RampartError);
  });

  it('rotation: a second key becomes active, old wrapped keys still open; a reopened session finds the keys', () => {
    const dek = new Uint8Array(randomBytes(32));
    const old = w.wrap(dek, 'r');
    w.generateKey('kek-2');
    w.close();
    const w2 = openPkcs11KeyWrapper({ library: SOFTHSM_LIBRARY, tokenLabel: token.tokenLabel, pin: token.pin, activeKeyLabel: 'kek-2' });
    try {
      assert.deepEqual(w2.unwrap(old, 'r'), dek);
      const rewrapped = w2.wrap(w2.unwrap(old, 'r'), 'r');
      assert.equal(w2.versionOf(rewrapped), 'kek-2');
      assert.deepEqual(w2.unwrap(rewrapped, 'r'), dek);
    } finally {
      w2.close();
    }
    assert.throws(
      () => openPkcs11KeyWrapper({ library: SOFTHSM_LIBRARY, tokenLabel: token.tokenLabel, pin: '000000', activeKeyLabel: 'kek-1' }),
      (e: unknown) => e instanceof RampartError && !e.message.includes('000000'),
    );
    assert.throws(() => openPkcs11KeyWrapper({ library: SOFTHSM_LIBRARY, tokenLabel: 'nope', pin: token.pin, activeKeyLabel: 'kek-1' }), RampartError);
    w = openPkcs11KeyWrapper({ library: SOFTHSM_LIBRARY, tokenLabel: token.tokenLabel, pin: token.pin, activeKeyLabel: 'kek-1' });
  });
});
