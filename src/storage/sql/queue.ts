// The command queue. Ordering and exactly-once recording of results are
// enforced in SQL, not in memory, so they hold across server nodes (PostgreSQL)
// and across crashes:
//
// - next() runs in one transaction that first serialises on the device
//   (Backend.lockDevice), then picks the lowest seq that is deliverable and
//   counts the delivery. Two concurrent connects of one device therefore queue
//   behind each other; the second sees the first one's delivery count and, as
//   the first command is still unanswered, gets that same command again (a
//   re-send, as after a crash). It never skips ahead to a later command while
//   an earlier one is pending, so delivery order holds. Different devices
//   never wait on each other.
// - recordResult() is one conditional UPDATE (status still open, delivered at
//   least once): of two concurrent identical reports exactly one changes the
//   row, the other sees a final row and gets 'duplicate'.
// - enqueue() inserts the command and every queue row in one transaction.

import { sql } from 'kysely';
import type { Selectable } from 'kysely';
import { RampartError, badRequest, conflict, notFound } from '../../lib/errors.ts';
import { dbErrorKind } from '../errors.ts';
import type { CommandQueueTable, CommandsTable } from '../schema.ts';
import type {
  CommandQueueStore,
  CommandRecord,
  DeliverableCommand,
  EnqueueOptions,
  NewCommand,
  Page,
  QueueEntry,
  QueueStatus,
  RecordOutcome,
  ResultStatus,
} from '../types.ts';
import type { Backend, Db, FastPath, FastRow, Trx } from './backend.ts';
import { idIn } from './devices.ts';
import { bytesIn, bytesOut, bytesOutOrNull, isoIn, isoOut, isoOutOrNull, limitIn, numOut, textIn } from './map.ts';

const QUEUE_STATUSES: readonly QueueStatus[] = ['pending', 'acknowledged', 'error', 'not_now', 'cancelled'];
const RESULT_STATUS: Record<ResultStatus, QueueStatus> = {
  Acknowledged: 'acknowledged',
  Error: 'error',
  CommandFormatError: 'error',
  NotNow: 'not_now',
};
/** Largest command payload accepted (a profile can be big, but not unbounded). */
export const MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
/** Largest stored result plist. */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;
/** Most devices one enqueue may target. */
export const MAX_ENQUEUE_DEVICES = 1_000_000;

type QueueRow = Selectable<CommandQueueTable> & { request_type: string };

function toEntry(r: QueueRow): QueueEntry {
  return {
    deviceId: r.device_id,
    commandUuid: r.command_uuid,
    requestType: r.request_type,
    status: r.status as QueueStatus,
    seq: numOut(r.seq),
    queuedAt: isoOut(r.queued_at),
    deliveries: numOut(r.deliveries),
    lastDeliveredAt: isoOutOrNull(r.last_delivered_at),
    resultAt: isoOutOrNull(r.result_at),
    resultRaw: bytesOutOrNull(r.result_raw),
    resultJson: r.result_json,
    errorJson: r.error_json,
    notNowCount: numOut(r.not_now_count),
  };
}

function toCommand(r: Selectable<CommandsTable>): CommandRecord {
  return {
    uuid: r.uuid,
    requestType: r.request_type,
    payload: bytesOut(r.payload),
    createdBy: r.created_by,
    createdAt: isoOut(r.created_at),
  };
}

/** A delivered entry row (queue columns, request type, payload and command columns) as the store returns it. */
function deliverable(row: FastRow | undefined): DeliverableCommand | undefined {
  if (!row) return undefined;
  const r = row as QueueRow & Selectable<CommandsTable>;
  return {
    entry: toEntry(r),
    command: toCommand({ uuid: r.command_uuid, request_type: r.request_type, payload: r.payload, created_by: r.created_by, created_at: r.created_at }),
  };
}

function queueStatusIn(s: unknown): QueueStatus {
  if (typeof s !== 'string' || !(QUEUE_STATUSES as readonly string[]).includes(s)) throw badRequest('invalid status');
  return s as QueueStatus;
}

