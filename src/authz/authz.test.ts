// Abuse tests of the authorization layer over the real admin stack (HTTP
// routes, services, SQLite storage, tamper-evident audit log).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { callApi, createTestStack, type TestStack } from '../admin/testkit.ts';
import type { ApprovalView } from './views.ts';
import { issueApiToken } from '../admin/tokens.ts';

type Json = Record<string, unknown>;

let s: TestStack | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function stack(opts: Parameters<typeof createTestStack>[0] = {}): Promise<TestStack> {
  s = await createTestStack(opts);
  return s;
}

const call = callApi;

const erase = (deviceIds: string[]) => ({ deviceIds, requestType: 'EraseDevice', payload: {} });

describe('privilege escalation via role edits', () => {
  it('a role manager cannot create, widen or assign a role beyond what they hold', async () => {
    const st = await stack();
    await st.authz.store.createRole({ name: 'role-admin', description: 'roles', permissions: ['roles.manage', 'devices.read', 'admins.read'] }, new Date().toISOString());
    const mgr = await st.adminWithToken('mgr', ['role-admin']);
    const victim = await st.adminWithToken('victim', ['viewer']);

    let res = await call(st, mgr.token, 'POST', '/api/v1/roles', { name: 'wiper', description: 'x', permissions: ['commands.send.erase'] });
    assert.equal(res.statusCode, 403, res.body);
    res = await call(st, mgr.token, 'POST', '/api/v1/roles', { name: 'reader', description: 'x', permissions: ['devices.read'] });
    assert.equal(res.statusCode, 201, res.body);
    // Widening a role (even one they created) with a permission they lack.
    res = await call(st, mgr.token, 'PUT', '/api/v1/roles/reader', { description: 'x', permissions: ['devices.read', '*'] });
    assert.equal(res.statusCode, 403, res.body);
    // Their own role cannot be widened either (roles.manage on "role-admin" itself).
    res = await call(st, mgr.token, 'PUT', '/api/v1/roles/role-admin', { description: 'x', permissions: ['roles.manage', 'devices.read', 'admins.read', 'admins.manage'] });
    assert.equal(res.statusCode, 403, res.body);
    // Assigning owner or device-admin to anyone (themselves included).
    for (const target of [mgr.adminId, victim.adminId]) {
      res = await call(st, mgr.token, 'POST', `/api/v1/admins/${target}/roles`, { role: 'owner' });
      assert.equal(res.statusCode, 403, res.body);
    }
    res = await call(st, mgr.token, 'POST', `/api/v1/admins/${victim.adminId}/roles`, { role: 'device-admin' });
    assert.equal(res.statusCode, 403);
    // Built-in roles cannot be edited, even by the owner.
    res = await call(st, st.rootToken, 'PUT', '/api/v1/roles/viewer', { description: 'x', permissions: ['*'] });
    assert.equal(res.statusCode, 403);
    const denials = st.audit.events.filter((e) => e.outcome === 'denied' && e.details?.reason === 'escalation');
    assert.ok(denials.length >= 5, `escalations on record: ${denials.length}`);
    assert.deepEqual(denials[0]!.details!.missing, ['commands.send.erase']);
  });

  it('without roles.manage nobody edits roles; a viewer token cannot reach the routes', async () => {
    const st = await stack();
    const v = await st.adminWithToken('v', ['viewer']);
    const res = await call(st, v.token, 'POST', '/api/v1/roles', { name: 'x-role', description: 'x', permissions: ['devices.read'] });
    assert.equal(res.statusCode, 403);
  });

  it('adding permissions to a role in use waits for a second administrator', async () => {
    const st = await stack();
    const other = await st.adminWithToken('other', ['owner']);
    await call(st, st.rootToken, 'POST', '/api/v1/roles', { name: 'ops', description: 'x', permissions: ['devices.read'] });
    const holder = await st.adminWithToken('holder', ['ops']);
    let res = await call(st, st.rootToken, 'PUT', '/api/v1/roles/ops', { description: 'x', permissions: ['devices.read', 'commands.read'] });
    assert.equal(res.statusCode, 202, res.body);
    const a = res.json() as ApprovalView;
    assert.equal(a.action, 'role.update');
    res = await call(st, holder.token, 'GET', '/api/v1/devices/X/commands');
    assert.equal(res.statusCode, 403, 'not widened before approval');
    res = await call(st, other.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as ApprovalView).status, 'executed');
    assert.deepEqual((await st.authz.store.getRole('ops'))!.permissions, ['commands.read', 'devices.read']);
  });

  it('the last owner cannot be removed or disabled', async () => {
    const st = await stack();
    let res = await call(st, st.rootToken, 'DELETE', `/api/v1/admins/${st.adminId}/roles/owner`);
    assert.equal(res.statusCode, 409, res.body);
    res = await call(st, st.rootToken, 'POST', `/api/v1/admins/${st.adminId}/disable`);
    assert.equal(res.statusCode, 409);
    const second = await st.adminWithToken('second', ['owner']);
    res = await call(st, second.token, 'DELETE', `/api/v1/admins/${st.adminId}/roles/owner`);
    assert.equal(res.statusCode, 200, res.body);
    res = await call(st, second.token, 'DELETE', `/api/v1/admins/${second.adminId}/roles/owner`);
    assert.equal(res.statusCode, 409);
    assert.equal(st.audit.events.filter((e) => e.details?.reason === 'last_owner').length, 3);
  });

  it('an administrator cannot disable someone holding more than they do', async () => {
    const st = await stack();
    await st.authz.store.createRole({ name: 'hr', description: 'x', permissions: ['admins.manage', 'admins.read'] }, new Date().toISOString());
    const hr = await st.adminWithToken('hr', ['hr']);
    const res = await call(st, hr.token, 'POST', `/api/v1/admins/${st.adminId}/disable`);
    assert.equal(res.statusCode, 403);
    const v = await st.adminWithToken('v', ['pii-reader']);
    assert.equal((await call(st, hr.token, 'POST', `/api/v1/admins/${v.adminId}/disable`)).statusCode, 403, 'pii.reveal is not held by hr');
  });
});

