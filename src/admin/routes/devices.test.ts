import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../testkit.ts';
import type { TestStack } from '../testkit.ts';

describe('device routes', () => {
  let s: TestStack;
  let auth: Record<string, string>;
  before(async () => {
    s = await createTestStack();
    auth = { authorization: `Bearer ${s.rootToken}` };
    for (let i = 1; i <= 3; i++) await s.addDevice(`UDID-${i}`, { serialNumber: `SER${i}`, deviceName: `Device ${i}`, osVersion: i === 3 ? '17.0' : '18.1' });
  });
  after(async () => s.close());

  it('GET /api/v1/devices lists with query filters and a cursor', async () => {
    let res = await s.app.inject({ method: 'GET', url: '/api/v1/devices?limit=2', headers: auth });
    assert.equal(res.statusCode, 200);
    const page = res.json() as { items: Array<{ id: string }>; next: string };
    assert.deepEqual(page.items.map((d) => d.id), ['UDID-1', 'UDID-2']);
    assert.equal(page.next, 'UDID-2');
    res = await s.app.inject({ method: 'GET', url: `/api/v1/devices?after=${page.next}`, headers: auth });
    assert.deepEqual((res.json() as { items: Array<{ id: string }> }).items.map((d) => d.id), ['UDID-3']);
    res = await s.app.inject({ method: 'GET', url: '/api/v1/devices?osVersion=17.0&search=device', headers: auth });
    assert.deepEqual((res.json() as { items: Array<{ id: string }> }).items.map((d) => d.id), ['UDID-3']);
    res = await s.app.inject({ method: 'GET', url: '/api/v1/devices?status=lost', headers: auth });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid request', issues: ['querystring/status'] });
  });

  it('GET /api/v1/devices/:id and 404', async () => {
    let res = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-1', headers: auth });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as { serialNumber: string }).serialNumber, 'SER1');
    res = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-9', headers: auth });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: 'not_found', message: 'not found' });
  });

  it('GET /api/v1/devices/:id/commands needs commands.read', async () => {
    await s.commands.enqueue({ type: 'system', id: 'test', permissions: new Set(['*']) }, { deviceIds: ['UDID-1'], requestType: 'ProfileList', payload: {} });
    let res = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-1/commands?status=pending', headers: auth });
    assert.equal(res.statusCode, 200);
    assert.deepEqual((res.json() as { items: Array<{ requestType: string }> }).items.map((e) => e.requestType), ['ProfileList']);
    const token = await s.tokenFor(['devices.read']);
    res = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-1/commands', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 403);
  });
});