interface RecordInput {
  id: string;
  cmdUuid: string;
  t: string;
  to: QueueStatus;
  raw: Uint8Array;
  json: string;
  errorJson: string | null;
}

function recordInput(
  deviceId: string,
  uuid: string,
  status: ResultStatus,
  result: { raw: Uint8Array; json: string; errorJson: string | null },
  now: string,
): RecordInput {
  const id = idIn(deviceId);
  const cmdUuid = idIn(uuid);
  const t = isoIn(now);
  if (!Object.prototype.hasOwnProperty.call(RESULT_STATUS, status)) throw badRequest('invalid status');
  const to = RESULT_STATUS[status];
  const raw = bytesIn(result.raw);
  if (raw.byteLength > MAX_RESULT_BYTES) throw badRequest('result too large');
  const json = textIn(result.json, MAX_RESULT_BYTES * 2);
  const errorJson = result.errorJson === null ? null : textIn(result.errorJson, MAX_RESULT_BYTES);
  return { id, cmdUuid, t, to, raw, json, errorJson };
}

const ENTRY_COLUMNS = [
  'q.seq', 'q.device_id', 'q.command_uuid', 'q.status', 'q.queued_at', 'q.deliveries', 'q.last_delivered_at',
  'q.result_at', 'q.result_raw', 'q.result_json', 'q.error_json', 'q.not_now_count', 'q.updated_at', 'c.request_type',
] as const;

export class SqlQueueStore implements CommandQueueStore {
  readonly #db: Db;
  readonly #backend: Backend;
  readonly #fast: FastPath | undefined;

  constructor(db: Db, backend: Backend, fast?: FastPath) {
    this.#db = db;
    this.#backend = backend;
    this.#fast = fast;
  }

