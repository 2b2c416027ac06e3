// AuditStore over PostgreSQL (pg.Pool). Durability is PostgreSQL's commit
// (synchronous_commit must stay on). The single writer is elected with a
// session advisory lock held on a dedicated connection; appends additionally
// take a transaction advisory lock and check that indices continue the log,
// so even a misconfigured second writer can only fail, never fork history.
// Several nodes append through appendShared(): the index is assigned inside
// that same lock from the committed size, so the log keeps one total order;
// only the lease holder signs checkpoints, and it writes them on the lease's
// own session (a fence: if that session died, the write fails).

import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { conflict } from '../lib/errors.ts';
import { NODE_STRIDE, clampLimit, cpFromRow, entryFromRow, type Row } from './store.ts';
import type { AuditQuery, AuditStore, LeaderLease, StoredCheckpoint, StoredEntry, StoredNode } from './store.ts';
import type { HashReader, HashRun } from './merkle.ts';
import type { LogRecord } from './export.ts';

type Queryable = Pick<PoolClient, 'query'>;

const LOCK_CLASS = 0x52414d50; // "RAMP"


const buf = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));



export interface PgAuditStoreOptions {
  /** Schema holding the audit_ tables (created if missing). Default "public". */
  schema?: string;
}

export class PgAuditStore implements AuditStore {
  readonly stride = NODE_STRIDE;
  readonly #pool: Pool;
  readonly #schema: string;
  readonly #lockKey: number;
  /** The session holding the leader lock while this store is the leader. */
  #leaseClient: PoolClient | null = null;

  constructor(pool: Pool, opts: PgAuditStoreOptions = {}) {
    const schema = opts.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('invalid schema name');
    this.#pool = pool;
    this.#schema = schema;
    this.#lockKey = createHash('sha256').update(`rampart audit ${schema}`).digest().readInt32BE(0);
  }

