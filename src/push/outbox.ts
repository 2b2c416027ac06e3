// The push outbox: which devices must be woken for which queued command.
// Rows are inserted in the same transaction as the queue rows (so a crash
// never leaves a queued command without its push), and dispatchers claim them
// atomically under a lease:
//
// - claim(): one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING. On
//   PostgreSQL the inner SELECT is FOR UPDATE SKIP LOCKED, so dispatchers on
//   several nodes take disjoint rows without waiting on each other; on SQLite
//   BEGIN IMMEDIATE makes the statement the only writer.
// - A claimed row that is never completed (kill -9 between claim and send) is
//   handed out again once its lease has expired (reclaimExpired()).
// - complete() only changes rows still claimed by the same owner.
import { sql, type Kysely, type Transaction } from 'kysely';
import { isoIn, numOut } from '../storage/sql/map.ts';
import type { StorageBackend } from '../storage/open.ts';
import type { NoTables } from '../storage/open.ts';

export type OutboxState = 'pending' | 'claimed' | 'sent' | 'no_token' | 'invalid_token' | 'failed';
export type FinalState = Exclude<OutboxState, 'pending' | 'claimed'>;

type OutboxTable = {
  id: number | string;
  device_id: string;
  command_uuid: string;
  state: string;
  round: number;
  attempts: number;
  lease_owner: string | null;
  lease_until: string | null;
  reason: string | null;
  created_at: string;
  pushed_at: string | null;
  last_push_at: string | null;
  updated_at: string;
};
type DeviceCols = {
  id: string;
  push_token: string | null;
  push_magic: string | null;
  topic: string | null;
};
type QueueCols = {
  device_id: string;
  command_uuid: string;
  status: string;
};
export type PushTables = {
  push_outbox: OutboxTable;
  devices: DeviceCols;
  command_queue: QueueCols;
};

export interface ClaimedPush {
  id: number;
  deviceId: string;
  commandUuid: string;
  round: number;
  pushToken: string | null;
  pushMagic: string | null;
}

export interface Completion {
  id: number;
  state: FinalState;
  reason?: string;
}

export type PushCounts = Record<OutboxState, number> & { pushedOnce: number };

