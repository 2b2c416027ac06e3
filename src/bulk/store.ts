// Bulk command jobs (fleet-wide and group actions), in the bulk module's own
// tables. A job row is written when the request is accepted; a worker claims
// it under a lease (SKIP LOCKED on PostgreSQL), resolves the selection and
// queues the command under the job's fixed CommandUUID. A worker that dies
// leaves the job to be claimed again when the lease expires; the fixed
// CommandUUID makes the retry find the already-queued command instead of
// queueing it twice.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnTypes, strict, type NoTables, type StorageBackend } from '../storage/open.ts';
import { isoIn, isoOut, isoOutOrNull, numOut } from '../storage/sql/map.ts';

export const BULK_MIGRATION_TABLE = 'rampart_bulk_migration';
export type BulkState = 'queued' | 'running' | 'done' | 'failed';

export function bulkMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_bulk_jobs': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('bulk_jobs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('command_uuid', 'text', (c) => c.notNull().unique())
          .addColumn('request_type', 'text', (c) => c.notNull())
          .addColumn('payload_json', 'text', (c) => c.notNull())
          .addColumn('selection_json', 'text', (c) => c.notNull())
          .addColumn('push', t.bool, (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('queued', 'running', 'done', 'failed')`))
          .addColumn('attempts', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('total', t.int)
          .addColumn('error', 'text')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', t.time)
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())
          .addColumn('finished_at', t.time)).execute();
        await db.schema.createIndex('bulk_jobs_state_idx').on('bulk_jobs').columns(['state', 'created_at']).execute();
      },
    },
  };
}

type BulkRow = {
  id: string;
  command_uuid: string;
  request_type: string;
  payload_json: string;
  selection_json: string;
  push: number | boolean;
  actor_type: string;
  actor_id: string;
  state: string;
  attempts: number;
  total: number | null;
  error: string | null;
  lease_owner: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
};
type BulkTables = { bulk_jobs: BulkRow; command_queue: { command_uuid: string; status: string; deliveries: number } };

export interface BulkJob {
  id: string;
  commandUuid: string;
  requestType: string;
  payloadJson: string;
  selectionJson: string;
  push: boolean;
  actorType: string;
  actorId: string;
  state: BulkState;
  attempts: number;
  total: number | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

function toJob(r: BulkRow): BulkJob {
  return {
    id: r.id,
    commandUuid: r.command_uuid,
    requestType: r.request_type,
    payloadJson: r.payload_json,
    selectionJson: r.selection_json,
    push: r.push === true || Number(r.push) === 1,
    actorType: r.actor_type,
    actorId: r.actor_id,
    state: r.state as BulkState,
    attempts: numOut(r.attempts),
    total: r.total === null ? null : numOut(r.total),
    error: r.error,
    createdAt: isoOut(r.created_at),
    finishedAt: isoOutOrNull(r.finished_at),
  };
}

export function createBulkStore(db: Kysely<NoTables>, backend: StorageBackend) {
  const d = db.withTables<BulkTables>();
  const isPg = backend === 'postgres';
  return {
    async create(j: Omit<BulkJob, 'state' | 'attempts' | 'total' | 'error' | 'createdAt' | 'finishedAt'>, now: string): Promise<BulkJob> {
      const t = isoIn(now);
      const row: BulkRow = {
        id: j.id, command_uuid: j.commandUuid, request_type: j.requestType, payload_json: j.payloadJson, selection_json: j.selectionJson,
        push: isPg ? j.push : j.push ? 1 : 0, actor_type: j.actorType, actor_id: j.actorId, state: 'queued', attempts: 0, total: null, error: null,
        lease_owner: null, lease_until: null, created_at: t, updated_at: t, finished_at: null,
      };
      await d.insertInto('bulk_jobs').values(row).execute();
      return toJob(row);
    },

    async get(id: string): Promise<BulkJob | undefined> {
      const r = await d.selectFrom('bulk_jobs').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toJob(r) : undefined;
    },

    /** Claims the oldest queued job, or a running one whose lease expired. */
    async claim(owner: string, leaseMs: number, now: string): Promise<BulkJob | undefined> {
      const t = isoIn(now);
      const until = new Date(Date.parse(t) + leaseMs).toISOString();
      const lock = isPg ? sql`for update skip locked` : sql``;
      const r = await sql<BulkRow>`update bulk_jobs set state = 'running', lease_owner = ${owner}, lease_until = ${until}, attempts = attempts + 1, updated_at = ${t}
        where id = (select id from bulk_jobs where state = 'queued' or (state = 'running' and lease_until < ${t}) order by created_at limit 1 ${lock})
        returning *`.execute(d);
      const row = r.rows[0];
      return row ? toJob(row) : undefined;
    },

    /** Final state; only by the lease holder. */
    async finish(id: string, owner: string, outcome: { state: 'done' | 'failed'; total: number | null; error: string | null }, now: string): Promise<boolean> {
      const t = isoIn(now);
      const r = await d.updateTable('bulk_jobs')
        .set({ state: outcome.state, total: outcome.total, error: outcome.error, lease_owner: null, lease_until: null, updated_at: t, finished_at: t })
        .where('id', '=', id).where('state', '=', 'running').where('lease_owner', '=', owner)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },

    /** Queue rows of the command never handed to their device. */
    async notYetSeen(commandUuid: string): Promise<number> {
      const r = await d.selectFrom('command_queue').select((eb) => eb.fn.countAll().as('n'))
        .where('command_uuid', '=', commandUuid).where('status', '=', 'pending').where('deliveries', '=', 0).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
  };
}

export type BulkStore = ReturnType<typeof createBulkStore>;
