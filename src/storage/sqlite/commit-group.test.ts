import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createCommitGroup } from './commit-group.ts';

function fresh(): { raw: DatabaseSync; path: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-group-'));
  const path = join(dir, 'g.db');
  const raw = new DatabaseSync(path);
  raw.exec('pragma journal_mode = wal');
  raw.exec('pragma synchronous = full');
  raw.exec('create table t (k text primary key, v integer not null check (v >= 0))');
  return { raw, path, done: () => { if (raw.isOpen) raw.close(); rmSync(dir, { recursive: true, force: true }); } };
}
const count = (db: DatabaseSync): number => (db.prepare('select count(*) as n from t').get() as { n: number }).n;

describe('commit group', () => {
  it('operations of one turn share one transaction and resolve only after it is committed', async () => {
    const db = fresh();
    try {
      const g = createCommitGroup(db.raw);
      const other = new DatabaseSync(db.path);
      let resolved = 0;
      const ops = ['a', 'b', 'c'].map((k) => g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run(k)).then(() => resolved++));
      assert.equal(g.open, true);
      assert.equal(count(other), 0, 'not visible to another connection before the commit');
      assert.equal(resolved, 0, 'nothing acknowledged before the commit');
      await Promise.all(ops);
      assert.equal(resolved, 3);
      assert.equal(g.open, false);
      assert.equal(count(other), 3, 'durable and visible after it');
      other.close();
    } finally {
      db.done();
    }
  });

  it('a failing operation rolls back alone; the others commit', async () => {
    const db = fresh();
    try {
      const g = createCommitGroup(db.raw);
      const ok1 = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('x'));
      const bad = g.run(() => {
        db.raw.prepare('insert into t (k, v) values (?, 1)').run('half-done');
        db.raw.prepare('insert into t (k, v) values (?, -1)').run('y'); // CHECK fails
      });
      const ok2 = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('z'));
      await assert.rejects(bad, /CHECK constraint failed/);
      await Promise.all([ok1, ok2]);
      assert.deepEqual((db.raw.prepare('select k from t order by k').all() as { k: string }[]).map((r) => r.k), ['x', 'z']);
    } finally {
      db.done();
    }
  });

  it('flush() commits at once (before anything else uses the connection), and maxOps bounds a group', async () => {
    const db = fresh();
    try {
      const g = createCommitGroup(db.raw, { maxOps: 2 });
      const a = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('a'));
      g.flush();
      assert.equal(g.open, false);
      assert.equal(db.raw.isTransaction, false);
      await a;
      const b = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('b'));
      const c = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('c'));
      assert.equal(g.open, false, 'the second operation filled the group and committed it');
      await Promise.all([b, c]);
      g.flush(); // nothing open: no-op
      assert.equal(count(db.raw), 3);
    } finally {
      db.done();
    }
  });

  it('refuses to open a group inside a transaction it does not own', async () => {
    const db = fresh();
    try {
      const g = createCommitGroup(db.raw);
      db.raw.exec('begin');
      await assert.rejects(g.run(() => 1), /another transaction is open/);
      db.raw.exec('rollback');
    } finally {
      db.done();
    }
  });

  it('a failed commit rejects every operation of the group and leaves no transaction open', async () => {
    const db = fresh();
    try {
      db.raw.exec('create table parent (id text primary key)');
      db.raw.exec('create table child (p text references parent(id) deferrable initially deferred)');
      db.raw.exec('pragma foreign_keys = on');
      const g = createCommitGroup(db.raw);
      const a = g.run(() => db.raw.prepare('insert into t (k, v) values (?, 1)').run('a'));
      const b = g.run(() => db.raw.prepare('insert into child (p) values (?)').run('missing')); // fails at COMMIT
      await assert.rejects(a, /FOREIGN KEY/);
      await assert.rejects(b, /FOREIGN KEY/);
      assert.equal(db.raw.isTransaction, false);
      assert.equal(count(db.raw), 0, 'nothing of the group was kept');
    } finally {
      db.done();
    }
  });
});
