import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openAdminDirectoryStack } from '../../directory/admin-testkit.ts';
import type { AdminDirectoryStack } from '../../directory/admin-testkit.ts';

describe('staff routes', () => {
  let k: AdminDirectoryStack;
  let writer: string;
  let reader: { token: string; id: string };
  let revealer: string;
  let auditor: string;
  let id = '';
  const h = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  before(async () => {
    k = await openAdminDirectoryStack();
    writer = (await k.tokenFor(['staff.write'])).token;
    reader = await k.tokenFor(['staff.read']);
    revealer = (await k.tokenFor(['pii.reveal'])).token;
    auditor = (await k.tokenFor(['pii.access.read'])).token;
  });
  after(async () => k.close());

  it('create answers masked; list and detail are masked and recorded', async () => {
    const res = await k.app.inject({
      method: 'POST',
      url: '/api/v1/staff',
      headers: h(writer),
      payload: { userName: 'jdoe@example.org', givenName: 'John', familyName: 'Doe', displayName: 'John Doe', email: 'John.Doe@example.org', phones: ['+32 470 12 34 12'], employeeNumber: 'E-1001' },
    });
    assert.equal(res.statusCode, 201);
    const v = res.json();
    id = v.id;
    assert.equal(v.displayName, 'J*** D***');
    assert.deepEqual(v.phones, ['+32 *** ** 12']);
    assert.equal(v.email, 'j***@example.org');
    const list = await k.app.inject({ method: 'GET', url: '/api/v1/staff', headers: h(reader.token) });
    assert.equal(list.statusCode, 200);
    assert.equal(list.json().items[0].givenName, 'J***');
    const found = await k.app.inject({ method: 'POST', url: '/api/v1/staff/search', headers: h(reader.token), payload: { phone: '0032470123412' } });
    assert.deepEqual(found.json().items.map((x: { id: string }) => x.id), [id]);
    assert.equal((await k.app.inject({ method: 'POST', url: '/api/v1/staff/search', headers: h(reader.token), payload: {} })).statusCode, 400);
  });

  it('reveal needs pii.reveal and a reason code', async () => {
    assert.equal((await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}/reveal`, headers: h(reader.token), payload: { reason: 'support' } })).statusCode, 403);
    assert.equal((await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}/reveal`, headers: h(revealer), payload: {} })).statusCode, 400);
    assert.equal((await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}/reveal`, headers: h(revealer), payload: { reason: 'curiosity' } })).statusCode, 400);
    const r = await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}/reveal`, headers: h(revealer), payload: { reason: 'support', ticket: 'INC-7' } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().displayName, 'John Doe');
    assert.deepEqual(r.json().phones, ['+32470123412']);
  });

  it('GET /api/v1/pii/access answers which people and how many were exposed to whom', async () => {
    const since = '2020-01-01T00:00:00Z';
    const res = await k.app.inject({ method: 'GET', url: `/api/v1/pii/access?principal=${reader.id}&since=${since}`, headers: h(auditor) });
    assert.equal(res.statusCode, 200);
    const b = res.json();
    assert.equal(b.subjects, 1);
    assert.equal(b.reads, 2);
    assert.deepEqual(b.staffIds, [id]);
    const who = await k.app.inject({ method: 'GET', url: `/api/v1/pii/access?staffId=${id}&since=${since}`, headers: h(auditor) });
    assert.equal(who.json().principals.length, 3);
    assert.equal((await k.app.inject({ method: 'GET', url: `/api/v1/pii/access?since=${since}`, headers: h(auditor) })).statusCode, 400);
    assert.equal((await k.app.inject({ method: 'GET', url: `/api/v1/pii/access?principal=x&since=${since}`, headers: h(reader.token) })).statusCode, 403);
  });

  it('replace with version, delete; errors carry no personal data; logs neither', async () => {
    const bad = await k.app.inject({ method: 'POST', url: '/api/v1/staff', headers: h(writer), payload: { userName: 'x', email: 'Secret Person <nope>' } });
    assert.equal(bad.statusCode, 400);
    assert.ok(!bad.body.includes('Secret'));
    const dup = await k.app.inject({ method: 'POST', url: '/api/v1/staff', headers: h(writer), payload: { userName: 'JDOE@example.org' } });
    assert.equal(dup.statusCode, 409);
    assert.ok(!dup.body.toLowerCase().includes('jdoe'));
    const stale = await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}`, headers: h(writer), payload: { version: 9, record: { userName: 'jdoe@example.org' } } });
    assert.equal(stale.statusCode, 409);
    const ok = await k.app.inject({ method: 'POST', url: `/api/v1/staff/${id}`, headers: h(writer), payload: { version: 1, record: { userName: 'jdoe@example.org', department: 'Sales' } } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().department, 'S***');
    assert.equal((await k.app.inject({ method: 'DELETE', url: `/api/v1/staff/${id}`, headers: h(writer) })).statusCode, 200);
    assert.equal((await k.app.inject({ method: 'GET', url: `/api/v1/staff/${id}`, headers: h(reader.token) })).statusCode, 404);
    const all = k.logs.join('\n') + JSON.stringify(k.audit.events);
    for (const needle of ['John', 'Doe', 'jdoe', '470123412', 'E-1001', 'Secret', 'Sales']) assert.ok(!all.includes(needle), needle);
  });
});
