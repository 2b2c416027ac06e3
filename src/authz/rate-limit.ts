// Per-principal limits on destructive actions (erase: N devices per hour ...),
// counted in the database so they hold across restarts and nodes, and applied
// even when the action was approved. A refusal is put on record.
import type { AuditRecorder } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';
import { rateLimited } from '../lib/errors.ts';
import type { RateLimit } from './config.ts';
import type { AuthzStore } from './store.ts';
import { actorEvent } from './audit.ts';
import { principalOf } from './grants.ts';

export interface RateLimiter {
  /** Counts `units` of `action` for the actor's principal; throws rate_limited (recorded) when over the limit. */
  consume(actor: Actor, action: string, units: number): Promise<void>;
}

export function createRateLimiter(deps: {
  store: Pick<AuthzStore, 'consumeRate' | 'rateFreesAt'>;
  audit: AuditRecorder;
  limits: Readonly<Record<string, RateLimit>>;
  now: () => Date;
}): RateLimiter {
  return {
    async consume(actor, action, units) {
      const limit = Object.hasOwn(deps.limits, action) ? deps.limits[action] : undefined;
      if (!limit) return;
      const now = deps.now();
      const windowStart = new Date(now.getTime() - limit.windowMinutes * 60_000).toISOString();
      const principal = principalOf(actor);
      if (await deps.store.consumeRate(principal, action, units, limit.limit, windowStart, now.toISOString())) return;
      // Retry-After: when enough counted units have left the window (the whole window when waiting cannot help).
      const windowMs = limit.windowMinutes * 60_000;
      const freesAt = await deps.store.rateFreesAt(principal, action, units, limit.limit, windowStart);
      const retryAfterMs = freesAt === null ? windowMs : Date.parse(freesAt) + windowMs - now.getTime();
      await deps.audit.record(actorEvent(actor, {
        action: 'ratelimit.exceeded',
        outcome: 'denied',
        target: { type: 'admin', id: principal },
        details: { limited: action, units, limit: limit.limit, windowMinutes: limit.windowMinutes, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
      }));
      throw rateLimited('rate limit exceeded', retryAfterMs, `${action} for ${principal}`);
    },
  };
}
