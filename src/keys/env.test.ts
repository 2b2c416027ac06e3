import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { keyRingFromEnv } from './env.ts';
import { createSecretBox } from './secret-box.ts';

describe('keyRingFromEnv', () => {
  it('accepts base64 of 32 bytes with a stable derived id', () => {
    const v = randomBytes(32).toString('base64');
    const a = keyRingFromEnv(v);
    const b = keyRingFromEnv(` ${v}\n`);
    assert.match(a.activeKeyId, /^env-[0-9a-f]{8}$/);
    assert.equal(a.activeKeyId, b.activeKeyId);
    assert.deepEqual(createSecretBox(b).open(createSecretBox(a).seal(new Uint8Array([7]), 'x'), 'x'), new Uint8Array([7]));
  });

  it('accepts a rotation list, first entry active', () => {
    const r = keyRingFromEnv(`new:${randomBytes(32).toString('base64')},old:${randomBytes(32).toString('base64')}`);
    assert.equal(r.activeKeyId, 'new');
    assert.deepEqual(r.ids().sort(), ['new', 'old']);
  });

  it('refuses anything else with a message naming the variable but not the value', () => {
    const secretish = randomBytes(16).toString('base64');
    for (const bad of [undefined, '', secretish, `${randomBytes(32).toString('base64')}AA`, 'not base64 at all!', `bad id:${randomBytes(32).toString('base64')}`]) {
      assert.throws(() => keyRingFromEnv(bad), (e: unknown) => {
        assert.ok(e instanceof RampartError);
        assert.match(e.message, /RAMPART_MASTER_KEY/);
        if (bad) assert.ok(!e.message.includes(bad));
        return true;
      });
    }
  });
});
