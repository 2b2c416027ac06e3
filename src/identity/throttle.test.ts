// Brute force and lock-out through the real server: guessing is slowed per
// (account, source), spraying per source, and an account attacked from many
// addresses stays usable from its owner's known address.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import { advance, codeFor, createAccount, enrollFirst, post, signIn } from './testing.ts';
import { DEFAULT_THROTTLE, lockMs } from './throttle.ts';

const PW = 'correct horse battery staple';
const WRONG = 'not the right passphrase';

describe('login throttling', () => {
  it('lock durations grow exponentially and are capped', () => {
    const r = DEFAULT_THROTTLE.pair;
    assert.deepEqual([4, 5, 6, 7, 8].map((f) => lockMs(r, f)), [0, 30_000, 60_000, 120_000, 240_000]);
    assert.equal(lockMs(r, 100), r.maxLockMs);
  });

  it('brute force on one account from one address: locked after 5 failures, even the right password; the lock expires', async () => {
    const s = await createTestStack();
    try {
      await createAccount(s, 'alice', PW);
      const { secret } = await enrollFirst(s, 'alice', PW, '10.9.9.9');
      const attacker = '203.0.113.7';
      for (let i = 0; i < 5; i++) {
        const r = await post(s, '/api/v1/auth/login', { username: 'alice', password: `${WRONG} ${i}` }, { ip: attacker });
        assert.equal(r.statusCode, 401);
      }
      const locked = await post(s, '/api/v1/auth/login', { username: 'alice', password: PW }, { ip: attacker });
      assert.equal(locked.statusCode, 429);
      assert.deepEqual(locked.json(), { error: 'rate_limited', message: 'too many attempts, try again later' });
      assert.equal(locked.headers['retry-after'], '30', 'Retry-After names the lock');
      // The owner from elsewhere is not affected.
      advance(s, 30_000);
      assert.equal((await signIn(s, 'alice', PW, secret, { ip: '10.9.9.9' })).statusCode, 200);
      // Nor are other accounts from the attacker's address (below the source budget).
      await createAccount(s, 'bob', PW);
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'bob', password: PW }, { ip: attacker })).statusCode, 200);
      // After the lock (30 s) the attacker may try again, once, before a longer lock (60 s).
      advance(s, 31_000);
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'alice', password: WRONG }, { ip: attacker })).statusCode, 401);
      const again = await post(s, '/api/v1/auth/login', { username: 'alice', password: PW }, { ip: attacker });
      assert.equal(again.statusCode, 429);
      assert.equal(again.headers['retry-after'], '60');
      advance(s, 45_000);
      const later = await post(s, '/api/v1/auth/login', { username: 'alice', password: PW }, { ip: attacker });
      assert.equal(later.statusCode, 429);
      assert.equal(later.headers['retry-after'], '15', 'the time left, not the whole lock');
      const lockouts = s.audit.events.filter((e) => e.action === 'auth.lockout');
      assert.ok(lockouts.length >= 2);
      assert.ok(s.audit.events.some((e) => e.action === 'auth.login' && e.outcome === 'denied' && e.details?.reason === 'throttled'));
    } finally {
      await s.close();
    }
  });

  it('Retry-After is the longest lock that applies (a pair lock ending first would only lead to another 429)', async () => {
    const MIN = 60_000;
    const s = await createTestStack({ throttle: {
      ...DEFAULT_THROTTLE,
      pair: { free: 2, baseLockMs: 10_000, maxLockMs: 10_000, windowMs: 60 * MIN },
      source: { free: 2, baseLockMs: 100_000, maxLockMs: 100_000, windowMs: 60 * MIN },
      account: { free: 100, baseLockMs: MIN, maxLockMs: MIN, windowMs: 60 * MIN },
    } });
    try {
      await createAccount(s, 'erin', PW);
      const ip = '192.0.2.44';
      for (let i = 0; i < 2; i++) assert.equal((await post(s, '/api/v1/auth/login', { username: 'erin', password: WRONG }, { ip })).statusCode, 401);
      const r = await post(s, '/api/v1/auth/login', { username: 'erin', password: PW }, { ip });
      assert.equal(r.statusCode, 429);
      assert.equal(r.headers['retry-after'], '100');
      advance(s, 11_000);
      const r2 = await post(s, '/api/v1/auth/login', { username: 'erin', password: PW }, { ip });
      assert.equal(r2.statusCode, 429);
      assert.equal(r2.headers['retry-after'], '89');
    } finally {
      await s.close();
    }
  });

  it('wrong second factors count as failures too', async () => {
    const s = await createTestStack();
    try {
      await createAccount(s, 'carol', PW);
      const { secret } = await enrollFirst(s, 'carol', PW, '10.1.1.1');
      const ip = '198.51.100.3';
      for (let i = 0; i < 5; i++) {
        advance(s, 30_000);
        const login = await post(s, '/api/v1/auth/login', { username: 'carol', password: PW }, { ip });
        assert.equal(login.statusCode, 200, `attempt ${i}: ${login.body}`);
        const { ticket } = login.json() as { ticket: string };
        const good = codeFor(secret, s.clock.now);
        assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, totp: good === '999999' ? '999998' : '999999' }, { ip })).statusCode, 401);
      }
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'carol', password: PW }, { ip })).statusCode, 429);
    } finally {
      await s.close();
    }
  });

  it('password spraying from one address hits the per-source budget, for every account, existing or not', async () => {
    const s = await createTestStack();
    try {
      await createAccount(s, 'dave', PW);
      const ip = '192.0.2.50';
      for (let i = 0; i < 30; i++) {
        const r = await post(s, '/api/v1/auth/login', { username: `user${i}`, password: WRONG }, { ip });
        assert.equal(r.statusCode, 401, `attempt ${i}`);
      }
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'dave', password: PW }, { ip })).statusCode, 429);
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'nobody', password: WRONG }, { ip })).statusCode, 429);
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'dave', password: PW }, { ip: '192.0.2.51' })).statusCode, 200);
    } finally {
      await s.close();
    }
  });

  it('one account attacked from many addresses: new addresses slow down, the owner\'s known address still signs in with password and MFA', async () => {
    const s = await createTestStack();
    try {
      await createAccount(s, 'erin', PW);
      const home = '10.20.30.40';
      const { secret } = await enrollFirst(s, 'erin', PW, home);
      // 10 failures, each from its own address (no pair or source lock is ever reached).
      for (let i = 0; i < 10; i++) {
        const r = await post(s, '/api/v1/auth/login', { username: 'erin', password: WRONG }, { ip: `203.0.113.${i + 1}` });
        assert.equal(r.statusCode, 401);
      }
      // A fresh attacker address is now refused even with the right password ...
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'erin', password: PW }, { ip: '203.0.113.200' })).statusCode, 429);
      // ... while the owner, from the address of an earlier complete sign-in, gets in.
      advance(s, 30_000);
      const r = await signIn(s, 'erin', PW, secret, { ip: home });
      assert.equal(r.statusCode, 200, r.body);
      // Other accounts are untouched.
      await createAccount(s, 'frank', PW);
      assert.equal((await post(s, '/api/v1/auth/login', { username: 'frank', password: PW }, { ip: '203.0.113.201' })).statusCode, 200);
      assert.ok(s.audit.events.some((e) => e.action === 'auth.lockout' && e.details?.scope === 'account'));
    } finally {
      await s.close();
    }
  });
});
