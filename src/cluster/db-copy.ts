// `rampart db copy --from sqlite:<rampart.db> --to postgres://...`: moves a
// stopped single-node installation from embedded SQLite to PostgreSQL.
//
// 1. Opens the source (rampart.db and, beside it, audit.db) with
//    locking_mode=EXCLUSIVE and BEGIN EXCLUSIVE: any process that still has
//    the file open (a running server, even idle) holds a lock that makes this
//    fail, so a live installation is refused; a WAL left by a crash is
//    recovered and read. The lock is held until the copy ends, so no server
//    can start on the source meanwhile.
// 2. Runs every migration on the target (storage, registered modules, audit
//    tables), then discovers the tables to copy from the source's
//    sqlite_master (not a list of today's tables; the audit file's
//    SQLite-only derived tables, SQLITE_ONLY_AUDIT_TABLES, stay behind) and checks that each exists
//    on the target with every source column, and that the target has applied
//    every migration the source has.
// 3. Refuses a non-empty target unless forceEmptyTarget (then TRUNCATEs the
//    copied tables).
// 4. Copies in ONE target transaction, parents before children (foreign keys
//    from pg_constraint), each table in batches in primary-key order, values
//    converted by the target's information_schema type (ISO text ->
//    timestamptz, 0/1 -> boolean, blob -> bytea, integers exact), then moves
//    identity sequences past the copied keys.
// 5. Verifies: row counts per table, and the audit log recomputed on the
//    target (root hash at the source's latest checkpoint, and a full verify
//    against that checkpoint with the installation's verifier key).

import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { PgAuditStore } from '../audit/store-pg.ts';
import { SQLITE_ONLY_AUDIT_TABLES } from '../audit/store-sqlite.ts';
import { hashEqual, treeRoot } from '../audit/merkle.ts';
import { verifyLog } from '../audit/verify.ts';
import { openPostgresStorage } from '../storage/open.ts';
import { validSchemaName } from '../storage/postgres/open.ts';
import { auditPathFor, migrateInstallation, MODULE_MIGRATIONS } from './migrate.ts';
import type { ModuleMigrations } from './migrate.ts';

export interface DbCopyOptions {
  /** The source installation's main SQLite file (data/rampart.db). */
  fromSqlite: string;
  /** Target PostgreSQL URL. */
  toUrl: string;
  /** Target schema (default "public"). */
  schema?: string;
  forceEmptyTarget?: boolean;
  /** Rows per INSERT (default 1000; fewer when a table has many columns). */
  batchRows?: number;
  modules?: readonly ModuleMigrations[];
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface TableCopy {
  table: string;
  file: 'main' | 'audit';
  sourceRows: number;
  targetRows: number;
}

export interface DbCopyReport {
  schema: string;
  tables: TableCopy[];
  audit: { size: number; checkpointSize: number; rootHash: string; rootMatches: boolean; verified: boolean | null } | null;
  ok: boolean;
}

export class DbCopyError extends Error {
  override name = 'DbCopyError';
}

interface SourceTable {
  name: string;
  file: 'main' | 'audit';
  db: DatabaseSync;
  columns: string[];
  /** Key order: primary-key columns, or rowid. */
  key: string[];
}

const q = (id: string): string => `"${id.replace(/"/g, '""')}"`;
const isMigrationTable = (name: string): boolean => /_migration(_lock)?$/.test(name);

function openSource(file: string, which: string): DatabaseSync {
  if (!existsSync(file)) throw new DbCopyError(`source ${which} database ${file} does not exist`);
  const db = new DatabaseSync(file, { timeout: 0 });
  try {
    db.exec('pragma locking_mode = exclusive');
    db.exec('begin exclusive');
  } catch {
    db.close();
    throw new DbCopyError(`source ${which} database is in use (a server is running on it?): stop it first`);
  }
  return db;
}

function sourceTables(db: DatabaseSync, file: 'main' | 'audit'): SourceTable[] {
  const names = (db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name").all() as { name: string }[])
    .map((r) => r.name)
    .filter((name) => file !== 'audit' || !SQLITE_ONLY_AUDIT_TABLES.includes(name));
  return names.map((name) => {
    const info = db.prepare(`pragma table_info(${q(name)})`).all() as { name: string; pk: number }[];
    const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    return { name, file, db, columns: info.map((c) => c.name), key: pk.length > 0 ? pk : ['rowid'] };
  });
}

function count(db: DatabaseSync, table: string): number {
  return Number((db.prepare(`select count(*) as n from ${q(table)}`).get() as { n: number }).n);
}

/** Converts one SQLite value to what the target column type expects. */
export function convertValue(v: unknown, dataType: string, where: string): unknown {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 0n) return false;
      if (v === 1 || v === 1n) return true;
      throw new DbCopyError(`${where}: ${String(v)} is not 0/1`);
    case 'timestamp with time zone':
    case 'timestamp without time zone':
    case 'date':
      if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return v;
      throw new DbCopyError(`${where}: not an ISO-8601 time`);
    case 'bytea':
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (typeof v === 'string') return Buffer.from(v, 'utf8');
      throw new DbCopyError(`${where}: not binary`);
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return v.toString();
      throw new DbCopyError(`${where}: not an integer`);
    case 'real':
    case 'double precision':
      if (typeof v === 'number' || typeof v === 'bigint') return v.toString();
      throw new DbCopyError(`${where}: not a number`);
    default:
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) throw new DbCopyError(`${where}: binary value for a ${dataType} column`);
      return v;
  }
}

