// Access-accounting benchmark (not a test): 100,000 staff and 10 million
// recorded reads in pii_access, then the two questions the issue asks,
// through the same code the API uses (src/directory/access.ts):
//   "which people, and how many, did principal X see since T"
//   "who saw person Y since T"
// on SQLite (file) and PostgreSQL (random schema, dropped afterwards).
//
//   ./node_modules/.bin/node bench/pii-access.ts [--reads 10000000] [--staff 100000]
//        [--principals 200] [--backend sqlite|postgres|both] [--db /path/file.db]
//
// Distribution: reads spread over 365 days; one heavy principal (a helpdesk
// or SCIM token) holds 10% of all reads, the other principals share the rest
// evenly. Seeding is bulk SQL (not what is measured).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { openPostgresStorage, openSqliteStorage } from '../src/storage/open.ts';
import type { OpenedStorage } from '../src/storage/open.ts';
import { DIRECTORY_MIGRATION_TABLE, directoryMigrations } from '../src/directory/migrations.ts';
import { accessByPrincipal, accessBySubject, accessContextOf, rebuildAccessSummary, recordAccess } from '../src/directory/access.ts';
import type { PiiTables } from '../src/directory/types.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : def;
}
const READS = Number(arg('reads', '10000000'));
const STAFF = Number(arg('staff', '100000'));
const PRINCIPALS = Number(arg('principals', '200'));
const BACKEND = arg('backend', 'both');
const PG_URL = process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const END = Date.parse('2026-11-22T00:00:00Z');
const SPAN = 365 * 86_400_000;
const BATCH = 1_000_000;

// The log's indexes as src/directory/migrations.ts creates them: dropped for
// the bulk seed and built again afterwards (much faster than 10 million
// random index inserts); the measured queries run on the same indexes.
const ACCESS_INDEXES: Array<[string, string, string[]]> = [
  ['pii_access_principal', 'pii_access', ['principal', 'at', 'staff_id']],
  ['pii_access_staff', 'pii_access', ['staff_id', 'at']],
];