export function createOutboxStore(db: Kysely<NoTables>, backend: StorageBackend) {
  const d = db.withTables<PushTables>();
  const isPg = backend === 'postgres';

  return {
    /** Inserts a pending row per queue row of the command (call inside the enqueue transaction). */
    async insertForCommand(trx: unknown, commandUuid: string, now: string): Promise<void> {
      const t = isoIn(now);
      const tx = trx as Transaction<PushTables>;
      await sql`insert into push_outbox (device_id, command_uuid, state, created_at, updated_at)
        select q.device_id, q.command_uuid, 'pending', ${t}, ${t} from command_queue q where q.command_uuid = ${commandUuid}
        on conflict do nothing`.execute(tx);
    },

    /** Rows of expired leases go back to pending; returns how many. */
    async reclaimExpired(now: string): Promise<number> {
      const r = await d.updateTable('push_outbox')
        .set({ state: 'pending', lease_owner: null, lease_until: null, updated_at: isoIn(now) })
        .where('state', '=', 'claimed')
        .where('lease_until', '<', isoIn(now))
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    /** Claims up to `limit` pending rows for `owner` until now + leaseMs, with each device's token and magic. */
    async claim(owner: string, limit: number, leaseMs: number, now: string): Promise<ClaimedPush[]> {
      const t = isoIn(now);
      const until = new Date(Date.parse(t) + leaseMs).toISOString();
      const lock = isPg ? sql`for update skip locked` : sql``;
      const r = await sql<{ id: number | string; device_id: string; command_uuid: string; round: number }>`
        update push_outbox set state = 'claimed', lease_owner = ${owner}, lease_until = ${until},
          attempts = attempts + 1, updated_at = ${t}
        where id in (select id from push_outbox where state = 'pending' order by id limit ${limit} ${lock})
        returning id, device_id, command_uuid, round`.execute(d);
      if (r.rows.length === 0) return [];
      const ids = [...new Set(r.rows.map((x) => x.device_id))];
      const tokens = new Map<string, DeviceCols>();
      for (let i = 0; i < ids.length; i += 5000) {
        const rows = await d.selectFrom('devices').select(['id', 'push_token', 'push_magic', 'topic']).where('id', 'in', ids.slice(i, i + 5000)).execute();
        for (const row of rows) tokens.set(row.id, row);
      }
      return r.rows.map((x) => {
        const dev = tokens.get(x.device_id);
        return {
          id: numOut(x.id),
          deviceId: x.device_id,
          commandUuid: x.command_uuid,
          round: numOut(x.round),
          pushToken: dev?.push_token ?? null,
          pushMagic: dev?.push_magic ?? null,
        };
      });
    },

    /** Final states for claimed rows; rows no longer claimed by `owner` (lease lost) are left alone. Returns rows changed. */
    async complete(owner: string, done: Completion[], now: string): Promise<number> {
      const t = isoIn(now);
      const groups = new Map<string, number[]>();
      for (const c of done) {
        const k = `${c.state}\u0000${c.reason ?? ''}`;
        let g = groups.get(k);
        if (!g) groups.set(k, (g = []));
        g.push(c.id);
      }
      let changed = 0;
      await d.transaction().execute(async (trx) => {
        for (const [k, ids] of groups) {
          const [state, reason] = k.split('\u0000') as [FinalState, string];
          for (let i = 0; i < ids.length; i += 5000) {
            const sent = state === 'sent';
            const r = await trx.updateTable('push_outbox')
              .set((eb) => ({
                state,
                reason: reason === '' ? null : reason.slice(0, 64),
                lease_owner: null,
                lease_until: null,
                updated_at: t,
                ...(sent ? { last_push_at: t, pushed_at: eb.fn.coalesce('pushed_at', sql<string>`${t}`) } : {}),
              }))
              .where('id', 'in', ids.slice(i, i + 5000))
              .where('state', '=', 'claimed')
              .where('lease_owner', '=', owner)
              .executeTakeFirst();
            changed += Number(r.numUpdatedRows);
          }
        }
      });
      return changed;
    },

    /** Forgets a token APNs called invalid, unless the device has sent a new one meanwhile. */
    async invalidateToken(deviceId: string, token: string, now: string): Promise<boolean> {
      const r = await sql`update devices set push_token = null, updated_at = ${isoIn(now)} where id = ${deviceId} and push_token = ${token}`.execute(d);
      return Number(r.numAffectedRows ?? 0n) > 0;
    },

    /**
     * Re-push: rows pushed before `cutoff` whose command the device still has
     * not answered go back to pending (round + 1), at most `maxRounds` times,
     * at most `limit` rows per call. Returns how many.
     */
    async rearmUnanswered(cutoff: string, maxRounds: number, limit: number, now: string): Promise<number> {
      const t = isoIn(now);
      const lock = isPg ? sql`for update skip locked` : sql``;
      const r = await sql`update push_outbox set state = 'pending', round = round + 1, updated_at = ${t}
        where id in (select o.id from push_outbox o
          where o.state = 'sent' and o.last_push_at < ${isoIn(cutoff)} and o.round < ${maxRounds}
            and exists (select 1 from command_queue q where q.device_id = o.device_id and q.command_uuid = o.command_uuid and q.status = 'pending')
          order by o.id limit ${limit} ${lock})`.execute(d);
      return Number(r.numAffectedRows ?? 0n);
    },

    /** Counts by state for one command (pushedOnce: rows handed to APNs at least once). */
    async counts(commandUuid: string): Promise<PushCounts> {
      const rows = await d.selectFrom('push_outbox')
        .select((eb) => ['state', eb.fn.countAll().as('n'), eb.fn.count('pushed_at').as('p')])
        .where('command_uuid', '=', commandUuid)
        .groupBy('state')
        .execute();
      const out: PushCounts = { pending: 0, claimed: 0, sent: 0, no_token: 0, invalid_token: 0, failed: 0, pushedOnce: 0 };
      for (const row of rows) {
        out[row.state as OutboxState] = Number(row.n);
        out.pushedOnce += Number(row.p);
      }
      return out;
    },

    /** Rows not yet final (pending or claimed), all commands. */
    async backlog(): Promise<number> {
      const r = await d.selectFrom('push_outbox').select((eb) => eb.fn.countAll().as('n')).where('state', 'in', ['pending', 'claimed']).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
  };
}

export type OutboxStore = ReturnType<typeof createOutboxStore>;