describe('token scope bypass', () => {
  it('a token cannot be issued with scopes beyond its creator, nor outlive the limits', async () => {
    const st = await stack();
    await st.authz.store.createRole({ name: 'automation', description: 'x', permissions: ['tokens.manage', 'devices.read'] }, new Date().toISOString());
    const bot = await st.adminWithToken('bot', ['automation']);
    let res = await call(st, bot.token, 'POST', '/api/v1/tokens', { name: 'wide', scopes: ['devices.read', 'commands.send'] });
    assert.equal(res.statusCode, 403, res.body);
    res = await call(st, bot.token, 'POST', '/api/v1/tokens', { name: 'star', scopes: ['*'] });
    assert.equal(res.statusCode, 403);
    res = await call(st, bot.token, 'POST', '/api/v1/tokens', { name: 'long', scopes: ['devices.read'], expiresAt: '2030-01-01T00:00:00Z' });
    assert.equal(res.statusCode, 400, 'beyond 90 days');
    res = await call(st, bot.token, 'POST', '/api/v1/tokens', { name: 'ok', scopes: ['devices.read'] });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json() as { token: string; record: { id: string; expiresAt: string; scopes: string[] } };
    assert.match(created.token, /^rmp_/);
    assert.equal(created.record.expiresAt, new Date(st.clock.now.getTime() + 90 * 86_400_000).toISOString());
    // Shown once: the list has no secret, the store only the hash.
    res = await call(st, bot.token, 'GET', '/api/v1/tokens');
    assert.ok(!res.body.includes(created.token));
    assert.ok(!res.body.includes('secretHash'));
  });

  it("a token's power is (scopes ∩ the owner's current roles): wide scopes give a viewer nothing more; demotion takes effect at once", async () => {
    const st = await stack();
    await st.addDevice('D1');
    const v = await st.adminWithToken('viewer1', ['viewer'], ['*']);
    let res = await call(st, v.token, 'POST', '/api/v1/commands', { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {} });
    assert.equal(res.statusCode, 403);
    res = await call(st, v.token, 'GET', '/api/v1/admins');
    assert.equal(res.statusCode, 403);
    res = await call(st, v.token, 'GET', '/api/v1/devices');
    assert.equal(res.statusCode, 200);

    const h = await st.adminWithToken('help1', ['helpdesk'], ['commands.send.lock', 'devices.read']);
    res = await call(st, h.token, 'POST', '/api/v1/commands', { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {} });
    assert.equal(res.statusCode, 201, res.body);
    res = await call(st, st.rootToken, 'DELETE', `/api/v1/admins/${h.adminId}/roles/helpdesk`);
    assert.equal(res.statusCode, 200);
    res = await call(st, h.token, 'POST', '/api/v1/commands', { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {} });
    assert.equal(res.statusCode, 403, 'demoted after the token was issued');
    res = await call(st, h.token, 'GET', '/api/v1/devices');
    assert.equal(res.statusCode, 403);
    // A disabled owner's tokens stop working.
    await call(st, st.rootToken, 'POST', `/api/v1/admins/${v.adminId}/disable`);
    assert.equal((await call(st, v.token, 'GET', '/api/v1/devices')).statusCode, 401);
  });

  it('a network-bound token is refused from elsewhere, and the refusal is recorded', async () => {
    const st = await stack();
    let res = await call(st, st.rootToken, 'POST', '/api/v1/tokens', { name: 'ci', scopes: ['devices.read'], networks: ['10.20.0.0/16', '2001:db8:5::/48'] });
    assert.equal(res.statusCode, 201, res.body);
    const { token, record } = res.json() as { token: string; record: { id: string; networks: string[] } };
    assert.deepEqual(record.networks, ['10.20.0.0/16', '2001:db8:5::/48']);
    assert.equal((await call(st, token, 'GET', '/api/v1/devices', undefined, '10.20.3.4')).statusCode, 200);
    assert.equal((await call(st, token, 'GET', '/api/v1/devices', undefined, '2001:db8:5::9')).statusCode, 200);
    res = await call(st, token, 'GET', '/api/v1/devices', undefined, '10.21.0.1');
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { error: 'unauthorized', message: 'unauthorized' });
    assert.equal((await call(st, token, 'GET', '/api/v1/devices', undefined, '2001:db8:6::1')).statusCode, 401);
    const refused = st.audit.events.filter((e) => e.action === 'token.network_refused');
    assert.deepEqual(refused.map((e) => [e.actor.id, e.source, e.outcome]), [[record.id, '10.21.0.1', 'denied'], [record.id, '2001:db8:6::1', 'denied']]);
    assert.equal((await call(st, st.rootToken, 'POST', '/api/v1/tokens', { name: 'bad', scopes: ['devices.read'], networks: ['10.0.0.0/33'] })).statusCode, 400);
  });

  it('tokens: last use recorded, revoke own, another administrator\'s only with tokens.manage', async () => {
    const st = await stack();
    const v = await st.adminWithToken('v2', ['viewer']);
    await call(st, v.token, 'GET', '/api/v1/devices');
    let res = await call(st, v.token, 'GET', '/api/v1/tokens');
    const [mine] = (res.json() as { items: Array<{ id: string; lastUsedAt: string | null }> }).items;
    assert.ok(mine!.lastUsedAt);
    const rootTokens = await st.storage.tokens.listForPrincipal(st.adminId);
    res = await call(st, v.token, 'DELETE', `/api/v1/tokens/${rootTokens[0]!.id}`);
    assert.equal(res.statusCode, 403);
    res = await call(st, v.token, 'DELETE', `/api/v1/tokens/${mine!.id}`);
    assert.equal(res.statusCode, 200);
    assert.equal((await call(st, v.token, 'GET', '/api/v1/devices')).statusCode, 401);
  });
});