async function seed(o: OpenedStorage): Promise<void> {
  const t0 = Date.now();
  for (const [name] of ACCESS_INDEXES) await o.db.schema.dropIndex(name).execute();
  for (let done = 0; done < READS; done += BATCH) {
    const n = Math.min(BATCH, READS - done);
    // Time grows with the row number (an append-only log); principal and subject are random.
    if (o.backend === 'sqlite') {
      await sql`with recursive c(x) as (select ${sql.lit(done)} union all select x + 1 from c where x < ${sql.lit(done + n - 1)})
        insert into pii_access (at, principal, actor_type, token_id, session_id, source, request_id, purpose, revealed, staff_id)
        select ${sql.lit(END - SPAN)} + x * ${sql.lit(Math.floor(SPAN / READS))},
               case when abs(random()) % 10 = 0 then 'heavy' else 'p' || (abs(random()) % ${sql.lit(PRINCIPALS - 1)}) end,
               'token', null, null, '10.0.0.1', null, 'list', case when abs(random()) % 100 = 0 then 1 else 0 end,
               'staff-' || substr('000000' || (abs(random()) % ${sql.lit(STAFF)}), -6)
        from c`.execute(o.db);
    } else {
      await sql`insert into pii_access (at, principal, actor_type, token_id, session_id, source, request_id, purpose, revealed, staff_id)
        select ${END - SPAN}::bigint + x * ${Math.floor(SPAN / READS)}::bigint,
               case when random() < 0.1 then 'heavy' else 'p' || floor(random() * ${PRINCIPALS - 1})::int end,
               'token', null, null, '10.0.0.1', null, 'list', case when random() < 0.01 then 1 else 0 end,
               'staff-' || lpad(floor(random() * ${STAFF})::int::text, 6, '0')
        from generate_series(${done}::bigint, ${done + n - 1}::bigint) as x`.execute(o.db);
    }
    process.stderr.write(`  ${o.backend}: ${done + n} rows (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  for (const [name, table, cols] of ACCESS_INDEXES) await o.db.schema.createIndex(name).on(table).columns(cols).execute();
  process.stderr.write(`  ${o.backend}: indexes built (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  await rebuildAccessSummary(o.db.withTables<PiiTables>() as unknown as Kysely<PiiTables>);
  process.stderr.write(`  ${o.backend}: summary rebuilt (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  // PostgreSQL: what autovacuum does to a settled table (visibility map, so
  // the covering indexes answer without heap visits; statistics).
  if (o.backend === 'postgres') await sql`vacuum analyze`.execute(o.db);
  else await sql`analyze`.execute(o.db);
}

async function time<T>(fn: () => Promise<T>, runs = 5): Promise<{ median: number; max: number; result: T }> {
  const ts: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)] as number, max: ts[ts.length - 1] as number, result };
}

async function measure(o: OpenedStorage): Promise<void> {
  const db = o.db.withTables<PiiTables>() as unknown as Kysely<PiiTables>;
  const total = Number((await sql<{ n: number }>`select count(*) as n from pii_access`.execute(o.db)).rows[0]?.n);
  console.log(`\n${o.backend}: ${total} rows in pii_access, ${STAFF} staff, ${PRINCIPALS} principals`);
  const cases: Array<[string, () => Promise<string>]> = [];
  for (const [who, days] of [['heavy', 1], ['heavy', 30], ['heavy', 365], ['p7', 30], ['p7', 365]] as const) {
    cases.push([`principal ${who} since ${days} d (counts + first 1000 ids)`, async () => {
      const r = await accessByPrincipal(db, { principal: who, since: new Date(END - days * 86_400_000), limit: 1000 });
      return `reads=${r.reads} subjects=${r.subjects} revealed=${r.revealedSubjects} page=${r.staffIds.length}`;
    }]);
  }
  cases.push(['subject staff-004242 since 365 d (per principal)', async () => {
    const r = await accessBySubject(db, { staffId: 'staff-004242', since: new Date(END - SPAN), limit: 1000 });
    return `principals=${r.principals.length} reads=${r.principals.reduce((a, p) => a + p.reads, 0)}`;
  }]);
  cases.push(['principal heavy between 60 and 30 d ago (bounded window: from the log)', async () => {
    const r = await accessByPrincipal(db, { principal: 'heavy', since: new Date(END - 60 * 86_400_000), until: new Date(END - 30 * 86_400_000), limit: 1000 });
    return `reads=${r.reads} subjects=${r.subjects}`;
  }]);
  for (const [label, fn] of cases) {
    const r = await time(fn);
    console.log(`  ${label}: median ${r.median.toFixed(1)} ms, max ${r.max.toFixed(1)} ms (${r.result})`);
  }
  // The write side: one list response of 100 subjects.
  const ctx = accessContextOf({ type: 'token', id: 'bench', permissions: new Set(), source: '127.0.0.1' });
  const ids = Array.from({ length: 100 }, (_, i) => `staff-${String(i * 997 % STAFF).padStart(6, '0')}`);
  const w = await time(() => recordAccess(db, ctx, 'list', false, ids, new Date(END)), 20);
  console.log(`  record one response of 100 subjects: median ${w.median.toFixed(1)} ms, max ${w.max.toFixed(1)} ms`);
}

async function run(o: OpenedStorage, cleanup: () => Promise<void>): Promise<void> {
  try {
    await o.migrate();
    await o.migrateModule(DIRECTORY_MIGRATION_TABLE, directoryMigrations(o.backend));
    await seed(o);
    await measure(o);
  } finally {
    await cleanup();
  }
}

if (BACKEND === 'sqlite' || BACKEND === 'both') {
  const given = arg('db', '');
  const dir = given ? '' : mkdtempSync(join(tmpdir(), 'rampart-pii-bench-'));
  const o = await openSqliteStorage(given || join(dir, 'bench.db'));
  await run(o, async () => {
    await o.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}
if (BACKEND === 'postgres' || BACKEND === 'both') {
  const schema = `rampart_bench_${randomBytes(4).toString('hex')}`;
  const o = await openPostgresStorage(PG_URL, { schema, poolSize: 2, statementTimeoutMs: 3_600_000 });
  await run(o, async () => {
    await o.db.schema.dropSchema(schema).ifExists().cascade().execute();
    await o.close();
  });
}
