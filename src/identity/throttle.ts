// Sign-in throttling that slows attackers without letting them lock out
// everybody. Three counters of failed attempts (wrong password or wrong
// second factor), each with its own window and exponential lock:
//
//   pair:   (account, source)  5 free failures, then 30 s doubling up to 15 min.
//           Slows guessing one account from one address; other addresses and
//           other accounts are unaffected.
//   source: one address, all accounts  30 free failures per hour, then 1 min
//           doubling up to 1 h. Stops password spraying from one address.
//   account: one account, all sources  10 free failures per day, then 30 s
//           doubling up to 1 h, applied ONLY to sources that are not known-good
//           for that account (an address from which the account completed a
//           full sign-in with MFA in the last 30 days). An attacker spraying
//           one account from many addresses therefore slows that account's
//           sign-ins from new addresses, while its owner keeps signing in from
//           the usual address.
//
// Counters are keyed by SHA-256 of the (lower-cased) username and of the
// address, the same whether or not the account exists, so the lock state does
// not reveal which usernames exist.
import { createHash } from 'node:crypto';
import type { IdentityStore, ThrottleState } from './types.ts';

export interface ThrottleRule {
  free: number;
  baseLockMs: number;
  maxLockMs: number;
  windowMs: number;
}

export interface ThrottlePolicy {
  pair: ThrottleRule;
  source: ThrottleRule;
  account: ThrottleRule;
  knownSourceMs: number;
}

const MIN = 60_000;
export const DEFAULT_THROTTLE: ThrottlePolicy = {
  pair: { free: 5, baseLockMs: 30_000, maxLockMs: 15 * MIN, windowMs: 24 * 60 * MIN },
  source: { free: 30, baseLockMs: MIN, maxLockMs: 60 * MIN, windowMs: 60 * MIN },
  account: { free: 10, baseLockMs: 30_000, maxLockMs: 60 * MIN, windowMs: 24 * 60 * MIN },
  knownSourceMs: 30 * 24 * 60 * MIN,
};

export type ThrottleScope = 'pair' | 'source' | 'account';

export type ThrottleDecision = { allowed: true } | { allowed: false; scope: ThrottleScope; retryAfterMs: number };

const h = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 32);
export const sourceHash = (source: string): string => h(`source\0${source}`);
const userHash = (username: string): string => h(`user\0${username.toLowerCase()}`);

function keys(username: string, source: string): Record<ThrottleScope, string> {
  return { pair: `pair:${userHash(username)}:${sourceHash(source)}`, source: `source:${sourceHash(source)}`, account: `account:${userHash(username)}` };
}

export function lockMs(rule: ThrottleRule, failures: number): number {
  if (failures < rule.free) return 0;
  const exp = Math.min(failures - rule.free, 30);
  return Math.min(rule.baseLockMs * 2 ** exp, rule.maxLockMs);
}

export interface Throttle {
  /** Whether a sign-in attempt for this username from this source may proceed now. */
  check(username: string, source: string, adminId: string | undefined, now: Date): Promise<ThrottleDecision>;
  /** Counts a failure; returns the scopes that became locked by it (for the audit log). */
  fail(username: string, source: string, now: Date): Promise<ThrottleScope[]>;
  /** A complete sign-in (password and MFA): clears the pair counter and marks the source known-good. */
  succeed(username: string, adminId: string, source: string, now: Date): Promise<void>;
}

export function createThrottle(store: Pick<IdentityStore, 'getThrottle' | 'putThrottle' | 'clearThrottle' | 'isKnownSource' | 'rememberSource'>, policy: ThrottlePolicy = DEFAULT_THROTTLE): Throttle {
  const scopes: ThrottleScope[] = ['pair', 'source', 'account'];
  async function states(username: string, source: string): Promise<Map<ThrottleScope, ThrottleState>> {
    const k = keys(username, source);
    const rows = await store.getThrottle(scopes.map((s) => k[s]));
    const out = new Map<ThrottleScope, ThrottleState>();
    for (const s of scopes) {
      const r = rows.find((x) => x.key === k[s]);
      if (r) out.set(s, r);
    }
    return out;
  }
  return {
    async check(username, source, adminId, now) {
      const st = await states(username, source);
      let known: boolean | undefined;
      // The longest lock that applies: a retry before it ends is refused again (Retry-After names it).
      let worst: { scope: ThrottleScope; remaining: number } | undefined;
      for (const s of scopes) {
        const r = st.get(s);
        if (!r || r.lockedUntil === null) continue;
        const remaining = Date.parse(r.lockedUntil) - now.getTime();
        if (remaining <= 0) continue;
        if (s === 'account') {
          known ??= adminId !== undefined
            && (await store.isKnownSource(adminId, sourceHash(source), new Date(now.getTime() - policy.knownSourceMs).toISOString()));
          if (known) continue;
        }
        if (!worst || remaining > worst.remaining) worst = { scope: s, remaining };
      }
      return worst ? { allowed: false, scope: worst.scope, retryAfterMs: worst.remaining } : { allowed: true };
    },
    async fail(username, source, now) {
      const k = keys(username, source);
      const st = await states(username, source);
      const locked: ThrottleScope[] = [];
      for (const s of scopes) {
        const rule = policy[s];
        const prev = st.get(s);
        const fresh = !prev || now.getTime() - Date.parse(prev.windowStart) > rule.windowMs;
        const failures = fresh ? 1 : prev.failures + 1;
        const ms = lockMs(rule, failures);
        const next: ThrottleState = {
          key: k[s],
          failures,
          windowStart: fresh ? now.toISOString() : prev.windowStart,
          lockedUntil: ms > 0 ? new Date(now.getTime() + ms).toISOString() : null,
        };
        if (ms > 0) locked.push(s);
        await store.putThrottle(next);
      }
      return locked;
    },
    async succeed(username, adminId, source, now) {
      await store.clearThrottle(keys(username, source).pair);
      await store.rememberSource(adminId, sourceHash(source), now.toISOString());
    },
  };
}
