// Fleet-wide and group actions under the four-eyes policy, through the admin
// API of the real stack: above the threshold the bulk request waits for a
// second administrator; the approved run stores one job, which queues the
// command once under the approved CommandUUID; a replayed approval runs nothing.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { callApi, createTestStack, type TestStack } from '../admin/testkit.ts';

let s: TestStack | undefined;
after(async () => {
  await s?.close();
});

const call = callApi;

describe('bulk actions and four-eyes approval', () => {
  it('holds a bulk request above the threshold, runs the approved one once, refuses a replay', async () => {
    const st = (s = await createTestStack({ fleet: true, authz: { approvals: { thresholds: { 'command.bulk': 3 } } } }));
    for (let i = 0; i < 5; i++) await st.addDevice(`BULK-${i}`);
    const officer = await st.adminWithToken('officer', ['owner']);
    const lock = { requestType: 'DeviceLock', payload: { Message: 'Lost' } };

    // Below the threshold: accepted at once.
    const small = await call(st, st.rootToken, 'POST', '/api/v1/commands/bulk', { ...lock, selection: { deviceIds: ['BULK-0', 'BULK-1'] } });
    assert.equal(small.statusCode, 202, small.body);
    assert.ok((small.json() as { jobId?: string }).jobId?.startsWith('bulk_'), small.body);

    // Above it: held; nothing is stored as a job and nothing is queued yet.
    const big = await call(st, st.rootToken, 'POST', '/api/v1/commands/bulk', { ...lock, selection: { deviceIds: ['BULK-0', 'BULK-1', 'BULK-2', 'BULK-3', 'BULK-4'] } });
    assert.equal(big.statusCode, 202, big.body);
    const approval = big.json() as { id: string; status: string; action: string };
    assert.equal(approval.status, 'pending');
    assert.equal(approval.action, 'command.bulk');
    assert.equal(st.audit.events.filter((e) => e.action === 'command.bulk' && e.outcome === 'success').length, 1, 'only the small request was accepted');

    // The requester cannot approve; the officer can, once.
    assert.equal((await call(st, st.rootToken, 'POST', `/api/v1/approvals/${approval.id}/approve`)).statusCode, 403);
    const ok = await call(st, officer.token, 'POST', `/api/v1/approvals/${approval.id}/approve`);
    assert.equal(ok.statusCode, 200, ok.body);
    const result = (ok.json() as { result?: { bulkJob?: string; commandUuid?: string } }).result;
    const job = { id: result?.bulkJob ?? '', commandUuid: result?.commandUuid ?? '' };
    assert.ok(job.id.startsWith('bulk_') && job.commandUuid !== '', ok.body);
    assert.equal((await call(st, officer.token, 'POST', `/api/v1/approvals/${approval.id}/approve`)).statusCode, 409);

    // The worker queues the approved job: five devices, one command.
    let queued = 0;
    for (let i = 0; i < 100 && queued < 5; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const p = await call(st, st.rootToken, 'GET', `/api/v1/commands/bulk/${job.id}`);
      queued = (p.json() as { queued?: number }).queued ?? 0;
    }
    assert.equal(queued, 5);
    const enqueues = st.audit.events.filter((e) => e.action === 'command.enqueue' && e.target?.id === job.commandUuid && e.outcome === 'success');
    assert.equal(enqueues.length, 1);
  });
});
