// AuditStore over node:sqlite. The handle is switched to WAL with
// synchronous=FULL, so a committed append survives power loss and kill -9.
// node:sqlite is synchronous: a write blocks the event loop for the length of
// one transaction, which is what makes group commit natural (events arriving
// meanwhile queue up for the next transaction).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { conflict } from '../lib/errors.ts';
import { NODE_STRIDE, clampLimit, cpFromRow, entryFromRow, type Row } from './store.ts';
import type { AuditQuery, AuditStore, LeaderLease, StoredCheckpoint, StoredEntry, StoredNode } from './store.ts';
import type { HashRun } from './merkle.ts';
import type { LogRecord } from './export.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_entry (
  idx INTEGER PRIMARY KEY,
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
  leaf_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entry_time ON audit_entry (time);
CREATE INDEX IF NOT EXISTS audit_entry_actor ON audit_entry (actor_id);
CREATE INDEX IF NOT EXISTS audit_entry_action ON audit_entry (action);
CREATE INDEX IF NOT EXISTS audit_entry_target ON audit_entry (target_id);
CREATE INDEX IF NOT EXISTS audit_entry_source ON audit_entry (source);
-- The connect path's "is this result already on record" lookup (actor, action,
-- target): with single-column indexes only, SQLite took the target index, and
-- a fleet-wide command is one target for 100,000 results: each lookup read
-- every result so far (20 ms at 90,000; found by the 100k DeviceLock bench).
CREATE INDEX IF NOT EXISTS audit_entry_actor_action_target ON audit_entry (actor_id, action, target_id);
CREATE TABLE IF NOT EXISTS audit_node (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
-- Leaf hashes again, compactly (~40 bytes a row instead of ~450 in
-- audit_entry): proofs read their level-0 hashes here, so a random proof
-- touches one or two pages of a table a tenth of the entry table's size.
-- Written in the same transaction as the entries.
CREATE TABLE IF NOT EXISTS audit_leaf (
  idx INTEGER PRIMARY KEY,
  hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  size INTEGER PRIMARY KEY,
  root_hash BLOB NOT NULL,
  note TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_cursor (
  name TEXT PRIMARY KEY,
  next_index INTEGER NOT NULL
);
`;

/**
 * Tables only the SQLite store has, derived from the others: audit_leaf (a copy
 * of audit_entry.leaf_hash for proofs; PostgreSQL reads those from
 * audit_entry) and audit_meta (this store's migration progress). `rampart db
 * copy` leaves them behind.
 */
export const SQLITE_ONLY_AUDIT_TABLES: readonly string[] = ['audit_leaf', 'audit_meta'];

/** Rows copied per transaction when an existing log's audit_leaf is backfilled. */
const BACKFILL_CHUNK = 100_000;

// One leader per database file within this process. SQLite deployments are
// single-node by construction; the index check in append() stops any second
// writer from forking the log regardless.
const leaders = new Set<string>();

export class SqliteAuditStore implements AuditStore {
  readonly stride = NODE_STRIDE;
  readonly #db: DatabaseSync;
  #st: Record<string, StatementSync> | null = null;
  readonly #searches = new Map<string, StatementSync>();

  readonly #readOnly: boolean;
  /** audit_leaf holds every leaf hash (false only on a read-only store over a log not yet migrated). */
  #leafTable = false;

  readonly #backfillChunk: number;

  /**
   * `readOnly`: for verification and search of a log another process writes; init() then changes nothing.
   * `backfillChunk`: rows per transaction of the audit_leaf migration (tests use small ones).
   */
  constructor(db: DatabaseSync, opts: { readOnly?: boolean; backfillChunk?: number } = {}) {
    this.#db = db;
    this.#readOnly = opts.readOnly === true;
    this.#backfillChunk = opts.backfillChunk ?? BACKFILL_CHUNK;
  }

  async init(): Promise<void> {
    const db = this.#db;
    // Connection-level read tuning: proofs read ~24 small runs scattered over
    // the file; memory-mapped reads and a larger page cache keep them in the µs range.
    db.exec('PRAGMA mmap_size = 1073741824');
    db.exec('PRAGMA cache_size = -65536');
    if (!this.#readOnly) {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec(SCHEMA);
      this.#backfillLeaves();
    }
    this.#leafTable = this.#leavesComplete();
    this.#st = {
      size: db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM audit_entry'),
      insEntry: db.prepare(
        'INSERT INTO audit_entry (idx, time, actor_type, actor_id, action, target_type, target_id, source, outcome, request_id, entry, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      insNode: db.prepare('INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)'),
      // A run of hashes as one hex string (one value per run instead of an ArrayBuffer per hash).
      leafRun: this.#leafTable
        ? db.prepare("SELECT group_concat(hex(hash), '' ORDER BY idx) AS h FROM audit_leaf WHERE idx >= ? AND idx < ?")
        : db.prepare("SELECT group_concat(hex(leaf_hash), '' ORDER BY idx) AS h FROM audit_entry WHERE idx >= ? AND idx < ?"),
      nodeRun: db.prepare("SELECT group_concat(hex(hash), '' ORDER BY idx) AS h FROM audit_node WHERE level = ? AND idx >= ? AND idx < ?"),
      putCp: db.prepare('INSERT OR IGNORE INTO audit_checkpoint (size, root_hash, note, created_at) VALUES (?, ?, ?, ?)'),
      latestCp: db.prepare('SELECT * FROM audit_checkpoint ORDER BY size DESC LIMIT 1'),
      listCp: db.prepare('SELECT * FROM audit_checkpoint WHERE size >= ? ORDER BY size LIMIT ?'),
      entries: db.prepare('SELECT * FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?'),
      leafRecords: db.prepare('SELECT idx, entry, leaf_hash FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?'),
      // The entry as its stored bytes: hashed as they are, no UTF-16 string per row.
      // With audit_leaf, its copy of each leaf hash too (the verifier compares it, as it does stored nodes).
      leafBatch: this.#leafTable
        ? db.prepare('SELECT e.idx, CAST(e.entry AS BLOB), e.leaf_hash, l.hash FROM audit_entry e LEFT JOIN audit_leaf l ON l.idx = e.idx WHERE e.idx >= ? AND e.idx < ? ORDER BY e.idx LIMIT ?')
        : db.prepare('SELECT idx, CAST(entry AS BLOB), leaf_hash FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?'),
      ...(this.#leafTable ? { insLeaf: db.prepare('INSERT INTO audit_leaf (idx, hash) VALUES (?, ?)') } : {}),
      // The two-thread verifier's reader: the leaf hash as lower-case hex text (no ArrayBuffer per row).
      scanBatch: this.#leafTable
        ? db.prepare('SELECT e.idx, e.entry, lower(hex(e.leaf_hash)), lower(hex(l.hash)) FROM audit_entry e LEFT JOIN audit_leaf l ON l.idx = e.idx WHERE e.idx >= ? AND e.idx < ? ORDER BY e.idx LIMIT ?')
        : db.prepare('SELECT idx, entry, lower(hex(leaf_hash)) FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?'),
      getCursor: db.prepare('SELECT next_index FROM audit_cursor WHERE name = ?'),
      setCursor: db.prepare('INSERT INTO audit_cursor (name, next_index) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET next_index = excluded.next_index'),
    };
  }

  #leavesComplete(): boolean {
    const db = this.#db;
    const t = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_meta'").get();
    if (!t) return false;
    return db.prepare("SELECT 1 FROM audit_meta WHERE key = 'leaf_backfill' AND value = 'done'").get() !== undefined;
  }

  /**
   * Migration of a log written before audit_leaf existed: copy the leaf hashes
   * of the entries in chunks, each its own transaction recording how far it
   * got (`audit_meta.leaf_backfill`), so an interrupted backfill resumes. Once
   * it reaches the log's size it marks itself done; from then on append()
   * writes both tables in one transaction. A new log is marked done at once.
   */
  #backfillLeaves(): void {
    const db = this.#db;
    if (this.#leavesComplete()) return;
    const progress = db.prepare("SELECT value FROM audit_meta WHERE key = 'leaf_backfill'");
    const setProgress = db.prepare("INSERT INTO audit_meta (key, value) VALUES ('leaf_backfill', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const size = db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM audit_entry');
    const copy = db.prepare('INSERT OR IGNORE INTO audit_leaf (idx, hash) SELECT idx, leaf_hash FROM audit_entry WHERE idx >= ? AND idx < ?');
    for (;;) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const p = progress.get() as Row | undefined;
        if (p && p.value === 'done') {
          db.exec('COMMIT');
          return;
        }
        const from = p ? Number(p.value) : 0;
        const n = Number((size.get() as Row).n);
        const to = Math.min(n, from + this.#backfillChunk);
        if (to > from) copy.run(from, to);
        setProgress.run(to >= n ? 'done' : String(to));
        db.exec('COMMIT');
        if (to >= n) return;
      } catch (err) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw err;
      }
    }
  }

  get #s(): Record<string, StatementSync> {
    if (!this.#st) throw new Error('audit store not initialised');
    return this.#st;
  }

  #stmt(name: string): StatementSync {
    return this.#s[name] as StatementSync;
  }

  async size(): Promise<number> {
    return Number((this.#stmt('size').get() as Row).n);
  }

  async append(entries: readonly StoredEntry[], nodes: readonly StoredNode[]): Promise<void> {
    if (entries.length === 0 && nodes.length === 0) return;
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
      const first = entries[0];
      if (first && Number((this.#stmt('size').get() as Row).n) !== first.index) {
        throw conflict('audit log has another writer', 'append index does not continue the log');
      }
      const ins = this.#stmt('insEntry');
      const insL = this.#s.insLeaf;
      if (!insL) throw new Error('audit store is read-only or not migrated');
      for (const e of entries) {
        ins.run(e.index, e.time, e.actorType, e.actorId, e.action, e.targetType, e.targetId, e.source, e.outcome, e.requestId, e.entry, e.leafHash);
        insL.run(e.index, e.leafHash);
      }
      const insN = this.#stmt('insNode');
      for (const n of nodes) insN.run(n.level, n.index, n.hash);
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  async readHashes(runs: readonly HashRun[]): Promise<Uint8Array[][]> {
    const leaf = this.#stmt('leafRun');
    const node = this.#stmt('nodeRun');
    return runs.map((r) => {
      const row = (r.level === 0 ? leaf.get(r.start, r.start + r.count) : node.get(r.level, r.start, r.start + r.count)) as Row;
      const all = Buffer.from((row.h as string | null) ?? '', 'hex');
      const out: Uint8Array[] = new Array<Uint8Array>(all.length / 32);
      for (let i = 0; i < out.length; i++) out[i] = all.subarray(i * 32, i * 32 + 32);
      return out;
    });
  }

  async putCheckpoint(cp: StoredCheckpoint): Promise<void> {
    this.#stmt('putCp').run(cp.size, cp.rootHash, cp.note, cp.createdAt);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const r = this.#stmt('latestCp').get() as Row | undefined;
    return r ? cpFromRow(r) : null;
  }

  async listCheckpoints(opts: { fromSize?: number; limit?: number } = {}): Promise<StoredCheckpoint[]> {
    return (this.#stmt('listCp').all(opts.fromSize ?? 0, opts.limit ?? 1_000_000) as Row[]).map(cpFromRow);
  }

  async *readEntries(start: number, end = Number.MAX_SAFE_INTEGER): AsyncIterable<StoredEntry> {
    const st = this.#stmt('entries');
    let next = start;
    const batch = 2000;
    for (;;) {
      const rows = st.all(next, end, batch) as Row[];
      for (const r of rows) yield entryFromRow(r);
      if (rows.length < batch) return;
      next = Number((rows[rows.length - 1] as Row).idx) + 1;
    }
  }

  async *readLeafRecords(start: number, end = Number.MAX_SAFE_INTEGER): AsyncIterable<{ index: number; entry: string; leafHash: Uint8Array }> {
    const st = this.#stmt('leafRecords');
    let next = start;
    const batch = 5000;
    for (;;) {
      const rows = st.all(next, end, batch) as Row[];
      for (const r of rows) yield { index: Number(r.idx), entry: r.entry as string, leafHash: r.leaf_hash as Uint8Array };
      if (rows.length < batch) return;
      next = Number((rows[rows.length - 1] as Row).idx) + 1;
    }
  }

  async *readLeafBatches(start: number, end = Number.MAX_SAFE_INTEGER): AsyncIterable<LogRecord[]> {
    const st = this.#stmt('leafBatch');
    // Rows as arrays: no per-row object with named keys to build.
    st.setReturnArrays(true);
    let next = start;
    const batch = 20_000;
    for (;;) {
      const rows = st.all(next, end, batch) as unknown as [number, Uint8Array, Uint8Array, (Uint8Array | null)?][];
      const out: LogRecord[] = new Array<LogRecord>(rows.length);
      const copies = this.#leafTable;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i] as [number, Uint8Array, Uint8Array, (Uint8Array | null)?];
        out[i] = copies ? { position: r[0], entry: null, bytes: r[1], leafHash: r[2], leafCopy: r[3] ?? null } : { position: r[0], entry: null, bytes: r[1], leafHash: r[2] };
      }
      if (out.length > 0) yield out;
      if (rows.length < batch) return;
      next = (rows[rows.length - 1] as [number, Uint8Array, Uint8Array])[0] + 1;
    }
  }

  /** Rows [index, entry text (bytes if stored as a BLOB), hex leaf hash, hex audit_leaf copy (null: missing)] in index order, 20,000 per query (verify-split.ts). */
  async *readScanBatches(start: number, end: number): AsyncIterable<[number, string | Uint8Array, string, (string | null)?][]> {
    const st = this.#stmt('scanBatch');
    st.setReturnArrays(true);
    let next = start;
    const batch = 20_000;
    for (;;) {
      const rows = st.all(next, end, batch) as unknown as [number, string | Uint8Array, string, (string | null)?][];
      if (rows.length > 0) yield rows;
      if (rows.length < batch) return;
      next = (rows[rows.length - 1] as [number, string | Uint8Array, string, (string | null)?])[0] + 1;
    }
  }

  filePath(): string | null {
    const p = this.#db.location();
    return p === null || p === '' || p === ':memory:' ? null : p;
  }

  async search(q: AuditQuery): Promise<StoredEntry[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const eq = (col: string, v: string | undefined): void => {
      if (v !== undefined) {
        where.push(`${col} = ?`);
        args.push(v);
      }
    };
    if (q.from !== undefined) {
      where.push('time >= ?');
      args.push(q.from);
    }
    if (q.to !== undefined) {
      where.push('time < ?');
      args.push(q.to);
    }
    eq('actor_type', q.actorType);
    eq('actor_id', q.actorId);
    eq('action', q.action);
    eq('target_type', q.targetType);
    eq('target_id', q.targetId);
    eq('source', q.source);
    eq('outcome', q.outcome);
    if (q.actionPrefix !== undefined) {
      where.push('substr(action, 1, ?) = ?');
      args.push(q.actionPrefix.length + 1, q.actionPrefix + '.');
    }
    if (q.afterIndex !== undefined) {
      where.push('idx > ?');
      args.push(q.afterIndex);
    }
    const sql = `SELECT * FROM audit_entry${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY idx LIMIT ?`;
    args.push(clampLimit(q.limit));
    // A handful of query shapes recur (e.g. the connect path's "is this result
    // on record" lookup): prepared once each (preparing cost ~20 µs per call).
    let stmt = this.#searches.get(sql);
    if (!stmt) {
      if (this.#searches.size >= 64) this.#searches.clear();
      this.#searches.set(sql, (stmt = this.#db.prepare(sql)));
    }
    return (stmt.all(...args) as Row[]).map(entryFromRow);
  }

  async getCursor(name: string): Promise<number> {
    const r = this.#stmt('getCursor').get(name) as Row | undefined;
    return r ? Number(r.next_index) : 0;
  }

  async setCursor(name: string, next: number): Promise<void> {
    this.#stmt('setCursor').run(name, next);
  }

  async tryAcquireLeader(): Promise<LeaderLease | null> {
    const key = this.#db.location() ?? ':memory:';
    if (key !== ':memory:' && leaders.has(key)) return null;
    leaders.add(key);
    let held = true;
    return {
      get held() {
        return held;
      },
      async release() {
        if (held) leaders.delete(key);
        held = false;
      },
    };
  }

  async close(): Promise<void> {
    this.#st = null;
  }
}
