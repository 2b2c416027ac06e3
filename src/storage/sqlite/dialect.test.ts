import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { toSqliteValue } from './dialect.ts';
import { openSqliteDatabase } from './open.ts';
import { dbErrorKind } from '../errors.ts';

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-dialect-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

interface T {
  t: { id: number; v: string | null; b: Uint8Array | null };
}

test('toSqliteValue maps booleans, dates and views; refuses objects', () => {
  assert.equal(toSqliteValue(true), 1);
  assert.equal(toSqliteValue(false), 0);
  assert.equal(toSqliteValue(undefined), null);
  assert.equal(toSqliteValue(new Date(0)), '1970-01-01T00:00:00.000Z');
  assert.deepEqual(toSqliteValue(new Uint16Array([1])), new Uint8Array(new Uint16Array([1]).buffer));
  assert.throws(() => toSqliteValue({}), TypeError);
});

test('pragmas: WAL, synchronous=FULL, foreign keys, busy timeout; file is owner-only', async () => {
  using tmp = tempDir();
  const path = join(tmp.dir, 'p.db');
  const { raw, close } = openSqliteDatabase<T>(path);
  try {
    const get = (p: string) => Object.values(raw.prepare(`pragma ${p}`).get() ?? {})[0];
    assert.equal(get('journal_mode'), 'wal');
    assert.equal(get('synchronous'), 2);
    assert.equal(get('foreign_keys'), 1);
    assert.equal(get('busy_timeout'), 5000);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  } finally {
    await close();
  }
});

test('one handle per file per process; reopening after close works', async () => {
  using tmp = tempDir();
  const path = join(tmp.dir, 'o.db');
  const a = openSqliteDatabase<T>(path);
  assert.throws(() => openSqliteDatabase<T>(join(tmp.dir, '.', 'o.db')), /already open/);
  await a.close();
  await a.close();
  const b = openSqliteDatabase<T>(path);
  await b.close();
});

test('transactions are BEGIN IMMEDIATE, commit and roll back; queries, returning, blobs', async () => {
  using tmp = tempDir();
  const { db, raw, close } = openSqliteDatabase<T>(join(tmp.dir, 't.db'));
  try {
    await sql`create table t (id integer primary key, v text, b blob) strict`.execute(db);
    const r = await db.insertInto('t').values({ id: 1, v: 'a', b: new Uint8Array([1, 2]) }).returningAll().executeTakeFirst();
    assert.deepEqual({ ...r }, { id: 1, v: 'a', b: new Uint8Array([1, 2]) });
    await db.transaction().execute(async (trx) => {
      // BEGIN IMMEDIATE took the write lock before any statement ran.
      assert.equal(raw.isTransaction, true);
      await trx.insertInto('t').values({ id: 2, v: 'b', b: null }).execute();
    });
    await assert.rejects(db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ id: 3, v: 'c', b: null }).execute();
      await trx.insertInto('t').values({ id: 1, v: 'dup', b: null }).execute();
    }), (e: unknown) => dbErrorKind(e) === 'unique');
    assert.equal(raw.isTransaction, false);
    const ids = (await db.selectFrom('t').select('id').orderBy('id').execute()).map((x) => x.id);
    assert.deepEqual(ids, [1, 2]);
    const u = await db.updateTable('t').set({ v: 'z' }).where('id', '>', 0).executeTakeFirst();
    assert.equal(u.numUpdatedRows, 2n);
    // Savepoints (nested transactions via Kysely's savepoint API).
    const trx = await db.startTransaction().execute();
    const sp = await trx.savepoint('sp1').execute();
    await sp.insertInto('t').values({ id: 9, v: null, b: null }).execute();
    await sp.rollbackToSavepoint('sp1').execute();
    await trx.commit().execute();
    assert.equal((await db.selectFrom('t').select('id').where('id', '=', 9).execute()).length, 0);
    // Streaming.
    const streamed: number[] = [];
    for await (const row of db.selectFrom('t').select('id').orderBy('id').stream()) streamed.push(row.id);
    assert.deepEqual(streamed, [1, 2]);
  } finally {
    await close();
  }
});

test('concurrent async transactions on one handle are serialised, not interleaved', async () => {
  using tmp = tempDir();
  const { db, close } = openSqliteDatabase<T>(join(tmp.dir, 'c.db'));
  try {
    await sql`create table t (id integer primary key, v text, b blob) strict`.execute(db);
    await db.insertInto('t').values({ id: 1, v: '0', b: null }).execute();
    // Read-modify-write in 20 concurrent transactions: lost updates would show as a lower count.
    await Promise.all(Array.from({ length: 20 }, () => db.transaction().execute(async (trx) => {
      const cur = await trx.selectFrom('t').select('v').where('id', '=', 1).executeTakeFirstOrThrow();
      await new Promise((r) => setImmediate(r));
      await trx.updateTable('t').set({ v: String(Number(cur.v) + 1) }).where('id', '=', 1).execute();
    })));
    assert.equal((await db.selectFrom('t').select('v').where('id', '=', 1).executeTakeFirstOrThrow()).v, '20');
  } finally {
    await close();
  }
});