/** Parents before children by the target's foreign keys (self references ignored). */
function fkOrder(tables: string[], edges: { child: string; parent: string }[]): string[] {
  const set = new Set(tables);
  const parents = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const e of edges) if (set.has(e.child) && set.has(e.parent) && e.child !== e.parent) parents.get(e.child)!.add(e.parent);
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string): void => {
    if (state.get(t) === 'done') return;
    if (state.get(t) === 'visiting') throw new DbCopyError(`foreign-key cycle through ${t}`);
    state.set(t, 'visiting');
    for (const p of [...parents.get(t)!].sort()) visit(p);
    state.set(t, 'done');
    out.push(t);
  };
  for (const t of [...tables].sort()) visit(t);
  return out;
}

export async function copySqliteToPostgres(opts: DbCopyOptions): Promise<DbCopyReport> {
  const schema = validSchemaName(opts.schema ?? 'public');
  const say = opts.progress ?? (() => undefined);
  const batchRows = opts.batchRows ?? 1000;
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 10_000) throw new DbCopyError('batch size must be 1..10000');

  const main = openSource(opts.fromSqlite, 'main');
  const auditFile = auditPathFor(opts.fromSqlite);
  let audit: DatabaseSync | undefined;
  const client = new pg.Client({ connectionString: opts.toUrl, application_name: 'rampart-db-copy' });
  try {
    audit = existsSync(auditFile) ? openSource(auditFile, 'audit') : undefined;

    // Target schema: every migration this build knows.
    const target = await openPostgresStorage(opts.toUrl, { schema, poolSize: 2, statementTimeoutMs: 0 });
    try {
      await migrateInstallation(target, { databaseUrl: opts.toUrl, auditSqlitePath: '' }, opts.modules ?? MODULE_MIGRATIONS);
    } finally {
      await target.close();
    }
    say(`target schema ${schema} migrated`);

    await client.connect();
    const all = [...sourceTables(main, 'main'), ...(audit ? sourceTables(audit, 'audit') : [])];
    const seen = new Set<string>();
    for (const t of all) {
      if (seen.has(t.name)) throw new DbCopyError(`table ${t.name} exists in both source files`);
      seen.add(t.name);
    }

    // Migrations the source applied must all be applied on the target.
    for (const t of all.filter((x) => isMigrationTable(x.name) && !x.name.endsWith('_lock'))) {
      const src = (t.db.prepare(`select name from ${q(t.name)}`).all() as { name: string }[]).map((r) => r.name);
      const have = new Set<string>();
      const exists = await client.query('select 1 from information_schema.tables where table_schema = $1 and table_name = $2', [schema, t.name]);
      if (exists.rowCount) {
        const r = await client.query(`select name from ${q(schema)}.${q(t.name)}`);
        for (const row of r.rows as { name: string }[]) have.add(row.name);
      }
      const missing = src.filter((n) => !have.has(n));
      if (missing.length > 0) {
        throw new DbCopyError(`the target lacks migrations of ${t.name} that the source has (${missing.join(', ')}): register that module in MODULE_MIGRATIONS or use a build that knows them`);
      }
    }

    const tables = all.filter((t) => !isMigrationTable(t.name));
    const colRows = await client.query(
      'select table_name, column_name, data_type, is_identity from information_schema.columns where table_schema = $1',
      [schema],
    );
    const types = new Map<string, Map<string, { type: string; identity: boolean }>>();
    for (const r of colRows.rows as { table_name: string; column_name: string; data_type: string; is_identity: string }[]) {
      let m = types.get(r.table_name);
      if (!m) types.set(r.table_name, (m = new Map()));
      m.set(r.column_name, { type: r.data_type, identity: r.is_identity === 'YES' });
    }
    for (const t of tables) {
      const cols = types.get(t.name);
      if (!cols) throw new DbCopyError(`table ${t.name} of the source has no counterpart in the target (an unregistered module?)`);
      const missing = t.columns.filter((c) => !cols.has(c));
      if (missing.length > 0) throw new DbCopyError(`target table ${t.name} lacks column(s) ${missing.join(', ')}`);
    }

    // The target must be empty.
    const nonEmpty: string[] = [];
    for (const t of tables) {
      const r = await client.query(`select exists (select 1 from ${q(schema)}.${q(t.name)}) as x`);
      if ((r.rows[0] as { x: boolean }).x) nonEmpty.push(t.name);
    }
    if (nonEmpty.length > 0 && !opts.forceEmptyTarget) {
      throw new DbCopyError(`the target is not empty (${nonEmpty.join(', ')}); use --force-empty-target to empty it first`);
    }

    const fk = await client.query(
      `select c.relname as child, p.relname as parent from pg_constraint k
       join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
       join pg_namespace n on n.oid = k.connamespace where k.contype = 'f' and n.nspname = $1`,
      [schema],
    );
    const order = fkOrder(tables.map((t) => t.name), fk.rows as { child: string; parent: string }[]);
    const byName = new Map(tables.map((t) => [t.name, t]));

    await client.query('begin');
    try {
      if (nonEmpty.length > 0) {
        // Only the tables that hold rows: append-only tables (pii_access) refuse TRUNCATE by trigger.
        await client.query(`truncate table ${nonEmpty.map((name) => `${q(schema)}.${q(name)}`).join(', ')} restart identity cascade`);
        say(`emptied ${nonEmpty.length} table(s) of the target`);
      }
      for (const name of order) {
        const t = byName.get(name)!;
        const cols = types.get(name)!;
        const copied = copyTable(t, cols, schema, batchRows, client);
        const n = await copied;
        say(`${name}: ${n} row(s)`);
      }
      // Identity columns continue after the copied keys.
      for (const t of tables) {
        for (const c of t.columns) {
          if (!types.get(t.name)!.get(c)!.identity) continue;
          await client.query(
            `select setval(pg_get_serial_sequence($1, $2), coalesce((select max(${q(c)}) from ${q(schema)}.${q(t.name)}), 0) + 1, false)`,
            [`${q(schema)}.${q(t.name)}`, c],
          );
        }
      }
      await client.query('commit');
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      throw e;
    }

    // Verification.
    const report: TableCopy[] = [];
    for (const t of tables) {
      const r = await client.query(`select count(*)::bigint as n from ${q(schema)}.${q(t.name)}`);
      report.push({ table: t.name, file: t.file, sourceRows: count(t.db, t.name), targetRows: Number((r.rows[0] as { n: string }).n) });
    }
    const auditReport = audit ? await verifyAuditCopy(audit, main, opts.toUrl, schema) : null;
    const ok = report.every((r) => r.sourceRows === r.targetRows) && (auditReport === null || (auditReport.rootMatches && auditReport.verified !== false));
    return { schema, tables: report.sort((a, b) => a.table.localeCompare(b.table)), audit: auditReport, ok };
  } finally {
    await client.end().catch(() => undefined);
    for (const db of [main, audit]) {
      if (!db) continue;
      try {
        db.exec('rollback');
      } catch {
        /* no transaction */
      }
      db.close();
    }
  }
}

