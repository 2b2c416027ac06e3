import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runCli } from './program.ts';
import { storageMigrations } from '../storage/migrations.ts';
import { TEST_DATABASE_URL, dropSchema, pgSkipReason, randomSchema } from '../cluster/testdata/pg.ts';

const skip = await pgSkipReason();

function io(env: Record<string, string>): { out: string[]; err: string[]; io: Parameters<typeof runCli>[1] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env } };
}

test('migrate on SQLite creates the storage and audit tables and is idempotent', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-migrate-'));
  try {
    for (let i = 0; i < 2; i++) {
      const x = io({ RAMPART_DATA_DIR: dir });
      assert.equal(await runCli(['migrate', '--dev'], x.io), 0, x.err.join(''));
      assert.match(x.out.join(''), /migrated sqlite: rampart_storage_migration, (rampart_[a-z_]+_migration, )+audit/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('db copy refuses bad arguments before touching anything', async () => {
  const x = io({});
  assert.equal(await runCli(['db', 'copy', '--from', '/x.db', '--to', 'postgres://h/db'], x.io), 2);
  assert.match(x.err.join(''), /--from must be sqlite:/);
  const y = io({});
  assert.equal(await runCli(['db', 'copy', '--from', 'sqlite:/x.db', '--to', 'mysql://h/db'], y.io), 2);
  const z = io({});
  assert.equal(await runCli(['db', 'copy', '--from', 'sqlite:/nonexistent/rampart.db', '--to', 'postgres://127.0.0.1:1/x'], z.io), 1);
  assert.match(z.err.join(''), /does not exist/);
});

test('postgres: migrate from three nodes at once leaves one complete schema', { skip }, async () => {
  const schema = randomSchema();
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-migrate-'));
  try {
    const env = { RAMPART_DATA_DIR: dir, RAMPART_DATABASE_URL: TEST_DATABASE_URL, RAMPART_DATABASE_SCHEMA: schema };
    const runs = [0, 1, 2].map(() => io(env));
    const codes = await Promise.all(runs.map((r) => runCli(['migrate', '--dev'], r.io)));
    assert.deepEqual(codes, [0, 0, 0], runs.map((r) => r.err.join('')).join('\n'));
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      const r = await c.query('select table_name from information_schema.tables where table_schema = $1 order by 1', [schema]);
      const names = (r.rows as { table_name: string }[]).map((x) => x.table_name);
      for (const t of ['devices', 'command_queue', 'settings', 'audit_entry', 'audit_checkpoint', 'rampart_storage_migration']) assert.ok(names.includes(t), t);
      const m = await c.query(`select count(*)::int as n from "${schema}".rampart_storage_migration`);
      assert.equal((m.rows[0] as { n: number }).n, Object.keys(storageMigrations('postgres')).length, 'each migration applied once');
    } finally {
      await c.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  }
});

test('postgres: migrations succeed while other schemas of the database are created and dropped', { skip, timeout: 120_000 }, async () => {
  const { openPostgresStorage } = await import('../storage/open.ts');
  const churn = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await churn.connect();
  let stop = false;
  const churner = (async () => {
    for (let i = 0; !stop; i++) {
      const s = randomSchema('rampart_churn');
      await churn.query(`create schema "${s}"; create table "${s}".t (id int primary key, v text)`);
      await churn.query(`drop schema "${s}" cascade`);
    }
  })();
  const schemas: string[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const schema = randomSchema();
      schemas.push(schema);
      const o = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 2 });
      try {
        await o.migrate();
      } finally {
        await o.close();
      }
    }
  } finally {
    stop = true;
    await churner;
    await churn.end();
    for (const s of schemas) await dropSchema(s);
  }
});