  #t(name: string): string {
    return `"${this.#schema}".${name}`;
  }

  async init(): Promise<void> {
    const s = `"${this.#schema}"`;
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      // Serialise concurrent init() calls (CREATE ... IF NOT EXISTS races on the catalog).
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, this.#lockKey ^ 1]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${s}.audit_entry (
        idx BIGINT PRIMARY KEY,
        time TEXT NOT NULL,
        actor_type TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        target_type TEXT,
        target_id TEXT,
        source TEXT,
        outcome TEXT NOT NULL,
        request_id TEXT,
        entry TEXT NOT NULL,
        leaf_hash BYTEA NOT NULL)`);
      for (const col of ['time', 'actor_id', 'action', 'target_id', 'source']) {
        await c.query(`CREATE INDEX IF NOT EXISTS audit_entry_${col} ON ${s}.audit_entry (${col})`);
      }
      // The result lookup (actor, action, target): one seek even when a fleet-wide command is the target of every entry.
      await c.query(`CREATE INDEX IF NOT EXISTS audit_entry_actor_action_target ON ${s}.audit_entry (actor_id, action, target_id)`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${s}.audit_node (
        level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx))`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${s}.audit_checkpoint (
        size BIGINT PRIMARY KEY, root_hash BYTEA NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL)`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${s}.audit_cursor (name TEXT PRIMARY KEY, next_index BIGINT NOT NULL)`);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async size(): Promise<number> {
    const r = await this.#pool.query(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.#t('audit_entry')}`);
    return Number((r.rows[0] as Row).n);
  }

  async append(entries: readonly StoredEntry[], nodes: readonly StoredNode[]): Promise<void> {
    if (entries.length === 0 && nodes.length === 0) return;
    await this.#locked(async (c, size) => {
      const first = entries[0];
      if (first && size !== first.index) throw conflict('audit log has another writer', 'append index does not continue the log');
      await this.#insert(c, entries, nodes);
    });
  }

  async appendShared(
    build: (head: { size: number; reader: HashReader }) => Promise<{ entries: StoredEntry[]; nodes: StoredNode[] }>,
  ): Promise<void> {
    await this.#locked(async (c, size) => {
      const reader: HashReader = { stride: this.stride, readHashes: (runs) => this.#readHashes(c, runs) };
      const { entries, nodes } = await build({ size, reader });
      const first = entries[0];
      if (first && first.index !== size) throw conflict('audit log has another writer', 'append index does not continue the log');
      await this.#insert(c, entries, nodes);
    });
  }

  /** One transaction holding the append lock, given the committed size. */
  async #locked(fn: (c: PoolClient, size: number) => Promise<void>): Promise<void> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      // Not the leader key: the leader holds that one for its whole session.
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, this.#lockKey ^ 2]);
      const r = await c.query(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.#t('audit_entry')}`);
      await fn(c, Number((r.rows[0] as Row).n));
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async #insert(c: Queryable, entries: readonly StoredEntry[], nodes: readonly StoredNode[]): Promise<void> {
    if (entries.length > 0) {
      await c.query(
        `INSERT INTO ${this.#t('audit_entry')} (idx, time, actor_type, actor_id, action, target_type, target_id, source, outcome, request_id, entry, leaf_hash)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[])`,
        [
          entries.map((e) => e.index), entries.map((e) => e.time), entries.map((e) => e.actorType), entries.map((e) => e.actorId),
          entries.map((e) => e.action), entries.map((e) => e.targetType), entries.map((e) => e.targetId), entries.map((e) => e.source),
          entries.map((e) => e.outcome), entries.map((e) => e.requestId), entries.map((e) => e.entry), entries.map((e) => buf(e.leafHash)),
        ],
      );
    }
    if (nodes.length > 0) {
      await c.query(`INSERT INTO ${this.#t('audit_node')} (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`, [
        nodes.map((n) => n.level), nodes.map((n) => n.index), nodes.map((n) => buf(n.hash)),
      ]);
    }
  }

  readHashes(runs: readonly HashRun[]): Promise<Uint8Array[][]> {
    return this.#readHashes(this.#pool, runs);
  }

  async #readHashes(q: Queryable, runs: readonly HashRun[]): Promise<Uint8Array[][]> {
    const leafIdx: number[] = [];
    const nodeLevel: number[] = [];
    const nodeIdx: number[] = [];
    for (const r of runs) {
      for (let i = r.start; i < r.start + r.count; i++) {
        if (r.level === 0) leafIdx.push(i);
        else {
          nodeLevel.push(r.level);
          nodeIdx.push(i);
        }
      }
    }
    const found = new Map<string, Uint8Array>();
    if (leafIdx.length > 0) {
      const res = await q.query(`SELECT idx, leaf_hash FROM ${this.#t('audit_entry')} WHERE idx = ANY($1::bigint[])`, [leafIdx]);
      for (const row of res.rows as Row[]) found.set(`0/${Number(row.idx)}`, row.leaf_hash as Uint8Array);
    }
    if (nodeIdx.length > 0) {
      const res = await q.query(
        `SELECT n.level, n.idx, n.hash FROM ${this.#t('audit_node')} n JOIN unnest($1::smallint[], $2::bigint[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx`,
        [nodeLevel, nodeIdx],
      );
      for (const row of res.rows as Row[]) found.set(`${Number(row.level)}/${Number(row.idx)}`, row.hash as Uint8Array);
    }
    return runs.map((r) => {
      const out: Uint8Array[] = [];
      for (let i = r.start; i < r.start + r.count; i++) {
        const h = found.get(`${r.level}/${i}`);
        if (h) out.push(h);
      }
      return out;
    });
  }

  async putCheckpoint(cp: StoredCheckpoint): Promise<void> {
    // While this store holds the leader lock, write on that session: a signer
    // whose session died cannot store a checkpoint next to the new leader's.
    await (this.#leaseClient ?? this.#pool).query(
      `INSERT INTO ${this.#t('audit_checkpoint')} (size, root_hash, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING`,
      [cp.size, buf(cp.rootHash), cp.note, cp.createdAt],
    );
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const r = await this.#pool.query(`SELECT * FROM ${this.#t('audit_checkpoint')} ORDER BY size DESC LIMIT 1`);
    const row = r.rows[0] as Row | undefined;
    return row ? cpFromRow(row) : null;
  }

  async listCheckpoints(opts: { fromSize?: number; limit?: number } = {}): Promise<StoredCheckpoint[]> {
    const r = await this.#pool.query(`SELECT * FROM ${this.#t('audit_checkpoint')} WHERE size >= $1 ORDER BY size LIMIT $2`, [opts.fromSize ?? 0, opts.limit ?? 1_000_000]);
    return (r.rows as Row[]).map(cpFromRow);
  }

  async *readEntries(start: number, end = Number.MAX_SAFE_INTEGER): AsyncIterable<StoredEntry> {
    let next = start;
    const batch = 5000;
    for (;;) {
      const r = await this.#pool.query(`SELECT * FROM ${this.#t('audit_entry')} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`, [next, end, batch]);
      const rows = r.rows as Row[];
      for (const row of rows) yield entryFromRow(row);
      if (rows.length < batch) return;
      next = Number((rows[rows.length - 1] as Row).idx) + 1;
    }
  }

  /** Verification fast path: the entry's UTF-8 bytes and leaf hash, rows as arrays, 20,000 per query. */
  async *readLeafBatches(start: number, end = Number.MAX_SAFE_INTEGER): AsyncIterable<LogRecord[]> {
    let next = start;
    const batch = 20_000;
    for (;;) {
      const r = await this.#pool.query({
        text: `SELECT idx, convert_to(entry, 'UTF8'), leaf_hash FROM ${this.#t('audit_entry')} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
        values: [next, end, batch],
        rowMode: 'array',
      });
      const rows = r.rows as [string | number, Uint8Array, Uint8Array][];
      const out: LogRecord[] = rows.map((x) => ({ position: Number(x[0]), entry: null, bytes: x[1], leafHash: x[2] }));
      if (out.length > 0) yield out;
      if (rows.length < batch) return;
      next = (out[out.length - 1] as LogRecord).position + 1;
    }
  }

  async search(q: AuditQuery): Promise<StoredEntry[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (sql: string, v: string | number): void => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (q.from !== undefined) add('time >= ?', q.from);
    if (q.to !== undefined) add('time < ?', q.to);
    if (q.actorType !== undefined) add('actor_type = ?', q.actorType);
    if (q.actorId !== undefined) add('actor_id = ?', q.actorId);
    if (q.action !== undefined) add('action = ?', q.action);
    if (q.targetType !== undefined) add('target_type = ?', q.targetType);
    if (q.targetId !== undefined) add('target_id = ?', q.targetId);
    if (q.source !== undefined) add('source = ?', q.source);
    if (q.outcome !== undefined) add('outcome = ?', q.outcome);
    if (q.actionPrefix !== undefined) add('left(action, ' + (q.actionPrefix.length + 1) + ') = ?', q.actionPrefix + '.');
    if (q.afterIndex !== undefined) add('idx > ?', q.afterIndex);
    args.push(clampLimit(q.limit));
    const sql = `SELECT * FROM ${this.#t('audit_entry')}${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY idx LIMIT $${args.length}`;
    const r = await this.#pool.query(sql, args);
    return (r.rows as Row[]).map(entryFromRow);
  }

  async getCursor(name: string): Promise<number> {
    const r = await this.#pool.query(`SELECT next_index FROM ${this.#t('audit_cursor')} WHERE name = $1`, [name]);
    const row = r.rows[0] as Row | undefined;
    return row ? Number(row.next_index) : 0;
  }

  async setCursor(name: string, next: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t('audit_cursor')} (name, next_index) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET next_index = excluded.next_index`,
      [name, next],
    );
  }

  async tryAcquireLeader(): Promise<LeaderLease | null> {
    const c: PoolClient = await this.#pool.connect();
    let ok = false;
    try {
      const r = await c.query('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_CLASS, this.#lockKey]);
      ok = (r.rows[0] as Row).ok === true;
    } finally {
      if (!ok) c.release();
    }
    if (!ok) return null;
    const key = this.#lockKey;
    let held = true;
    let released = false;
    const lost = (): void => {
      held = false;
    };
    c.on('error', lost);
    c.on('end', lost);
    this.#leaseClient = c;
    const forget = (): void => {
      if (this.#leaseClient === c) this.#leaseClient = null;
    };
    return {
      get held() {
        return held;
      },
      async release() {
        if (released) return;
        released = true;
        forget();
        const alive = held;
        held = false;
        if (alive) {
          try {
            await c.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, key]);
          } catch {
            /* connection gone: the lock went with it */
          }
        }
        c.off('error', lost);
        c.off('end', lost);
        // A dead connection must not go back to the pool.
        c.release(alive ? undefined : true);
      },
    };
  }

  async close(): Promise<void> {
    /* the pool belongs to the caller */
  }
}
