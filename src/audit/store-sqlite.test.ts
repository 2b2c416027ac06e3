import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqliteStore } from './testdata/helpers.ts';
import { storeConformance } from './testdata/store-conformance.ts';
import { SqliteAuditStore } from './store-sqlite.ts';

test('sqlite store: conformance', async () => {
  const fx = await sqliteStore();
  try {
    await storeConformance(fx.store);
  } finally {
    await fx.cleanup();
  }
});

test('sqlite store: WAL with synchronous=FULL, one leader per file', async () => {
  const fx = await sqliteStore();
  try {
    assert.equal((fx.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    assert.equal((fx.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous, 2);
    const lease = await fx.store.tryAcquireLeader();
    assert.ok(lease);
    const { DatabaseSync } = await import('node:sqlite');
    const db2 = new DatabaseSync(fx.path);
    const other = new SqliteAuditStore(db2);
    await other.init();
    assert.equal(await other.tryAcquireLeader(), null);
    await lease.release();
    const l2 = await other.tryAcquireLeader();
    assert.ok(l2);
    await l2.release();
    db2.close();
  } finally {
    await fx.cleanup();
  }
});
