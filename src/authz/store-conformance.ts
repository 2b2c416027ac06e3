// One conformance suite for the authorization store, run on SQLite and PostgreSQL.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { OpenedStorage } from '../storage/open.ts';
import { createAuthzStore, type AuthzStore, type NewApproval } from './store.ts';

export type OpenForTest = () => Promise<{ opened: OpenedStorage; cleanup(): Promise<void> }>;

const T0 = '2026-01-01T00:00:00.000Z';
const later = (min: number) => new Date(Date.parse(T0) + min * 60_000).toISOString();

function approval(id: string, over: Partial<NewApproval> = {}): NewApproval {
  return {
    id,
    action: 'command.erase',
    params: '{"deviceIds":["D1"]}',
    paramsHash: 'a'.repeat(64),
    summary: 'EraseDevice for 1 device(s)',
    units: 1,
    target: { type: 'command', id: 'c1' },
    approverPermission: 'commands.send.erase',
    requester: { type: 'token', id: 't1', principalId: 'alice', permissions: ['*'] },
    createdAt: T0,
    expiresAt: later(60),
    ...over,
  };
}

export function runAuthzStoreConformance(name: string, open: OpenForTest): void {
  describe(`authz store (${name})`, () => {
    let env: Awaited<ReturnType<OpenForTest>>;
    let store: AuthzStore;
    beforeEach(async () => {
      env = await open();
      await env.opened.storage.admins.create({ id: 'alice', username: 'alice' }, T0);
      await env.opened.storage.admins.create({ id: 'bob', username: 'bob' }, T0);
      store = createAuthzStore(env.opened.db, env.opened.backend);
    });
    afterEach(async () => env.cleanup());

    it('roles: create, conflict, update, delete refused while assigned', async () => {
      await store.createRole({ name: 'ops', description: 'd', permissions: ['devices.read'] }, T0);
      await assert.rejects(store.createRole({ name: 'ops', description: 'd', permissions: [] }, T0), /role exists/);
      const u = await store.updateRole('ops', { description: 'e', permissions: ['commands.read', 'devices.read'] }, later(1));
      assert.deepEqual(u?.permissions, ['commands.read', 'devices.read']);
      assert.equal(u?.updatedAt, later(1));
      assert.equal(await store.updateRole('nope', { description: '', permissions: [] }, T0), undefined);
      await store.assign({ adminId: 'alice', role: 'ops', groups: ['g2', 'g1', 'g1'], source: 'local', createdBy: 'bob' }, T0);
      assert.deepEqual((await store.assignmentsOf('alice')).map((a) => [a.role, a.groups]), [['ops', ['g1', 'g2']]]);
      await assert.rejects(store.deleteRole('ops'), /role is assigned/);
      assert.ok(await store.unassign('alice', 'ops'));
      assert.ok(!(await store.unassign('alice', 'ops')));
      assert.ok(await store.deleteRole('ops'));
      assert.deepEqual(await store.listRoles(), []);
    });

    it('enabled unscoped holders; disabling an administrator', async () => {
      await store.assign({ adminId: 'alice', role: 'owner', groups: [], source: 'local', createdBy: 'x' }, T0);
      await store.assign({ adminId: 'bob', role: 'owner', groups: ['g1'], source: 'local', createdBy: 'x' }, T0);
      assert.deepEqual(await store.enabledHolders('owner'), ['alice']);
      await store.assign({ adminId: 'bob', role: 'owner', groups: [], source: 'local', createdBy: 'x' }, T0);
      assert.deepEqual(await store.enabledHolders('owner'), ['alice', 'bob']);
      assert.ok(await store.disableAdmin('bob', T0));
      assert.ok(!(await store.disableAdmin('bob', T0)));
      assert.deepEqual(await store.enabledHolders('owner'), ['alice']);
    });

    it('IdP sync replaces only IdP-sourced assignments', async () => {
      await store.assign({ adminId: 'alice', role: 'viewer', groups: [], source: 'local', createdBy: 'x' }, T0);
      assert.deepEqual(await store.replaceIdpAssignments('alice', ['helpdesk', 'viewer'], T0), { added: ['helpdesk'], removed: [] });
      assert.deepEqual(await store.replaceIdpAssignments('alice', ['pii-reader'], T0), { added: ['pii-reader'], removed: ['helpdesk'] });
      assert.deepEqual((await store.assignmentsOf('alice')).map((a) => `${a.role}:${a.source}`), ['pii-reader:idp', 'viewer:local']);
    });

    it('token networks', async () => {
      assert.equal(await store.tokenNetworks('t1'), undefined);
      await store.setTokenNetworks('t1', ['10.0.0.0/8', '2001:db8::/32'], T0);
      assert.deepEqual(await store.tokenNetworks('t1'), ['10.0.0.0/8', '2001:db8::/32']);
    });

    it('approvals: one claim wins among concurrent ones; the requester and expired approvals cannot be claimed', async () => {
      await store.createApproval(approval('00000000-0000-4000-8000-000000000001'));
      assert.ok(!(await store.claimApproval('00000000-0000-4000-8000-000000000001', 'alice', later(1))), 'requester');
      assert.ok(!(await store.claimApproval('00000000-0000-4000-8000-000000000001', 'bob', later(61))), 'expired');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.claimApproval('00000000-0000-4000-8000-000000000001', i % 2 ? 'bob' : 'carol', later(2))));
      assert.equal(results.filter(Boolean).length, 1);
      const r = await store.getApproval('00000000-0000-4000-8000-000000000001');
      assert.equal(r?.status, 'executing');
      assert.equal(r?.claimedAt, later(2));
      assert.ok(!(await store.denyApproval(r!.id, 'bob', null, later(3))));
      assert.deepEqual((await store.staleExecuting(later(3))).map((x) => x.id), [r!.id]);
      assert.ok(await store.reclaimApproval(r!.id, later(2), later(4)));
      assert.ok(!(await store.reclaimApproval(r!.id, later(2), later(4))), 'a second taker loses');
      assert.ok(await store.finishApproval(r!.id, 'executed', '{"queued":1}', null, later(5)));
      assert.ok(!(await store.finishApproval(r!.id, 'failed', null, 'x', later(5))));
      const done = await store.getApproval(r!.id);
      assert.equal(done?.status, 'executed');
      assert.equal(done?.result, '{"queued":1}');
      assert.deepEqual(done?.requester, { type: 'token', id: 't1', principalId: 'alice', permissions: ['*'] });
    });

    it('approvals: deny, list by status and requester', async () => {
      await store.createApproval(approval('00000000-0000-4000-8000-000000000002'));
      await store.createApproval(approval('00000000-0000-4000-8000-000000000003', { createdAt: later(1), requester: { type: 'admin', id: 'bob', principalId: 'bob', permissions: [] } }));
      assert.ok(await store.denyApproval('00000000-0000-4000-8000-000000000002', 'bob', 'no', later(2)));
      assert.ok(!(await store.denyApproval('00000000-0000-4000-8000-000000000002', 'bob', 'no', later(2))));
      assert.deepEqual((await store.listApprovals({ status: 'pending', limit: 10 })).map((a) => a.id), ['00000000-0000-4000-8000-000000000003']);
      assert.deepEqual((await store.listApprovals({ requesterPrincipal: 'alice', limit: 10 })).map((a) => [a.id, a.status, a.reason]), [['00000000-0000-4000-8000-000000000002', 'denied', 'no']]);
      assert.equal((await store.listApprovals({ limit: 10 })).length, 2);
    });

    it('rate: counts units within the window, refuses beyond the limit, also under concurrency', async () => {
      assert.ok(await store.consumeRate('alice', 'command.erase', 2, 3, T0, later(1)));
      assert.ok(!(await store.consumeRate('alice', 'command.erase', 2, 3, T0, later(2))));
      assert.ok(await store.consumeRate('alice', 'command.erase', 1, 3, T0, later(2)));
      assert.ok(await store.consumeRate('bob', 'command.erase', 3, 3, T0, later(2)), 'per principal');
      assert.ok(await store.consumeRate('alice', 'command.erase', 3, 3, later(2), later(70)), 'a new window');
      const got = await Promise.all(Array.from({ length: 10 }, () => store.consumeRate('carol', 'x.y', 1, 4, T0, later(1))));
      assert.equal(got.filter(Boolean).length, 4);
    });

    it('rate: after a refusal, names the event whose leaving the window makes room', async () => {
      assert.ok(await store.consumeRate('dave', 'command.erase', 1, 3, T0, later(1)));
      assert.ok(await store.consumeRate('dave', 'command.erase', 1, 3, T0, later(2)));
      assert.ok(await store.consumeRate('dave', 'command.erase', 1, 3, T0, later(3)));
      assert.ok(!(await store.consumeRate('dave', 'command.erase', 1, 3, T0, later(4))));
      assert.equal(Date.parse((await store.rateFreesAt('dave', 'command.erase', 1, 3, T0))!), Date.parse(later(1)));
      assert.equal(Date.parse((await store.rateFreesAt('dave', 'command.erase', 2, 3, T0))!), Date.parse(later(2)));
      assert.equal(Date.parse((await store.rateFreesAt('dave', 'command.erase', 3, 3, T0))!), Date.parse(later(3)));
      assert.equal(await store.rateFreesAt('dave', 'command.erase', 4, 3, T0), null, 'more than the limit never fits');
      // Only events inside the window count.
      assert.equal(Date.parse((await store.rateFreesAt('dave', 'command.erase', 2, 3, later(1)))!), Date.parse(later(2)));
    });
  });
}
