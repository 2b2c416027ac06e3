// Several nodes appending to one PostgreSQL audit log (AuditLog `shared`):
// one total order, one Merkle tree, one checkpoint signer at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { AuditLog } from './log.ts';
import { generateNoteKey, parseSignerKey } from './note.ts';
import { PgAuditStore } from './store-pg.ts';
import { verifyLog } from './verify.ts';
import { PG_CONFIG, pgStore } from './testdata/helpers.ts';
import type { AuditEvent } from './types.ts';

const ORIGIN = 'rampart.test/audit';
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);

const ev = (node: number, i: number): AuditEvent => ({
  action: 'command.result',
  actor: { type: 'device', id: `dev-${i % 13}` },
  target: { type: 'command', id: `n${node}-c${i}` },
  outcome: 'success',
  details: { node, i },
});

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('postgres: two nodes append concurrently into one verifiable log; one signer, handed over when its session dies', async (t) => {
  const fx = await pgStore();
  if ('skip' in fx) return t.skip(fx.skip);
  const pools = [0, 1].map((i) => {
    const p = new pg.Pool({ ...PG_CONFIG, max: 4, application_name: `audit-node-${fx.schema}-${i}` });
    p.on('error', () => undefined);
    return p;
  });
  const stores = pools.map((p) => new PgAuditStore(p, { schema: fx.schema }));
  const errors: string[] = [];
  // A node cut off from the database cannot take the lock again: `reachable` models that.
  const reachable = [true, true];
  const logs = await Promise.all(stores.map((store, i) =>
    AuditLog.open({
      store, origin: ORIGIN, signer, shared: true, checkpointIntervalMs: 30, maxBatch: 64,
      acquireLeader: async () => (reachable[i] ? store.tryAcquireLeader() : null),
      onError: (e, w) => errors.push(`${w}: ${String(e)}`),
    })));
  try {
    assert.equal(logs.filter((l) => l.isSigner).length, 1, 'exactly one signer');
    // Interleaved bursts from both nodes.
    const indices: number[] = [];
    for (let round = 0; round < 4; round++) {
      const got = await Promise.all(logs.flatMap((log, node) => Array.from({ length: 150 }, (_, i) => log.append(ev(node, round * 1000 + i)))));
      indices.push(...got);
    }
    const n = indices.length;
    assert.deepEqual([...indices].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), 'indices are 0..n-1, each once');
    assert.equal(await fx.store.size(), n);
    const signerIdx = logs.findIndex((l) => l.isSigner);
    await waitFor(async () => (await fx.store.latestCheckpoint())?.size === n, 'a checkpoint of the whole log');
    const cp = (await fx.store.latestCheckpoint())!;
    const r = await verifyLog(fx.store, cp.note, key.verifierKey);
    assert.equal(r.ok, true, JSON.stringify(r.findings));
    assert.equal(r.size, n);
    // The non-signer never signs; its checkpoint() just reports the latest one.
    const other = logs[1 - signerIdx]!;
    assert.equal((await other.checkpoint())?.size, n);

    // The signer's lease session dies (and that node cannot win the lock back):
    // the other node takes over signing.
    reachable[signerIdx] = false;
    const killer = new pg.Client(PG_CONFIG);
    await killer.connect();
    await killer.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND l.granted AND a.application_name = $2`,
      [0x52414d50, `audit-node-${fx.schema}-${signerIdx}`],
    );
    await killer.end();
    await waitFor(() => other.isSigner, 'the other node to become signer');
    assert.equal(logs[signerIdx]!.isSigner, false);
    const more = await Promise.all(logs.flatMap((log, node) => Array.from({ length: 40 }, (_, i) => log.append(ev(node, 9000 + i)))));
    assert.equal(new Set(more).size, 80);
    await waitFor(async () => (await fx.store.latestCheckpoint())?.size === n + 80, 'a checkpoint by the new signer');
    const cp2 = (await fx.store.latestCheckpoint())!;
    const r2 = await verifyLog(fx.store, cp2.note, key.verifierKey);
    assert.equal(r2.ok, true, JSON.stringify(r2.findings));
    assert.equal(r2.size, n + 80);
    assert.ok(r2.checkedSizes.length >= 2, 'stored checkpoints of both signers verify');
  } finally {
    for (const l of logs) await l.close().catch(() => undefined);
    for (const p of pools) await p.end();
    await fx.cleanup();
  }
});

test('shared mode needs a multi-writer store', async () => {
  const store = { stride: 4, init: async () => undefined } as unknown as PgAuditStore;
  await assert.rejects(AuditLog.open({ store, origin: ORIGIN, signer, shared: true }), /single writer/);
});

test('postgres: slow leader acquisition under a fast checkpoint timer neither leaks a lease nor loses the signer role', async (t) => {
  const fx = await pgStore();
  if ('skip' in fx) return t.skip(fx.skip);
  let acquired = 0;
  let released = 0;
  const slow = async () => {
    await new Promise((r) => setTimeout(r, 60));
    const lease = await fx.store.tryAcquireLeader();
    if (!lease) return null;
    acquired++;
    return {
      get held() {
        return lease.held;
      },
      release: async () => {
        released++;
        await lease.release();
      },
    };
  };
  // Another holder first, so the log starts as a non-signer and competes on every tick.
  const other = await fx.store.tryAcquireLeader();
  assert.ok(other);
  const log = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer, shared: true, checkpointIntervalMs: 5, acquireLeader: slow });
  try {
    assert.equal(log.isSigner, false);
    await other.release();
    await waitFor(() => log.isSigner, 'the log to become signer');
    await log.append(ev(0, 1));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(acquired, 1, 'one lease, never overwritten by an overlapping tick');
    assert.equal(log.isSigner, true);
  } finally {
    await log.close();
    await fx.cleanup(); // pool.end() would hang on a leaked lease connection
  }
  assert.equal(released, 1);
});
