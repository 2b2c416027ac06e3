import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { alwaysLeader, createPgLeaderElection } from './leader.ts';
import { lockKey } from './locks.ts';
import { TEST_DATABASE_URL, pgSkipReason, randomSchema, waitFor } from './testdata/pg.ts';

const skip = await pgSkipReason();

test('sqlite: a single node is always the leader until stopped', async () => {
  const l = alwaysLeader();
  assert.equal(l.isLeader, true);
  assert.ok(l.signal && !l.signal.aborted);
  const s = l.signal;
  await l.stop();
  assert.equal(l.isLeader, false);
  assert.equal(s.aborted, true);
});

test('lock keys differ per schema and per name, and names are validated', () => {
  assert.notDeepEqual(lockKey('a', 'leader'), lockKey('b', 'leader'));
  assert.notDeepEqual(lockKey('a', 'leader'), lockKey('a', 'other'));
  assert.throws(() => lockKey('a', 'Bad Name'), /invalid lock name/);
});

test('postgres: one leader among three; leadership moves when the leader session is terminated', { skip }, async () => {
  const schema = randomSchema();
  const name = `t${Date.now() % 100000}`;
  const nodes = [0, 1, 2].map(() => createPgLeaderElection({ connectionString: TEST_DATABASE_URL, schema, name, retryMs: 50 }));
  const changes: string[] = [];
  nodes.forEach((n, i) => n.onChange((v) => changes.push(`${i}:${v}`)));
  try {
    await Promise.all(nodes.map((n) => n.ready()));
    await waitFor(() => nodes.some((n) => n.isLeader), 10_000, 'a leader');
    // Several attempts later still exactly one.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(nodes.filter((n) => n.isLeader).length, 1);
    const first = nodes.findIndex((n) => n.isLeader);
    const signal = nodes[first]!.signal!;
    // The fenced query runs on the session that holds the lock.
    const held = await nodes[first]!.fenced(
      "select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and granted",
    );
    assert.equal((held.rows[0] as { n: number }).n, 1);
    await assert.rejects(nodes[(first + 1) % 3]!.fenced('select 1'), /not the leader/);

    // Kill the leader's session from outside, as a crash or a network cut would.
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const key = lockKey(schema, name);
    const killed = await admin.query(
      "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and classid = $1::int::oid and objid = $2::int::oid and granted",
      [key.classId, key.objId],
    );
    await admin.end();
    assert.equal(killed.rowCount, 1);
    await waitFor(() => signal.aborted, 10_000, 'the old leader to notice');
    assert.equal(nodes[first]!.isLeader, false);
    await waitFor(() => nodes.filter((n) => n.isLeader).length === 1, 10_000, 'a new leader');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(nodes.filter((n) => n.isLeader).length, 1);
    assert.ok(changes.includes(`${first}:false`));
    // A clean stop hands leadership over too.
    const second = nodes.findIndex((n) => n.isLeader);
    await nodes[second]!.stop();
    await waitFor(() => nodes.filter((n) => n.isLeader).length === 1, 10_000, 'a third leader');
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
});

test('postgres: the cluster lock admits one holder at a time and keeps the pool statement timeout', { skip }, async () => {
  const { openPostgresStorage } = await import('../storage/open.ts');
  const { withClusterLock, holdClusterLock } = await import('./locks.ts');
  const { dropSchema } = await import('./testdata/pg.ts');
  const schema = randomSchema();
  const a = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 1, statementTimeoutMs: 4321 });
  const b = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 3 });
  try {
    const release = await holdClusterLock(a, 'startup');
    let entered = false;
    const waiting = withClusterLock(b, 'startup', async () => {
      entered = true;
      return 42;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(entered, false, 'the second holder waits');
    await release();
    assert.equal(await waiting, 42);
    // The pool's one connection went back with its configured statement_timeout.
    const { sql } = await import('kysely');
    const r = await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(a.db);
    assert.equal(r.rows[0]?.t, '4321ms');
  } finally {
    await a.close();
    await b.close();
    await dropSchema(schema);
  }
});
