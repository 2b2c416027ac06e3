import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PG_CONFIG, pgStore } from './testdata/helpers.ts';
import { storeConformance } from './testdata/store-conformance.ts';
import { PgAuditStore } from './store-pg.ts';

test('postgres store: conformance', async (t) => {
  const fx = await pgStore();
  if ('skip' in fx) return t.skip(fx.skip);
  try {
    await storeConformance(fx.store);
  } finally {
    await fx.cleanup();
  }
});

test('postgres store: the advisory lock admits one leader across pools and is freed when its session dies', async (t) => {
  const fx = await pgStore();
  if ('skip' in fx) return t.skip(fx.skip);
  const pool2 = new pg.Pool({ ...PG_CONFIG, max: 2 });
  pool2.on('error', () => undefined);
  try {
    const other = new PgAuditStore(pool2, { schema: fx.schema });
    const lease = await fx.store.tryAcquireLeader();
    assert.ok(lease);
    assert.equal(await other.tryAcquireLeader(), null);
    // Kill the leader's backend: the lease reports lost, and the lock is free.
    await pool2.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND granted AND pid <> pg_backend_pid()`,
      [0x52414d50],
    );
    for (let i = 0; i < 50 && lease.held; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(lease.held, false);
    const l2 = await other.tryAcquireLeader();
    assert.ok(l2);
    await l2.release();
    await lease.release();
    assert.throws(() => new PgAuditStore(pool2, { schema: 'bad"name' }), /invalid schema/);
  } finally {
    await pool2.end();
    await fx.cleanup();
  }
});

test('postgres store: live verification through the batched byte reader names a tampered entry', async (t) => {
  const fx = await pgStore();
  if ('skip' in fx) return t.skip(fx.skip);
  const { AuditLog } = await import('./log.ts');
  const { generateNoteKey, parseSignerKey } = await import('./note.ts');
  const { verifyLog } = await import('./verify.ts');
  const key = generateNoteKey('rampart.test/audit');
  try {
    const log = await AuditLog.open({ store: fx.store, origin: 'rampart.test/audit', signer: parseSignerKey(key.signerKey) });
    for (let i = 0; i < 30; i++) await log.record({ action: 'admin.login', actor: { type: 'admin', id: `é-${i}` }, outcome: 'success', details: { i } });
    const cp = (await log.checkpoint())!;
    await log.close();
    const clean = await verifyLog(fx.store, cp.note, key.verifierKey);
    assert.deepEqual(clean.findings, []);
    assert.deepEqual(Buffer.from(clean.root), Buffer.from(cp.rootHash));
    await fx.pool.query(`UPDATE "${fx.schema}".audit_entry SET entry = replace(entry, '"i":11', '"i":12') WHERE idx = 11`);
    const r = await verifyLog(fx.store, cp.note, key.verifierKey);
    assert.ok(r.findings.some((f) => f.kind === 'modified' && f.index === 11 && f.reason === 'leaf_hash'), JSON.stringify(r.findings));
    assert.ok(r.findings.some((f) => f.kind === 'checkpoint_mismatch'));
  } finally {
    await fx.cleanup();
  }
});
