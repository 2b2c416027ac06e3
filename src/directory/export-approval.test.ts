// The staff export under four-eyes approval, through the admin API of the real
// stack: held until a second administrator approves, sealed to the
// requester's key by the approved run, downloaded once by the requester only.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { callApi, createTestStack, type TestStack } from '../admin/testkit.ts';
import { generateRecipientKey, openSealed } from './export.ts';

let s: TestStack | undefined;
after(async () => {
  await s?.close();
});

const call = callApi;

describe('staff export with four-eyes approval', () => {
  it('is held, runs once when approved, and only the requester downloads it, once', async () => {
    const st = (s = await createTestStack());
    const who = { type: 'admin' as const, id: st.adminId, permissions: new Set(['*']) };
    await st.directory.create(who, { userName: 'ana.lopez@example.org', displayName: 'Ana Lopez', phones: ['+32470001122'] }, 'admin');
    await st.directory.create(who, { userName: 'bo.berg@example.org', displayName: 'Bo Berg' }, 'admin');
    const officer = await st.adminWithToken('officer', ['owner']);
    const key = generateRecipientKey();

    const held = await call(st, st.rootToken, 'POST', '/api/v1/staff/export', { recipient: key.publicB64 });
    assert.equal(held.statusCode, 202, held.body);
    const approval = held.json() as { id: string; action: string; status: string };
    assert.equal(approval.action, 'pii.export');
    assert.ok(!held.body.includes('Ana') && !held.body.includes('ana.lopez'));

    // The requester cannot approve it; the officer can, once.
    assert.equal((await call(st, st.rootToken, 'POST', `/api/v1/approvals/${approval.id}/approve`)).statusCode, 403);
    const ok = await call(st, officer.token, 'POST', `/api/v1/approvals/${approval.id}/approve`);
    assert.equal(ok.statusCode, 200, ok.body);
    const result = (ok.json() as { result?: { exportId?: string; rows?: number } }).result;
    const exportId = result?.exportId ?? '';
    assert.match(exportId, /^pex_[0-9a-f]{32}$/);
    assert.equal(result?.rows, 2);
    assert.ok(!ok.body.includes('Ana') && !ok.body.includes('ana.lopez'), 'the approver sees ids and counts only');
    assert.equal((await call(st, officer.token, 'POST', `/api/v1/approvals/${approval.id}/approve`)).statusCode, 409);

    // Only the requester downloads, once.
    assert.equal((await call(st, officer.token, 'GET', `/api/v1/staff/exports/${exportId}`)).statusCode, 403);
    const dl = await call(st, st.rootToken, 'GET', `/api/v1/staff/exports/${exportId}`);
    assert.equal(dl.statusCode, 200, dl.body);
    const csv = Buffer.from(openSealed(Buffer.from((dl.json() as { file: string }).file, 'base64'), key.privatePem)).toString('utf8');
    assert.match(csv, /ana\.lopez@example\.org/);
    assert.match(csv, /Bo Berg/);
    assert.equal((await call(st, st.rootToken, 'GET', `/api/v1/staff/exports/${exportId}`)).statusCode, 410);
    const actions = st.audit.events.map((e) => `${e.action}:${e.outcome}`);
    for (const a of ['approval.request:success', 'approval.approve:success', 'pii.export:success', 'pii.export.download:success', 'pii.export.download:denied']) {
      assert.ok(actions.includes(a), a);
    }
  });
});
