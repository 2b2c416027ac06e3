import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AuditLog } from './log.ts';
import { generateNoteKey, openCheckpoint, parseSignerKey, parseVerifierKey } from './note.ts';
import { FileCheckpointSink, readCheckpointFile } from './sinks.ts';
import { hashLeaf, verifyConsistency, verifyInclusion } from './merkle.ts';
import { parseEntry } from './entry.ts';
import { pgStore, sqliteStore, tempDir } from './testdata/helpers.ts';
import type { AuditStore, StoredEntry, StoredNode } from './store.ts';
import type { AuditEvent } from './types.ts';

const ORIGIN = 'rampart.test/audit';
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);
const verifier = parseVerifierKey(key.verifierKey);

export const ev = (i: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  action: i % 3 === 0 ? 'device.authenticate' : 'command.enqueue',
  actor: { type: i % 2 ? 'admin' : 'device', id: `actor-${i % 5}` },
  source: `10.0.0.${i % 7}`,
  target: { type: 'device', id: `dev-${i % 11}` },
  outcome: 'success',
  requestId: `req-${i}`,
  details: { n: i },
  ...over,
});

/** Wraps a store to count append() transactions. */
function counting(store: AuditStore): AuditStore & { appends: number[] } {
  const appends: number[] = [];
  return new Proxy(store, {
    get(target, prop, recv) {
      if (prop === 'appends') return appends;
      if (prop === 'append') {
        return async (entries: readonly StoredEntry[], nodes: readonly StoredNode[]) => {
          appends.push(entries.length);
          return target.append(entries, nodes);
        };
      }
      const v = Reflect.get(target, prop, recv) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as AuditStore & { appends: number[] };
}

for (const backend of ['sqlite', 'postgres'] as const) {
  test(`${backend}: group commit, checkpoints, proofs, reopen`, async (t) => {
    const fx = backend === 'sqlite' ? await sqliteStore() : await pgStore();
    if ('skip' in fx) return t.skip(fx.skip);
    const td = tempDir();
    try {
      const store = counting(fx.store);
      const sinkPath = join(td.dir, 'checkpoints.jsonl');
      const log = await AuditLog.open({ store, origin: ORIGIN, signer, sinks: [new FileCheckpointSink(sinkPath)], checkpointIntervalMs: 50 });
      // 1000 concurrent records: far fewer transactions than records.
      await Promise.all(Array.from({ length: 1000 }, (_, i) => log.record(ev(i))));
      assert.equal(log.size, 1000);
      assert.equal(store.appends.reduce((a, b) => a + b, 0), 1000);
      assert.ok(store.appends.length < 20, `transactions: ${store.appends.length}`);
      // Indices are assigned in call order, entries link to their predecessor.
      const got = await store.search({ limit: 3 });
      assert.deepEqual(got.map((e) => e.index), [0, 1, 2]);
      assert.equal(parseEntry(got[1]!.entry)!.prev, Buffer.from(got[0]!.leafHash).toString('hex'));
      assert.equal(parseEntry(got[2]!.entry)!.requestId, 'req-2');

      // A checkpoint appears within the interval, is stored and reaches the sink.
      await new Promise((r) => setTimeout(r, 150));
      await log.sinksIdle();
      const cp1 = await store.latestCheckpoint();
      assert.ok(cp1 && cp1.size === 1000);
      const opened = openCheckpoint(cp1.note, verifier, ORIGIN);
      assert.deepEqual(Buffer.from(opened.rootHash), Buffer.from(log.root()));
      assert.deepEqual(readCheckpointFile(sinkPath).map((c) => c.note), [cp1.note]);

      // Inclusion proofs against the signed root.
      for (const i of [0, 1, 499, 998, 999]) {
        const p = await log.inclusionProof(i, cp1.size);
        assert.ok(verifyInclusion(p.leafHash, i, cp1.size, p.proof, opened.rootHash), `index ${i}`);
      }
      const one = (await store.search({ afterIndex: 776, limit: 1 }))[0]!;
      assert.deepEqual(Buffer.from(hashLeaf(Buffer.from(one.entry))), Buffer.from(one.leafHash));

      await Promise.all(Array.from({ length: 333 }, (_, i) => log.record(ev(1000 + i))));
      const cp2 = await log.checkpoint();
      assert.equal(cp2!.size, 1333);
      const proof = await log.consistencyProof(1000, 1333);
      assert.ok(verifyConsistency(1000, 1333, proof, cp1.rootHash, cp2!.rootHash));

      // Invalid events are rejected without disturbing the batch.
      const results = await Promise.allSettled([log.record(ev(1)), log.record({ ...ev(2), action: 'Bad Action' }), log.record(ev(3))]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal(log.size, 1335);

      // Only one writer: a second open is refused while the first holds the lease.
      if (backend === 'postgres') await assert.rejects(AuditLog.open({ store: fx.store, origin: ORIGIN, signer }), /another writer/);
      await log.close();
      const again = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer });
      assert.equal(again.size, 1335);
      assert.deepEqual(Buffer.from(again.root()), Buffer.from((await fx.store.latestCheckpoint())!.rootHash));
      await again.record(ev(5000));
      assert.equal(again.size, 1336);
      await again.close();
    } finally {
      await fx.cleanup();
      td.cleanup();
    }
  });
}

test('sqlite: refuses to extend a log that no longer matches its last checkpoint', async () => {
  const fx = await sqliteStore();
  try {
    const log = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer });
    for (let i = 0; i < 20; i++) await log.record(ev(i));
    await log.close();
    // The tree is read from audit_leaf and audit_node (audit_entry.leaf_hash is checked by the verifier against the entry).
    fx.db.prepare('UPDATE audit_leaf SET hash = ? WHERE idx = 17').run(Buffer.alloc(32, 1));
    await assert.rejects(AuditLog.open({ store: fx.store, origin: ORIGIN, signer }), /does not match its last checkpoint/);
    fx.db.prepare('DELETE FROM audit_entry WHERE idx >= 10').run();
    await assert.rejects(AuditLog.open({ store: fx.store, origin: ORIGIN, signer }), /shorter than its last checkpoint/);
  } finally {
    await fx.cleanup();
  }
});