describe('four-eyes approvals', () => {
  async function eraseSetup(opts: Parameters<typeof createTestStack>[0] = {}) {
    const st = await stack(opts);
    await st.addDevice('D1');
    await st.addDevice('D2');
    const requester = await st.adminWithToken('alice', ['device-admin']);
    const officer = await st.adminWithToken('sec', ['security-officer', 'device-admin']);
    return { st, requester, officer };
  }

  async function requestErase(st: TestStack, token: string, ids = ['D1']): Promise<ApprovalView> {
    const res = await call(st, token, 'POST', '/api/v1/commands', erase(ids));
    assert.equal(res.statusCode, 202, res.body);
    return res.json() as ApprovalView;
  }

  it('erase is held (202), nothing is queued, and the approved erase runs once with the approved parameters', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token, ['D2', 'D1']);
    assert.equal(a.status, 'pending');
    assert.equal(a.action, 'command.erase');
    assert.deepEqual((a.params as Json).deviceIds, ['D1', 'D2']);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 0);
    const res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal(res.statusCode, 200, res.body);
    const done = res.json() as ApprovalView;
    assert.equal(done.status, 'executed');
    const uuid = (a.params as Json).commandUuid as string;
    assert.deepEqual(done.result, { commandUuid: uuid, queued: 2 });
    const q = await st.storage.queue.entriesForDevice('D1', { limit: 10 });
    assert.deepEqual(q.map((e) => [e.commandUuid, e.requestType]), [[uuid, 'EraseDevice']]);
    assert.equal((await st.storage.queue.getCommand(uuid))!.createdBy, (await st.storage.tokens.listForPrincipal(requester.adminId))[0]!.id);
    // On record: the request, the decision and the run, all with the same params hash.
    const trail = st.audit.events.filter((e) => e.target?.id === a.id);
    assert.deepEqual(trail.map((e) => [e.action, e.outcome]), [['approval.request', 'success'], ['approval.approve', 'success'], ['approval.execute', 'success']]);
    for (const e of trail) assert.equal(e.details!.paramsHash, a.paramsHash);
    const enq = st.audit.events.filter((e) => e.action === 'command.enqueue' && e.outcome === 'success');
    assert.equal(enq.length, 1);
    assert.equal(enq[0]!.details!.approval, a.id);
  });

  it('the requester cannot approve, not even with another of their tokens or roles', async () => {
    const st = await stack();
    await st.addDevice('D1');
    const both = await st.adminWithToken('both', ['device-admin', 'security-officer']);
    const a = await requestErase(st, both.token);
    const { token: second } = await issueApiToken({ tokens: st.storage.tokens, now: () => st.clock.now }, { principalId: both.adminId, name: 'second', scopes: ['*'] });
    for (const t of [both.token, second]) {
      const res = await call(st, t, 'POST', `/api/v1/approvals/${a.id}/approve`);
      assert.equal(res.statusCode, 403, res.body);
      assert.equal((res.json() as Json).message, 'cannot approve own request');
    }
    assert.equal((await st.authz.store.getApproval(a.id))!.status, 'pending');
    assert.equal(st.audit.events.filter((e) => e.action === 'approval.approve' && e.details?.reason === 'own_request').length, 2);
  });

  it('an approver without the action\'s own permission cannot approve it', async () => {
    const st = await stack();
    await st.addDevice('D1');
    const req = await st.adminWithToken('req', ['device-admin']);
    const officer = await st.adminWithToken('officer', ['security-officer']);
    const a = await requestErase(st, req.token);
    const res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal(res.statusCode, 403);
  });

  it('replaying an approval is refused and runs nothing again', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token);
    const third = await st.adminWithToken('third', ['owner']);
    assert.equal((await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`)).statusCode, 200);
    for (const t of [officer.token, third.token]) {
      const res = await call(st, t, 'POST', `/api/v1/approvals/${a.id}/approve`);
      assert.equal(res.statusCode, 409, res.body);
    }
    assert.equal((await call(st, third.token, 'POST', `/api/v1/approvals/${a.id}/deny`, {})).statusCode, 409);
    assert.equal(st.audit.events.filter((e) => e.action === 'approval.execute').length, 1);
    assert.equal(st.audit.events.filter((e) => e.action === 'approval.approve' && e.details?.reason === 'not_pending').length, 2);
  });

  it('an expired approval cannot be approved', async () => {
    const { st, requester, officer } = await eraseSetup({ authz: { approvals: { ttlMinutes: 30 } } });
    const a = await requestErase(st, requester.token);
    st.clock.now = new Date(st.clock.now.getTime() + 31 * 60_000);
    let res = await call(st, officer.token, 'GET', `/api/v1/approvals/${a.id}`);
    assert.equal((res.json() as ApprovalView).status, 'expired');
    res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal(res.statusCode, 410, res.body);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 0);
  });

  it('concurrent approvals: exactly one runs', async () => {
    const { st, requester } = await eraseSetup();
    const approvers = await Promise.all(['o1', 'o2', 'o3', 'o4'].map((n) => st.adminWithToken(n, ['owner'])));
    const a = await requestErase(st, requester.token);
    const results = await Promise.all(approvers.flatMap((o) => [o, o]).map((o) => call(st, o.token, 'POST', `/api/v1/approvals/${a.id}/approve`)));
    const codes = results.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [200, 409, 409, 409, 409, 409, 409, 409]);
    assert.equal(st.audit.events.filter((e) => e.action === 'approval.execute').length, 1);
    assert.equal(st.audit.events.filter((e) => e.action === 'command.enqueue' && e.outcome === 'success').length, 1);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 1);
  });

  it('deny: the action never runs; requesters see their own approvals only', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token);
    const other = await st.adminWithToken('other', ['viewer']);
    assert.equal((await call(st, other.token, 'GET', `/api/v1/approvals/${a.id}`)).statusCode, 404);
    assert.equal(((await call(st, other.token, 'GET', '/api/v1/approvals')).json() as { items: unknown[] }).items.length, 0);
    assert.equal(((await call(st, requester.token, 'GET', '/api/v1/approvals')).json() as { items: unknown[] }).items.length, 1);
    const res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/deny`, { reason: 'not this one' });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as ApprovalView).status, 'denied');
    assert.equal((await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`)).statusCode, 409);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 0);
  });

  it('the approved run is refused when the requester lost the permission meanwhile', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token);
    await call(st, st.rootToken, 'DELETE', `/api/v1/admins/${requester.adminId}/roles/device-admin`);
    const res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual([(res.json() as ApprovalView).status, (res.json() as ApprovalView).reason], ['failed', 'forbidden']);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 0);
  });

  it('a request made with a token revoked meanwhile does not run', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token);
    const [t] = await st.storage.tokens.listForPrincipal(requester.adminId);
    await st.storage.tokens.revoke(t!.id, st.clock.now.toISOString());
    const res = await call(st, officer.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.deepEqual([(res.json() as ApprovalView).status, (res.json() as ApprovalView).reason], ['failed', 'requester']);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 0);
  });

  it('a call running under an approval must carry exactly the approved parameters', async () => {
    const { st, requester, officer } = await eraseSetup();
    const a = await requestErase(st, requester.token);
    await st.authz.store.claimApproval(a.id, officer.adminId, st.clock.now.toISOString());
    const actor = await st.authz.adminActor(requester.adminId);
    actor.authz!.approvalId = a.id;
    await assert.rejects(st.commands.enqueue(actor, { ...erase(['D1', 'D2']), commandUuid: (a.params as Json).commandUuid as string }), /forbidden/);
    assert.equal((await st.storage.queue.entriesForDevice('D2', { limit: 10 })).length, 0);
  });

  it('creating an administrator and giving a role wait for approval', async () => {
    const st = await stack();
    const other = await st.adminWithToken('other', ['owner']);
    let res = await call(st, st.rootToken, 'POST', '/api/v1/admins', { username: 'newbie', roles: ['helpdesk'] });
    assert.equal(res.statusCode, 202, res.body);
    const a = res.json() as ApprovalView;
    assert.equal(await st.storage.admins.getByUsername('newbie'), undefined);
    res = await call(st, other.token, 'POST', `/api/v1/approvals/${a.id}/approve`);
    assert.equal((res.json() as ApprovalView).status, 'executed', res.body);
    const created = await st.storage.admins.getByUsername('newbie');
    assert.ok(created);
    assert.deepEqual((await st.authz.store.assignmentsOf(created.id)).map((x) => x.role), ['helpdesk']);
    res = await call(st, st.rootToken, 'POST', `/api/v1/admins/${created.id}/roles`, { role: 'pii-reader' });
    assert.equal(res.statusCode, 202);
    res = await call(st, other.token, 'POST', `/api/v1/approvals/${(res.json() as ApprovalView).id}/approve`);
    assert.equal((res.json() as ApprovalView).status, 'executed');
    assert.deepEqual((await st.authz.store.assignmentsOf(created.id)).map((x) => x.role), ['helpdesk', 'pii-reader']);
    // Usernames are not in audit details.
    assert.ok(!JSON.stringify(st.audit.events).includes('newbie'));
  });

  it('bulk: above the threshold a command to many devices waits for approval; below it runs', async () => {
    const st = await stack({ authz: { approvals: { thresholds: { 'command.bulk': 2 } } } });
    for (const d of ['D1', 'D2', 'D3']) await st.addDevice(d);
    const q = { requestType: 'DeviceInformation', payload: { Queries: ['OSVersion'] } };
    assert.equal((await call(st, st.rootToken, 'POST', '/api/v1/commands', { ...q, deviceIds: ['D1', 'D2'] })).statusCode, 201);
    assert.equal((await call(st, st.rootToken, 'POST', '/api/v1/commands', { ...q, deviceIds: ['D1', 'D2', 'D3'] })).statusCode, 202);
  });

  it('crash between claim and run: resume() re-runs idempotent executors once, marks others interrupted', async () => {
    const { st, requester, officer } = await eraseSetup({ authz: { approvals: { staleExecutionMinutes: 5 } } });
    const a = await requestErase(st, requester.token);
    const b = await (async () => {
      const res = await call(st, st.rootToken, 'POST', '/api/v1/admins', { username: 'later' });
      return res.json() as ApprovalView;
    })();
    // Simulate the crash: claimed, never run.
    assert.ok(await st.authz.store.claimApproval(a.id, officer.adminId, st.clock.now.toISOString()));
    assert.ok(await st.authz.store.claimApproval(b.id, officer.adminId, st.clock.now.toISOString()));
    assert.equal(await st.authz.gate.resume(), 0, 'not stale yet');
    st.clock.now = new Date(st.clock.now.getTime() + 6 * 60_000);
    assert.equal(await st.authz.gate.resume(), 2);
    assert.equal((await st.authz.store.getApproval(a.id))!.status, 'executed');
    assert.equal((await st.authz.store.getApproval(b.id))!.status, 'interrupted');
    assert.equal(await st.storage.admins.getByUsername('later'), undefined);
    assert.equal(await st.authz.gate.resume(), 0);
    assert.equal((await st.storage.queue.entriesForDevice('D1', { limit: 10 })).length, 1);
  });
});

describe('rate limits on destructive actions', () => {
  it('erase is limited per principal even when approved; the refusal is recorded', async () => {
    const st = await stack({ authz: { rateLimits: { 'command.erase': { limit: 2, windowMinutes: 60 } } } });
    for (const d of ['D1', 'D2', 'D3']) await st.addDevice(d);
    const req = await st.adminWithToken('req', ['device-admin']);
    const ok = await st.adminWithToken('ok', ['owner']);
    const ids: string[] = [];
    for (const d of ['D1', 'D2', 'D3']) {
      const res = await call(st, req.token, 'POST', '/api/v1/commands', erase([d]));
      ids.push((res.json() as ApprovalView).id);
    }
    const statuses = [];
    for (const id of ids) statuses.push(((await call(st, ok.token, 'POST', `/api/v1/approvals/${id}/approve`)).json() as ApprovalView));
    assert.deepEqual(statuses.map((x) => [x.status, x.reason]), [['executed', null], ['executed', null], ['failed', 'rate_limited']]);
    const hit = st.audit.events.filter((e) => e.action === 'ratelimit.exceeded');
    assert.equal(hit.length, 1);
    assert.deepEqual([hit[0]!.target, hit[0]!.details!.limited], [{ type: 'admin', id: req.adminId }, 'command.erase']);
    // A new window allows it again.
    st.clock.now = new Date(st.clock.now.getTime() + 61 * 60_000);
    const res = await call(st, req.token, 'POST', '/api/v1/commands', erase(['D3']));
    assert.equal(((await call(st, ok.token, 'POST', `/api/v1/approvals/${(res.json() as ApprovalView).id}/approve`)).json() as ApprovalView).status, 'executed');
  });

  it('without four-eyes for erase the limit answers 429 directly', async () => {
    const st = await stack({ authz: { approvals: { actions: [] }, rateLimits: { 'command.erase': { limit: 1, windowMinutes: 60 } } } });
    await st.addDevice('D1');
    await st.addDevice('D2');
    assert.equal((await call(st, st.rootToken, 'POST', '/api/v1/commands', erase(['D1']))).statusCode, 201);
    st.clock.now = new Date(st.clock.now.getTime() + 10 * 60_000 + 500);
    const res = await call(st, st.rootToken, 'POST', '/api/v1/commands', erase(['D1']));
    assert.equal(res.statusCode, 429);
    assert.deepEqual(res.json(), { error: 'rate_limited', message: 'rate limit exceeded' });
    // The first erase leaves the 60-minute window in 49 min 59.5 s: rounded up.
    assert.equal(res.headers['retry-after'], '3000');
    // Two devices at once can never fit a limit of one: the whole window.
    const both = await call(st, st.rootToken, 'POST', '/api/v1/commands', erase(['D1', 'D2']));
    assert.equal(both.statusCode, 429);
    assert.equal(both.headers['retry-after'], '3600');
    st.clock.now = new Date(st.clock.now.getTime() + 3000 * 1000);
    assert.equal((await call(st, st.rootToken, 'POST', '/api/v1/commands', erase(['D1']))).statusCode, 201, 'allowed again when Retry-After said');
  });
});

describe('device-group scope', () => {
  it('a helpdesk role limited to a group locks and reads devices of that group only', async () => {
    const membership: Record<string, string[]> = { D1: ['g1'], D2: ['g2'] };
    const st = await stack({ groups: { groupsOf: async (id) => membership[id] ?? [] } });
    await st.addDevice('D1');
    await st.addDevice('D2');
    const h = await st.adminWithToken('scoped', []);
    await st.authz.store.assign({ adminId: h.adminId, role: 'helpdesk', groups: ['g1'], source: 'local', createdBy: 't' }, new Date().toISOString());
    await st.authz.store.assign({ adminId: h.adminId, role: 'security-officer', groups: [], source: 'local', createdBy: 't' }, new Date().toISOString());
    const lock = (d: string) => call(st, h.token, 'POST', '/api/v1/commands', { deviceIds: [d], requestType: 'DeviceLock', payload: {} });
    assert.equal((await lock('D1')).statusCode, 201);
    assert.equal((await lock('D2')).statusCode, 403);
    // devices.read comes unscoped from security-officer: both visible. Group-limited enqueue still refused above.
    assert.equal(((await call(st, h.token, 'GET', '/api/v1/devices')).json() as { items: unknown[] }).items.length, 2);
    const only = await st.adminWithToken('only', []);
    await st.authz.store.assign({ adminId: only.adminId, role: 'viewer', groups: ['g2'], source: 'local', createdBy: 't' }, new Date().toISOString());
    const list = (await call(st, only.token, 'GET', '/api/v1/devices')).json() as { items: Array<{ id: string }> };
    assert.deepEqual(list.items.map((d) => d.id), ['D2']);
    assert.equal((await call(st, only.token, 'GET', '/api/v1/devices/D1')).statusCode, 403);
    assert.equal((await call(st, only.token, 'GET', '/api/v1/devices/D2')).statusCode, 200);
    // Non-device permissions of a scoped assignment are dropped.
    await st.authz.store.assign({ adminId: only.adminId, role: 'device-admin', groups: ['g2'], source: 'local', createdBy: 't' }, new Date().toISOString());
    assert.equal((await call(st, only.token, 'POST', '/api/v1/roles', { name: 'zz', description: '', permissions: ['devices.read'] })).statusCode, 403);
    assert.ok(st.audit.events.some((e) => e.outcome === 'denied' && e.details?.reason === 'device_scope'));
  });
});

describe('identity interface', () => {
  it('permissionsFor gives unscoped role permissions; syncRoles replaces IdP roles and keeps the last owner', async () => {
    const st = await stack();
    const a = await st.adminWithToken('sso', []);
    await st.authz.idpSync.syncRoles(a.adminId, ['viewer', 'pii-reader', 'no-such-role']);
    assert.deepEqual([...(await st.authz.resolver.permissionsFor(a.adminId))].sort(), ['commands.read', 'devices.read', 'groups.read', 'pii.reveal', 'staff.read']);
    await st.authz.idpSync.syncRoles(a.adminId, ['viewer']);
    assert.ok(!(await st.authz.resolver.permissionsFor(a.adminId)).has('pii.reveal'));
    // An IdP-only owner who is the last owner keeps it.
    await st.authz.idpSync.syncRoles(a.adminId, ['owner']);
    await call(st, st.rootToken, 'POST', `/api/v1/admins/${st.adminId}/disable`).catch(() => {});
    await st.authz.store.disableAdmin(st.adminId, new Date().toISOString());
    await st.authz.idpSync.syncRoles(a.adminId, []);
    assert.ok((await st.authz.resolver.permissionsFor(a.adminId)).has('*'));
    assert.ok(st.audit.events.some((e) => e.action === 'role.sync'));
  });
});

describe('checked in the service layer, not only in routes', () => {
  it('every authz service refuses an actor lacking the permission, and records it', async () => {
    const st = await stack();
    const viewer = await st.authz.adminActor((await st.adminWithToken('vv', ['viewer'])).adminId);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['admin.create', () => st.authz.admins.create(viewer, { username: 'x' })],
      ['admin.disable', () => st.authz.admins.disable(viewer, st.adminId)],
      ['admin.list', () => st.authz.admins.list(viewer)],
      ['role.create', () => st.authz.roles.create(viewer, { name: 'r-x', description: '', permissions: ['devices.read'] })],
      ['role.assign', () => st.authz.roles.assign(viewer, st.adminId, 'viewer')],
      ['role.unassign', () => st.authz.roles.unassign(viewer, st.adminId, 'owner')],
      ['token.create', () => st.authz.tokens.create(viewer, { name: 't', scopes: ['devices.read'] })],
      ['token.list', () => st.authz.tokens.list(viewer, st.adminId)],
      ['approval.approve', () => st.authz.gate.approve(viewer, '00000000-0000-4000-8000-000000000000')],
      ['approval.deny', () => st.authz.gate.deny(viewer, '00000000-0000-4000-8000-000000000000')],
    ];
    for (const [action, fn] of calls) {
      await assert.rejects(fn(), (e: Error & { code?: string }) => e.code === 'forbidden', action);
      assert.ok(st.audit.events.some((e) => e.action === action && e.outcome === 'denied'), `${action} recorded`);
    }
  });
});
