import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash } from '@node-rs/argon2';
import { checkPasswordPolicy, createPasswordHasher, parseArgon2Params } from './passwords.ts';
import { createTestStack } from '../admin/testkit.ts';
import { createAccount, post } from './testing.ts';

const PW = 'correct horse battery staple';

describe('passwords', () => {
  it('Argon2id with the configured parameters; dummy verification is always false', async () => {
    const h = await createPasswordHasher({ memoryCost: 2048, timeCost: 1, parallelism: 1 });
    const stored = await h.hash(PW);
    assert.deepEqual(parseArgon2Params(stored), { memoryCost: 2048, timeCost: 1, parallelism: 1 });
    assert.match(stored, /^\$argon2id\$/);
    assert.equal(await h.verify(stored, PW), true);
    assert.equal(await h.verify(stored, 'wrong'), false);
    assert.equal(await h.verify(null, PW), false);
    assert.equal(await h.verify('not a hash', PW), false);
    // NFC: the same password typed with a combining accent verifies.
    const accented = await h.hash('caf\u00e9 au lait, no sugar');
    assert.equal(await h.verify(accented, 'cafe\u0301 au lait, no sugar'), true);
    assert.equal(h.needsRehash(stored), false);
    assert.equal(h.needsRehash(stored.replace('m=2048', 'm=4096')), true);
    await assert.rejects(createPasswordHasher({ memoryCost: 8, timeCost: 1, parallelism: 1 }), /out of range/);
  });

  it('policy: length, variety, username, common passwords, control characters', () => {
    assert.doesNotThrow(() => checkPasswordPolicy(PW, 'alice'));
    for (const [pw, rule] of [
      ['short one', /at least 12/],
      ['x'.repeat(257), /at most 256/],
      ['aaaaaaaaaaaaaaaaaa', /5 different/],
      ['my name is ALICE ok', /username/],
      ['password1234', /common/],
      ['tab\there and long enough', /control/],
    ] as const) {
      assert.throws(() => checkPasswordPolicy(pw, 'alice'), rule, pw);
    }
  });

  it('a hash made with other parameters is replaced at the next successful sign-in', async () => {
    const s = await createTestStack();
    try {
      const id = await createAccount(s, 'alice', PW);
      const old = await hash(PW, { memoryCost: 2048, timeCost: 2, parallelism: 1 });
      const account = (await s.identity.store.getAccount(id))!;
      await s.identity.store.putAccount({ ...account, passwordHash: old }, s.clock.now.toISOString());
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'alice', password: PW })).statusCode, 200);
      const now = (await s.identity.store.getAccount(id))!.passwordHash!;
      assert.notEqual(now, old);
      assert.deepEqual(parseArgon2Params(now), { memoryCost: 1024, timeCost: 1, parallelism: 1 });
      assert.equal(await s.identity.hasher.verify(now, PW), true);
      assert.ok(s.audit.events.some((e) => e.action === 'auth.password.rehash' && e.target?.id === id));
      // A failed sign-in never rewrites the hash.
      await s.identity.store.putAccount({ ...account, passwordHash: old }, s.clock.now.toISOString());
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'alice', password: 'wrong but long enough' })).statusCode, 401);
      assert.equal((await s.identity.store.getAccount(id))!.passwordHash, old);
    } finally {
      await s.close();
    }
  });
});