async function copyTable(
  t: SourceTable,
  cols: Map<string, { type: string; identity: boolean }>,
  schema: string,
  batchRows: number,
  client: pg.Client,
): Promise<number> {
  const perInsert = Math.max(1, Math.min(batchRows, Math.floor(60_000 / t.columns.length)));
  const keySel = t.key[0] === 'rowid' ? ', rowid as "__rowid"' : '';
  const keyCols = t.key[0] === 'rowid' ? ['__rowid'] : t.key;
  const keyExpr = t.key.map(q).join(', ');
  const first = t.db.prepare(`select ${t.columns.map(q).join(', ')}${keySel} from ${q(t.name)} order by ${keyExpr} limit ?`);
  const next = t.db.prepare(
    `select ${t.columns.map(q).join(', ')}${keySel} from ${q(t.name)} where (${keyExpr}) > (${t.key.map(() => '?').join(', ')}) order by ${keyExpr} limit ?`,
  );
  first.setReadBigInts(true);
  next.setReadBigInts(true);
  const identity = t.columns.some((c) => cols.get(c)!.identity);
  const head = `insert into ${q(schema)}.${q(t.name)} (${t.columns.map(q).join(', ')})${identity ? ' overriding system value' : ''} values `;
  let last: unknown[] | null = null;
  let total = 0;
  for (;;) {
    const rows = (last === null ? first.all(perInsert) : next.all(...(last as never[]), perInsert)) as Record<string, unknown>[];
    if (rows.length === 0) return total;
    const values: unknown[] = [];
    const tuples: string[] = [];
    for (const row of rows) {
      const ph: string[] = [];
      for (const c of t.columns) {
        values.push(convertValue(row[c], cols.get(c)!.type, `${t.name}.${c}`));
        ph.push(`$${values.length}`);
      }
      tuples.push(`(${ph.join(', ')})`);
    }
    await client.query(head + tuples.join(', '), values);
    total += rows.length;
    const lastRow = rows[rows.length - 1]!;
    last = keyCols.map((k) => lastRow[k]);
    if (rows.length < perInsert) return total;
  }
}

