// The device plane's hot statements on SQLite, run synchronously on the raw
// node:sqlite handle instead of through Kysely. node:sqlite executes every
// statement synchronously anyway; what Kysely adds per query (building and
// compiling the query, the connection mutex, a chain of promises) and per
// transaction was most of the CPU of a command round trip: a
// recordResultAndNext() took ~218 µs through Kysely on tmpfs and ~60 µs here
// (bench/core-path.ts measures the whole core path).
//
// Safety: a fast operation runs only when no transaction but our own commit
// group's is open on the connection (a Kysely transaction may be waiting
// between two of its statements); its statements run within one synchronous
// call, in the commit group (src/storage/sqlite/commit-group.ts), which
// resolves the operation only once its COMMIT is durable. When another
// transaction is open the caller uses the Kysely path, which waits for it.
// The statements are the same SQL the Kysely queries in src/storage/sql/
// compile to, and the storage conformance suite runs on this path.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { RampartError } from '../../lib/errors.ts';
import type { FastPath, FastRecordInput, FastRow } from '../sql/backend.ts';
import type { CommitGroup } from './commit-group.ts';
import { toSqliteValue } from './dialect.ts';

/** Column names come from the device store's field map; checked again before they reach SQL text. */
const COLUMN_RE = /^[a-z][a-z0-9_]{0,62}$/;

const ENTRY = `q.seq, q.device_id, q.command_uuid, q.status, q.queued_at, q.deliveries, q.last_delivered_at,
  q.result_at, q.result_raw, q.result_json, q.error_json, q.not_now_count, q.updated_at, c.request_type`;

export function createSqliteFastPath(raw: DatabaseSync, group: CommitGroup): FastPath {
  const cache = new Map<string, StatementSync>();
  const st = (sqlText: string): StatementSync => {
    let s = cache.get(sqlText);
    if (!s) {
      if (cache.size >= 64) cache.clear();
      cache.set(sqlText, (s = raw.prepare(sqlText)));
    }
    return s;
  };
  const SQL = {
    device: 'select * from devices where id = ?',
    entry: `select ${ENTRY} from command_queue q inner join commands c on c.uuid = q.command_uuid where q.device_id = ? and q.command_uuid = ?`,
    peekPending: `select seq from command_queue where device_id = ? and status = 'pending' limit 1`,
    peekOpen: `select seq from command_queue where device_id = ? and status in ('pending', 'not_now') limit 1`,
    nextPending: `select ${ENTRY}, c.payload, c.created_by, c.created_at from command_queue q inner join commands c on c.uuid = q.command_uuid
      where q.device_id = ? and q.status = 'pending' order by q.seq limit 1`,
    // Each status is one seek on (device_id, status, seq), as in the Kysely query.
    nextOpen: `select ${ENTRY}, c.payload, c.created_by, c.created_at from command_queue q inner join commands c on c.uuid = q.command_uuid
      where q.device_id = ? and q.status in ('pending', 'not_now') and q.seq = (select min(m.s) from (
        select min(seq) as s from command_queue where device_id = ? and status = 'pending'
        union all
        select min(seq) as s from command_queue where device_id = ? and status = 'not_now') as m)
      order by q.seq limit 1`,
    deliverPending: `update command_queue set deliveries = deliveries + 1, last_delivered_at = ?, updated_at = ?
      where seq = ? and status in ('pending') returning deliveries, status`,
    deliverOpen: `update command_queue set deliveries = deliveries + 1, last_delivered_at = ?, updated_at = ?
      where seq = ? and status in ('pending', 'not_now') returning deliveries, status`,
    recordNotNow: `update command_queue set status = 'not_now', not_now_count = not_now_count + 1, result_at = ?, result_raw = ?,
      result_json = ?, error_json = ?, updated_at = ? where device_id = ? and command_uuid = ? and deliveries > 0 and status in ('pending', 'not_now')`,
    recordFinal: `update command_queue set status = ?, result_at = ?, result_raw = ?, result_json = ?, error_json = ?, updated_at = ?
      where device_id = ? and command_uuid = ? and deliveries > 0 and status in ('pending', 'not_now', 'cancelled')`,
    existing: 'select status, deliveries from command_queue where device_id = ? and command_uuid = ?',
  };

  // Free for us: no transaction, or only our own commit group's.
  const idle = (): boolean => raw.isOpen && (!raw.isTransaction || group.open);

  function nextIn(id: string, skipNotNow: boolean, t: string): FastRow | undefined {
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = (skipNotNow ? st(SQL.nextPending).get(id) : st(SQL.nextOpen).get(id, id, id)) as FastRow | undefined;
      if (!r) return undefined;
      const u = st(skipNotNow ? SQL.deliverPending : SQL.deliverOpen).get(t, t, r.seq as number) as { deliveries: number; status: string } | undefined;
      if (!u) continue;
      return { ...r, deliveries: u.deliveries, status: u.status, last_delivered_at: t, updated_at: t };
    }
    throw new RampartError('unavailable', 'busy', 'queue entry kept changing during next()');
  }

  function recordIn(i: FastRecordInput): 'recorded' | 'duplicate' | 'unknown' {
    const r = i.to === 'not_now'
      ? st(SQL.recordNotNow).run(i.t, i.raw, i.json, i.errorJson, i.t, i.id, i.cmdUuid)
      : st(SQL.recordFinal).run(i.to, i.t, i.raw, i.json, i.errorJson, i.t, i.id, i.cmdUuid);
    if (Number(r.changes) > 0) return 'recorded';
    const e = st(SQL.existing).get(i.id, i.cmdUuid) as { status: string; deliveries: number } | undefined;
    if (!e || Number(e.deliveries) === 0) return 'unknown';
    return 'duplicate';
  }

  return {
    idle,
    device: (id) => st(SQL.device).get(id) as FastRow | undefined,
    entry: (id, uuid) => st(SQL.entry).get(id, uuid) as FastRow | undefined,
    hasOpen: (id, skipNotNow) => st(skipNotNow ? SQL.peekPending : SQL.peekOpen).get(id) !== undefined,
    next: (id, skipNotNow, t) => group.run(() => nextIn(id, skipNotNow, t)),
    updateDevice: (id, columns) => {
      const names = Object.keys(columns);
      if (names.some((n) => !COLUMN_RE.test(n))) return Promise.reject(new Error('invalid column name'));
      const sqlText = `update devices set ${names.map((n) => `"${n}" = ?`).join(', ')} where id = ?`;
      const values = names.map((n) => toSqliteValue(columns[n]));
      return group.run(() => Number(st(sqlText).run(...values, id).changes) > 0);
    },
    recordResultAndNext: (i, skipNotNow) => group.run(() => {
      const outcome = recordIn(i);
      return { outcome, next: nextIn(i.id, skipNotNow, i.t) };
    }),
  };
}