  async enqueue(cmd: NewCommand, deviceIds: string[], now: string, opts: EnqueueOptions = {}): Promise<void> {
    const t = isoIn(now);
    const uuid = idIn(cmd.uuid);
    const requestType = textIn(cmd.requestType, 256);
    const createdBy = textIn(cmd.createdBy, 256);
    const payload = bytesIn(cmd.payload);
    if (payload.byteLength > MAX_PAYLOAD_BYTES) throw badRequest('command too large');
    if (!Array.isArray(deviceIds) || deviceIds.length > MAX_ENQUEUE_DEVICES) throw badRequest('too many devices');
    // Order of first appearance; a device listed twice is queued once.
    const ids = [...new Set(deviceIds.map(idIn))];
    try {
      await this.#db.transaction().execute(async (trx) => {
        const inserted = await trx.insertInto('commands')
          .values({ uuid, request_type: requestType, payload, created_by: createdBy, created_at: t })
          .onConflict((oc) => oc.column('uuid').doNothing())
          .executeTakeFirst();
        if (inserted.numInsertedOrUpdatedRows !== 1n) throw conflict('command exists');
        if (ids.length > 0) await this.#backend.insertQueueRows(trx, uuid, ids, t);
        if (opts.inTransaction) await opts.inTransaction(trx);
      });
    } catch (e) {
      const kind = dbErrorKind(e);
      if (kind === 'foreign_key') throw notFound('no such device');
      if (kind === 'unique') throw conflict('command exists');
      throw e;
    }
  }

  async getCommand(uuid: string): Promise<CommandRecord | undefined> {
    const r = await this.#db.selectFrom('commands').selectAll().where('uuid', '=', idIn(uuid)).executeTakeFirst();
    return r ? toCommand(r) : undefined;
  }

  async next(deviceId: string, opts: { skipNotNow: boolean }, now: string): Promise<DeliverableCommand | undefined> {
    const id = idIn(deviceId);
    const t = isoIn(now);
    // Most connects find nothing to deliver: one indexed read answers that
    // without a write transaction. A command queued right after this read is
    // pushed after its commit, so the device comes back for it.
    const fast = this.#fast;
    if (fast?.idle()) {
      if (!fast.hasOpen(id, opts.skipNotNow)) return undefined;
      return deliverable(await fast.next(id, opts.skipNotNow, t));
    }
    const statuses: QueueStatus[] = opts.skipNotNow ? ['pending'] : ['pending', 'not_now'];
    const any = await this.#db.selectFrom('command_queue').select('seq')
      .where('device_id', '=', id).where('status', 'in', statuses).limit(1).executeTakeFirst();
    if (!any) return undefined;
    return this.#db.transaction().execute(async (trx) => {
      await this.#backend.lockDevice(trx, id);
      return this.#nextIn(trx, id, opts, t);
    });
  }

  async #nextIn(trx: Trx, id: string, opts: { skipNotNow: boolean }, t: string): Promise<DeliverableCommand | undefined> {
    const statuses: QueueStatus[] = opts.skipNotNow ? ['pending'] : ['pending', 'not_now'];
    // Each status is one seek on (device_id, status, seq); an IN over both
    // could make a planner walk the device's whole history in seq order.
    const statusCond = opts.skipNotNow
      ? sql<boolean>`q.status = 'pending'`
      : sql<boolean>`q.status in ('pending', 'not_now') and q.seq = (select min(m.s) from (
          select min(seq) as s from command_queue where device_id = ${id} and status = 'pending'
          union all
          select min(seq) as s from command_queue where device_id = ${id} and status = 'not_now') as m)`;
    // The result of the chosen entry may be recorded (on another connection)
    // between our SELECT and UPDATE; the UPDATE re-checks the status and we
    // pick again, so an answered command is never handed out.
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = await trx.selectFrom('command_queue as q')
        .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
        .select([...ENTRY_COLUMNS, 'c.payload', 'c.created_by', 'c.created_at'])
        .where('q.device_id', '=', id)
        .where(statusCond)
        .orderBy('q.seq')
        .limit(1)
        .executeTakeFirst();
      if (!r) return undefined;
      const updated = await trx.updateTable('command_queue')
        .set((eb) => ({ deliveries: eb('deliveries', '+', 1), last_delivered_at: t, updated_at: t }))
        .where('seq', '=', r.seq)
        .where('status', 'in', statuses)
        .returning(['deliveries', 'status'])
        .executeTakeFirst();
      if (!updated) continue;
      return deliverable({ ...r, deliveries: updated.deliveries, status: updated.status, last_delivered_at: t, updated_at: t });
    }
    throw new RampartError('unavailable', 'busy', 'queue entry kept changing during next()');
  }

  async recordResult(
    deviceId: string,
    uuid: string,
    status: ResultStatus,
    result: { raw: Uint8Array; json: string; errorJson: string | null },
    now: string,
  ): Promise<RecordOutcome> {
    const input = recordInput(deviceId, uuid, status, result, now);
    return this.#recordIn(this.#db, input);
  }

  async recordResultAndNext(
    deviceId: string,
    uuid: string,
    status: ResultStatus,
    result: { raw: Uint8Array; json: string; errorJson: string | null },
    opts: { skipNotNow: boolean },
    now: string,
  ): Promise<{ outcome: RecordOutcome; next: DeliverableCommand | undefined }> {
    const input = recordInput(deviceId, uuid, status, result, now);
    if (this.#fast?.idle()) {
      const r = await this.#fast.recordResultAndNext(input, opts.skipNotNow);
      return { outcome: r.outcome, next: deliverable(r.next) };
    }
    return this.#db.transaction().execute(async (trx) => {
      await this.#backend.lockDevice(trx, input.id);
      const outcome = await this.#recordIn(trx, input);
      const next = await this.#nextIn(trx, input.id, opts, input.t);
      return { outcome, next };
    });
  }

  async #recordIn(db: Db | Trx, input: RecordInput): Promise<RecordOutcome> {
    const { id, cmdUuid, t, to, raw, json, errorJson } = input;
    const base = db.updateTable('command_queue')
      .where('device_id', '=', id)
      .where('command_uuid', '=', cmdUuid)
      // A device can only answer what it was handed.
      .where('deliveries', '>', 0);
    const r = to === 'not_now'
      ? await base
        .set((eb) => ({
          status: 'not_now',
          not_now_count: eb('not_now_count', '+', 1),
          result_at: t,
          result_raw: raw,
          result_json: json,
          error_json: errorJson,
          updated_at: t,
        }))
        .where('status', 'in', ['pending', 'not_now'])
        .executeTakeFirst()
      : await base
        .set({ status: to, result_at: t, result_raw: raw, result_json: json, error_json: errorJson, updated_at: t })
        // A cancelled entry that had already been handed out records what the device really did.
        .where('status', 'in', ['pending', 'not_now', 'cancelled'])
        .executeTakeFirst();
    if (r.numUpdatedRows > 0n) return 'recorded';
    const existing = await db.selectFrom('command_queue').select(['status', 'deliveries'])
      .where('device_id', '=', id)
      .where('command_uuid', '=', cmdUuid)
      .executeTakeFirst();
    if (!existing || numOut(existing.deliveries) === 0) return 'unknown';
    return 'duplicate';
  }

  async cancel(deviceId: string, uuid: string, now: string): Promise<boolean> {
    const t = isoIn(now);
    const r = await this.#db.updateTable('command_queue')
      .set({ status: 'cancelled', updated_at: t })
      .where('device_id', '=', idIn(deviceId))
      .where('command_uuid', '=', idIn(uuid))
      .where('status', 'in', ['pending', 'not_now'])
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async entry(deviceId: string, uuid: string): Promise<QueueEntry | undefined> {
    if (this.#fast?.idle()) {
      const r = this.#fast.entry(idIn(deviceId), idIn(uuid)) as QueueRow | undefined;
      return r ? toEntry(r) : undefined;
    }
    const r = await this.#db.selectFrom('command_queue as q')
      .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
      .select(ENTRY_COLUMNS)
      .where('q.device_id', '=', idIn(deviceId))
      .where('q.command_uuid', '=', idIn(uuid))
      .executeTakeFirst();
    return r ? toEntry(r) : undefined;
  }

  async entriesForCommand(uuid: string, q: { after?: string; limit: number }): Promise<Page<QueueEntry>> {
    const limit = limitIn(q.limit);
    let query = this.#db.selectFrom('command_queue as q')
      .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
      .select(ENTRY_COLUMNS)
      .where('q.command_uuid', '=', idIn(uuid));
    if (q.after !== undefined) query = query.where('q.device_id', '>', textIn(q.after, 256));
    const rows = await query.orderBy('q.device_id').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(toEntry);
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, next: last.deviceId } : { items };
  }

  async entriesForDevice(
    deviceId: string,
    q: { status?: QueueStatus; limit: number; beforeSeq?: number },
  ): Promise<QueueEntry[]> {
    let query = this.#db.selectFrom('command_queue as q')
      .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
      .select(ENTRY_COLUMNS)
      .where('q.device_id', '=', idIn(deviceId));
    if (q.status !== undefined) query = query.where('q.status', '=', queueStatusIn(q.status));
    if (q.beforeSeq !== undefined) {
      if (!Number.isSafeInteger(q.beforeSeq)) throw badRequest('invalid cursor');
      query = query.where('q.seq', '<', q.beforeSeq);
    }
    const rows = await query.orderBy('q.seq', 'desc').limit(limitIn(q.limit)).execute();
    return rows.map(toEntry);
  }

  async summary(uuid: string): Promise<Record<QueueStatus, number>> {
    const rows = await this.#db.selectFrom('command_queue')
      .select((eb) => ['status', eb.fn.countAll().as('n')])
      .where('command_uuid', '=', idIn(uuid))
      .groupBy('status')
      .execute();
    const out: Record<QueueStatus, number> = { pending: 0, acknowledged: 0, error: 0, not_now: 0, cancelled: 0 };
    for (const r of rows) out[queueStatusIn(r.status)] = Number(r.n);
    return out;
  }
}