async function verifyAuditCopy(audit: DatabaseSync, main: DatabaseSync, url: string, schema: string): Promise<DbCopyReport['audit']> {
  const hasCp = audit.prepare("select 1 from sqlite_master where type = 'table' and name = 'audit_checkpoint'").get();
  if (!hasCp) return null;
  const cp = audit.prepare('select size, root_hash, note from audit_checkpoint order by size desc limit 1').get() as
    | { size: number; root_hash: Uint8Array; note: string }
    | undefined;
  const size = count(audit, 'audit_entry');
  if (!cp) return { size, checkpointSize: 0, rootHash: '', rootMatches: size === 0, verified: null };
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  try {
    const store = new PgAuditStore(pool, { schema });
    const root = await treeRoot(store, Number(cp.size));
    const rootMatches = hashEqual(root, new Uint8Array(cp.root_hash)) && (await store.size()) === size;
    let verified: boolean | null = null;
    const verifier = main.prepare("select value from settings where key = 'audit.verifier'").get() as { value: string } | undefined;
    if (verifier) verified = (await verifyLog(store, cp.note, verifier.value)).ok;
    return { size, checkpointSize: Number(cp.size), rootHash: Buffer.from(root).toString('hex'), rootMatches, verified };
  } finally {
    await pool.end();
  }
}

export function formatCopyReport(r: DbCopyReport): string {
  const w = Math.max(5, ...r.tables.map((t) => t.table.length));
  const lines = [`${'TABLE'.padEnd(w)}  FILE   SOURCE  TARGET`];
  for (const t of r.tables) {
    lines.push(`${t.table.padEnd(w)}  ${t.file.padEnd(5)}  ${String(t.sourceRows).padStart(6)}  ${String(t.targetRows).padStart(6)}${t.sourceRows === t.targetRows ? '' : '  MISMATCH'}`);
  }
  if (r.audit) {
    lines.push(`audit log: ${r.audit.size} entries; root at the source's checkpoint of size ${r.audit.checkpointSize} ${r.audit.rootMatches ? 'matches' : 'DOES NOT MATCH'} (${r.audit.rootHash})`);
    if (r.audit.verified !== null) lines.push(`audit log verify on the target: ${r.audit.verified ? 'OK' : 'FAILED'}`);
  } else {
    lines.push('audit log: none in the source');
  }
  lines.push(r.ok ? `OK: copied into schema ${r.schema}` : 'FAILED: the copy does not match the source');
  return lines.join('\n') + '\n';
}
