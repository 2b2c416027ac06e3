// Unit tests of the gate's policy and registration (the end-to-end behaviour
// is in authz.test.ts over the real stack).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStorage } from '../storage/open.ts';
import { openTestAudit } from '../admin/testkit.ts';
import { parseAuthzConfig } from './config.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from './migrations.ts';
import { createAuthzStore } from './store.ts';
import { createApprovalGate, paramsHash } from './approvals.ts';
import { createRateLimiter } from './rate-limit.ts';
import { isApprovalPending } from './pending.ts';
import { canonicalize } from '../audit/jcs.ts';
import type { Actor } from '../services/types.ts';

async function setup(authz: unknown = {}) {
  const opened = await openSqliteStorage(':memory:');
  await opened.migrate();
  await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations('sqlite'));
  const now = () => new Date('2026-03-01T00:00:00.000Z');
  const audit = await openTestAudit(now);
  const store = createAuthzStore(opened.db, 'sqlite');
  const config = parseAuthzConfig(authz);
  const rates = createRateLimiter({ store, audit, limits: config.rateLimits, now });
  const gate = createApprovalGate({ store, audit, policy: config.approvals, rates, now, requesterActor: async () => ({ type: 'admin', id: 'x', permissions: new Set(['*']) }) });
  return { gate, store, audit, close: async () => { await audit.close(); await opened.close(); } };
}

const alice: Actor = { type: 'admin', id: 'alice', permissions: new Set(['*']) };

describe('approval gate', () => {
  it('policy: listed actions need approval; thresholds count units', async () => {
    const { gate, close } = await setup({ approvals: { actions: ['command.erase', 'command.bulk'], thresholds: { 'command.bulk': 10 } } });
    try {
      assert.ok(gate.requiresApproval('command.erase', 1));
      assert.ok(!gate.requiresApproval('command.bulk', 10));
      assert.ok(gate.requiresApproval('command.bulk', 11));
      assert.ok(!gate.requiresApproval('ca.rotate', 1));
      await gate.guard(alice, { action: 'ca.rotate', params: {}, summary: 'rotate' });
    } finally {
      await close();
    }
  });

  it('a held action stores canonical params and their SHA-256, and is on record', async () => {
    const { gate, store, audit, close } = await setup();
    try {
      const e = await gate.guard(alice, { action: 'command.erase', params: { b: 1, a: [2, 'x'] }, summary: 'erase' }).then(() => undefined, (x: unknown) => x);
      assert.ok(isApprovalPending(e));
      const rec = (await store.getApproval(e.approval.id))!;
      assert.equal(rec.params, '{"a":[2,"x"],"b":1}');
      assert.equal(rec.paramsHash, paramsHash(canonicalize({ a: [2, 'x'], b: 1 })));
      assert.equal(rec.expiresAt, '2026-03-02T00:00:00.000Z');
      assert.deepEqual(audit.events.map((x) => [x.action, x.details?.paramsHash]), [['approval.request', rec.paramsHash]]);
    } finally {
      await close();
    }
  });

  it('executors register once per valid action name; an approval without executor fails on approval', async () => {
    const { gate, close } = await setup({ approvals: { actions: ['x.unregistered'] } });
    try {
      gate.register('a.b', async () => null);
      assert.throws(() => gate.register('a.b', async () => null), /registered twice/);
      assert.throws(() => gate.register('Not Valid', async () => null), /invalid/);
      const e = await gate.guard(alice, { action: 'x.unregistered', params: {}, summary: 's' }).then(() => undefined, (x: unknown) => x);
      assert.ok(isApprovalPending(e));
      const bob: Actor = { type: 'admin', id: 'bob', permissions: new Set(['approvals.decide']) };
      const done = await gate.approve(bob, e.approval.id);
      assert.deepEqual([done.status, done.reason], ['failed', 'no_executor']);
    } finally {
      await close();
    }
  });

  it('refuses malformed approval ids as not found, and deciders without approvals.decide', async () => {
    const { gate, close } = await setup();
    try {
      await assert.rejects(gate.approve({ type: 'admin', id: 'b', permissions: new Set(['approvals.decide']) }, '../../etc'), /not found/);
      await assert.rejects(gate.approve({ type: 'admin', id: 'b', permissions: new Set(['devices.read']) }, '00000000-0000-4000-8000-000000000000'), /forbidden/);
    } finally {
      await close();
    }
  });
});
