import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../testkit.ts';
import type { TestStack } from '../testkit.ts';

const UUID = '9d1f8f2e-7a6b-4c5d-8e9f-0a1b2c3d4e5f';

describe('command routes', () => {
  let s: TestStack;
  let auth: Record<string, string>;
  before(async () => {
    s = await createTestStack();
    auth = { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json' };
    await s.addDevice('D1');
    await s.addDevice('D2');
  });
  after(async () => s.close());

  const post = (body: unknown, headers = auth) => s.app.inject({ method: 'POST', url: '/api/v1/commands', headers, payload: JSON.stringify(body) });

  it('POST /api/v1/commands queues and answers 201; replays are idempotent; conflicts are 409', async () => {
    const body = { deviceIds: ['D1', 'D2'], requestType: 'DeviceInformation', payload: { Queries: ['OSVersion'] }, commandUuid: UUID };
    let res = await post(body);
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json(), { commandUuid: UUID, requestType: 'DeviceInformation', queued: 2 });
    res = await post(body);
    assert.equal(res.statusCode, 201);
    res = await post({ ...body, payload: { Queries: ['UDID'] } });
    assert.equal(res.statusCode, 409);
    assert.deepEqual(res.json(), { error: 'conflict', message: 'command uuid already used' });
  });

  it('schema mismatches and unknown devices are refused with fixed bodies', async () => {
    let res = await post({ deviceIds: ['D1'], requestType: 'DeviceLock', payload: { PIN: 123456 } });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { error: string }).error, 'bad_request');
    res = await post({ deviceIds: ['D1', 'UNKNOWN-PERSONAL-ID'], requestType: 'DeviceLock' });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: 'not_found', message: 'device not found' });
    res = await post({ deviceIds: ['D1'], requestType: 'DeviceLock', payload: { RequestType: 'EraseDevice' } });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid request', issues: ['body/payload'] });
  });

  it('GET status and result, DELETE cancel', async () => {
    let res = await s.app.inject({ method: 'GET', url: `/api/v1/commands/${UUID}?limit=1`, headers: { authorization: auth.authorization! } });
    assert.equal(res.statusCode, 200);
    const st = res.json() as { summary: { pending: number }; entries: { items: unknown[]; next: string } };
    assert.equal(st.summary.pending, 2);
    assert.equal(st.entries.items.length, 1);
    assert.equal(st.entries.next, 'D1');
    res = await s.app.inject({ method: 'GET', url: `/api/v1/commands/${UUID}/devices/D2`, headers: { authorization: auth.authorization! } });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as { status: string; result: unknown }).status, 'pending');
    res = await s.app.inject({ method: 'DELETE', url: `/api/v1/commands/${UUID}/devices/D2`, headers: { authorization: auth.authorization! } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { cancelled: true });
    res = await s.app.inject({ method: 'DELETE', url: `/api/v1/commands/${UUID}/devices/D2`, headers: { authorization: auth.authorization! } });
    assert.equal(res.statusCode, 409);
    res = await s.app.inject({ method: 'GET', url: '/api/v1/commands/not-a-uuid', headers: { authorization: auth.authorization! } });
    assert.equal(res.statusCode, 400);
  });

  it('cancel needs commands.cancel', async () => {
    const token = await s.tokenFor(['commands.read', 'commands.send']);
    const res = await s.app.inject({ method: 'DELETE', url: `/api/v1/commands/${UUID}/devices/D1`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 403);
    assert.equal((await s.storage.queue.entry('D1', UUID))!.status, 'pending');
  });
});
