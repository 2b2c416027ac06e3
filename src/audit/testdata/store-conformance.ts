// The behaviour every AuditStore must have; run by store-sqlite.test.ts and store-pg.test.ts.
import assert from 'node:assert/strict';
import { buildEntry } from '../entry.ts';
import type { AuditStore, StoredEntry } from '../store.ts';
import type { AuditEvent } from '../types.ts';

export function makeEntries(from: number, n: number, prev: Uint8Array | null = null): StoredEntry[] {
  const out: StoredEntry[] = [];
  let p = prev;
  for (let i = from; i < from + n; i++) {
    const ev: AuditEvent = {
      action: i % 2 ? 'device.checkin' : 'admin.login',
      actor: { type: i % 2 ? 'device' : 'admin', id: `actor-${i % 3}` },
      source: `192.0.2.${i % 4}`,
      target: { type: 'device', id: `dev-${i % 5}` },
      outcome: 'success',
      time: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
    };
    const b = buildEntry(ev, i, p, new Date());
    p = b.stored.leafHash;
    out.push(b.stored);
  }
  return out;
}

export async function storeConformance(store: AuditStore): Promise<void> {
  await store.init(); // idempotent
  assert.equal(await store.size(), 0);
  const a = makeEntries(0, 30);
  await store.append(a, [{ level: 4, index: 0, hash: Buffer.alloc(32, 9) }]);
  assert.equal(await store.size(), 30);
  // An append that does not continue the log is refused and writes nothing.
  await assert.rejects(store.append(makeEntries(29, 2), []), /another writer/);
  await assert.rejects(store.append(makeEntries(31, 2), []), /another writer/);
  assert.equal(await store.size(), 30);

  const runs = await store.readHashes([{ level: 0, start: 28, count: 4 }, { level: 4, start: 0, count: 2 }]);
  assert.equal(runs[0]!.length, 2);
  assert.deepEqual(Buffer.from(runs[0]![0]!), Buffer.from(a[28]!.leafHash));
  assert.deepEqual(runs[1]!.map((h) => Buffer.from(h)), [Buffer.alloc(32, 9)]);

  const read: StoredEntry[] = [];
  for await (const e of store.readEntries(5, 9)) read.push(e);
  assert.deepEqual(read.map((e) => e.index), [5, 6, 7, 8]);
  assert.equal(read[0]!.entry, a[5]!.entry);
  assert.equal(read[0]!.targetId, 'dev-0');
  let all = 0;
  for await (const _ of store.readEntries(0)) all++;
  assert.equal(all, 30);
  // The verifier's batched byte reader returns the same entries as their stored UTF-8 bytes.
  if (store.readLeafBatches) {
    const recs = [];
    for await (const b of store.readLeafBatches(3, 30)) recs.push(...b);
    assert.deepEqual(recs.map((r) => r.position), Array.from({ length: 27 }, (_, i) => i + 3));
    assert.equal(Buffer.from(recs[2]!.bytes!).toString('utf8'), a[5]!.entry);
    assert.deepEqual(Buffer.from(recs[2]!.leafHash), Buffer.from(a[5]!.leafHash));
  }

  // Search
  const ids = async (q: Parameters<AuditStore['search']>[0]) => (await store.search(q)).map((e) => e.index);
  assert.deepEqual(await ids({ actorId: 'actor-1', limit: 3 }), [1, 4, 7]);
  assert.deepEqual(await ids({ action: 'admin.login', targetId: 'dev-0' }), [0, 10, 20]);
  assert.deepEqual(await ids({ actionPrefix: 'device', source: '192.0.2.1' }), [1, 5, 9, 13, 17, 21, 25, 29]);
  assert.deepEqual(await ids({ from: '2025-01-01T00:00:10.000Z', to: '2025-01-01T00:00:13.000Z' }), [10, 11, 12]);
  assert.deepEqual(await ids({ afterIndex: 26 }), [27, 28, 29]);
  assert.deepEqual(await ids({ actorType: 'device', outcome: 'success', afterIndex: 20, limit: 2 }), [21, 23]);
  assert.deepEqual(await ids({ actorId: "x' OR 1=1 --" }), []);

  // Checkpoints
  assert.equal(await store.latestCheckpoint(), null);
  await store.putCheckpoint({ size: 10, rootHash: Buffer.alloc(32, 1), note: 'n10', createdAt: '2025-01-01T00:00:00.000Z' });
  await store.putCheckpoint({ size: 30, rootHash: Buffer.alloc(32, 3), note: 'n30', createdAt: '2025-01-01T00:00:01.000Z' });
  await store.putCheckpoint({ size: 30, rootHash: Buffer.alloc(32, 4), note: 'dup', createdAt: '2025-01-01T00:00:02.000Z' });
  assert.equal((await store.latestCheckpoint())!.note, 'n30');
  assert.deepEqual((await store.listCheckpoints()).map((c) => c.size), [10, 30]);
  assert.deepEqual((await store.listCheckpoints({ fromSize: 11 })).map((c) => c.note), ['n30']);

  // Cursors
  assert.equal(await store.getCursor('syslog'), 0);
  await store.setCursor('syslog', 17);
  await store.setCursor('syslog', 18);
  assert.equal(await store.getCursor('syslog'), 18);

  // Leader
  const lease = await store.tryAcquireLeader();
  assert.ok(lease && lease.held);
  await lease.release();
  assert.equal(lease.held, false);
  const again = await store.tryAcquireLeader();
  assert.ok(again);
  await again.release();
}
