// User enumeration by timing: a sign-in for an unknown username costs one
// Argon2id verification (against a dummy hash), like a wrong password for a
// real account. Checked statistically and loosely (medians within a factor of
// two of each other); without the dummy hash the unknown-user path would be
// a single indexed lookup, far below half the cost of a hash.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createTestStack } from '../admin/testkit.ts';
import { createAccount, post } from './testing.ts';
import { parseIdentityConfig } from './config.ts';
import type { ThrottleRule } from './throttle.ts';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

it('sign-in timing does not tell unknown usernames from wrong passwords', async () => {
  const open: ThrottleRule = { free: 10_000, baseLockMs: 1, maxLockMs: 1, windowMs: 1 };
  const s = await createTestStack({
    identity: { argon2: parseIdentityConfig({ argon2: { memoryCost: 8192, timeCost: 3, parallelism: 1 } }, { adminOrigin: 'https://a.test' }).argon2 },
    throttle: { pair: open, source: open, account: open, knownSourceMs: 1 },
  });
  try {
    await createAccount(s, 'alice', 'correct horse battery staple');
    const attempt = async (username: string): Promise<number> => {
      const t0 = performance.now();
      const r = await post(s, '/api/v1/auth/login', { username, password: 'wrong passphrase here' });
      const ms = performance.now() - t0;
      assert.equal(r.statusCode, 401);
      assert.deepEqual(r.json(), { error: 'unauthorized', message: 'invalid credentials' });
      return ms;
    };
    for (let i = 0; i < 3; i++) { await attempt('alice'); await attempt('nobody'); } // warm-up
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 21; i++) {
      // Interleaved, so load on the machine affects both alike.
      known.push(await attempt('alice'));
      unknown.push(await attempt(`nobody${i}`));
    }
    const hashTimes: number[] = [];
    for (let i = 0; i < 11; i++) {
      const t0 = performance.now();
      await s.identity.hasher.verify(null, 'x');
      hashTimes.push(performance.now() - t0);
    }
    const [k, u, h] = [median(known), median(unknown), median(hashTimes)];
    assert.ok(u / k > 0.5 && u / k < 2, `medians: known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`);
    assert.ok(u > 0.5 * h, `unknown-user sign-in (${u.toFixed(1)} ms) must include a hash (${h.toFixed(1)} ms)`);
  } finally {
    await s.close();
  }
});
