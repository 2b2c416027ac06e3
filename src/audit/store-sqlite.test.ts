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

test('sqlite store: a log written before audit_leaf is backfilled on init (resumably); read-only stores fall back to audit_entry', async () => {
  const { makeEntries } = await import('./testdata/store-conformance.ts');
  const { CompactRange, inclusionProof, verifyInclusion, rootFromLeafHashes } = await import('./merkle.ts');
  const { NODE_STRIDE } = await import('./store.ts');
  const tree = new CompactRange();
  const nodesOf = (es: { leafHash: Uint8Array }[]) => {
    const nodes: { level: number; index: number; hash: Uint8Array }[] = [];
    for (const e of es) tree.append(e.leafHash, (level, index, hash) => level % NODE_STRIDE === 0 && nodes.push({ level, index, hash }));
    return nodes;
  };
  const fx = await sqliteStore();
  try {
    const entries = makeEntries(0, 250);
    await fx.store.append(entries, nodesOf(entries));
    // The schema as it was before this migration: no audit_leaf, no audit_meta.
    fx.db.exec('DROP TABLE audit_leaf; DROP TABLE audit_meta');
    const { DatabaseSync } = await import('node:sqlite');
    const leaves = entries.map((e) => Buffer.from(e.leafHash));
    const root = rootFromLeafHashes(leaves);

    // A read-only store does not migrate and still serves proofs from audit_entry.
    const ro = new SqliteAuditStore(new DatabaseSync(fx.path), { readOnly: true });
    await ro.init();
    assert.equal(fx.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'audit_leaf'").get()!.n, 0);
    assert.ok(verifyInclusion(leaves[77]!, 77, 250, await inclusionProof(ro, 77, 250), root));
    await assert.rejects(ro.append(makeEntries(250, 1, leaves[249]), []), /read-only or not migrated/);

    // An interrupted backfill: the first chunk was copied, then the process died.
    fx.db.exec(`CREATE TABLE audit_leaf (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
      CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO audit_leaf SELECT idx, leaf_hash FROM audit_entry WHERE idx < 40;
      INSERT INTO audit_meta VALUES ('leaf_backfill', '40');`);
    const db2 = new DatabaseSync(fx.path);
    const migrated = new SqliteAuditStore(db2, { backfillChunk: 64 });
    await migrated.init();
    const rows = fx.db.prepare('SELECT idx, hash FROM audit_leaf ORDER BY idx').all() as { idx: number; hash: Uint8Array }[];
    assert.deepEqual(rows.map((r) => r.idx), Array.from({ length: 250 }, (_, i) => i));
    rows.forEach((r, i) => assert.deepEqual(Buffer.from(r.hash), leaves[i]));
    assert.equal(fx.db.prepare("SELECT value FROM audit_meta WHERE key = 'leaf_backfill'").get()!.value, 'done');
    // After the migration, appends write both tables in one transaction, and proofs read audit_leaf.
    const more = makeEntries(250, 10, leaves[249]);
    await migrated.append(more, nodesOf(more));
    assert.equal(fx.db.prepare('SELECT count(*) AS n FROM audit_leaf').get()!.n, 260);
    const all = [...leaves, ...more.map((e) => Buffer.from(e.leafHash))];
    // Proofs really come from audit_leaf: corrupt one stored leaf there and the proof through it changes.
    assert.ok(verifyInclusion(all[255]!, 255, 260, await inclusionProof(migrated, 255, 260), rootFromLeafHashes(all)));
    fx.db.prepare('UPDATE audit_leaf SET hash = ? WHERE idx = 254').run(Buffer.alloc(32, 7));
    assert.ok(!verifyInclusion(all[255]!, 255, 260, await inclusionProof(migrated, 255, 260), rootFromLeafHashes(all)));
    db2.close();
  } finally {
    await fx.cleanup();
  }
});

test('sqlite store: the result lookup (actor, action, target) is one index seek, not a walk of every entry of the target', async () => {
  const fx = await sqliteStore();
  try {
    const plan = (fx.db.prepare('EXPLAIN QUERY PLAN SELECT * FROM audit_entry WHERE actor_id = ? AND action = ? AND target_id = ? ORDER BY idx LIMIT ?')
      .all('device-1', 'command.result', 'fleet-command', 1) as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, /USING INDEX audit_entry_actor_action_target \(actor_id=\? AND action=\? AND target_id=\?\)/, plan);
  } finally {
    await fx.cleanup();
  }
});