test('a write that fails is not acknowledged and leaves the tree unchanged', async () => {
  const fx = await sqliteStore();
  try {
    let fail = false;
    const store = new Proxy(fx.store, {
      get(target, prop, recv) {
        if (prop === 'append' && fail) return async () => { throw new Error('disk full'); };
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const log = await AuditLog.open({ store, origin: ORIGIN, signer });
    await log.record(ev(0));
    const root = log.root();
    fail = true;
    await assert.rejects(log.record(ev(1)), /disk full/);
    assert.equal(log.size, 1);
    assert.deepEqual(log.root(), root);
    fail = false;
    await log.record(ev(2));
    assert.equal(await fx.store.size(), 2);
    await log.close();
  } finally {
    await fx.cleanup();
  }
});

test('a lost leader lease stops writing', async () => {
  const fx = await sqliteStore();
  try {
    let held = true;
    const log = await AuditLog.open({
      store: fx.store, origin: ORIGIN, signer,
      acquireLeader: async () => ({ get held() { return held; }, release: async () => { held = false; } }),
    });
    await log.record(ev(0));
    held = false;
    await assert.rejects(log.record(ev(1)), /lost its leader lease/);
    await assert.rejects(log.record(ev(2)), /lost its leader lease/);
    assert.equal(await fx.store.size(), 1);
    await log.close();
  } finally {
    await fx.cleanup();
  }
});

test('leader hook returning null refuses to open', async () => {
  const fx = await sqliteStore();
  try {
    await assert.rejects(AuditLog.open({ store: fx.store, origin: ORIGIN, signer, acquireLeader: async () => null }), /another writer/);
  } finally {
    await fx.cleanup();
  }
});
