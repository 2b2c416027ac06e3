import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGatewayMessage, type EnrollRequest } from '../ipc/messages.ts';
import { statusText } from '../lib/status-text.ts';
import type { DeviceEnrollmentService } from '../enroll/device-enrollment.ts';
import { createEnrollLink } from './enroll-link.ts';

const calls: string[] = [];
const service = {
  profile: async (token: string) => (calls.push(`profile ${token}`), { status: 200, contentType: 'application/x-apple-aspen-config', body: new Uint8Array([1]) }),
  scep: async (op: string, body: Uint8Array | undefined) => (calls.push(`${op} ${body?.length ?? '-'}`), { status: 200, contentType: 'text/plain', body: new Uint8Array([2]) }),
  mayRebind: async () => undefined,
  recordRenewed: async () => {},
  bound: async () => {},
} as unknown as DeviceEnrollmentService;

const base = { t: 'enroll' as const, id: 1, requestId: 'r1', source: '192.0.2.1' };

test('the IPC schema admits only well-formed enrollment messages', () => {
  assert.ok(parseGatewayMessage({ ...base, op: 'GetCACaps' }));
  assert.ok(parseGatewayMessage({ ...base, op: 'profile', token: 'A'.repeat(43) }));
  assert.equal(parseGatewayMessage({ ...base, op: 'GetCRL' }), undefined);
  assert.equal(parseGatewayMessage({ ...base, op: 'profile', token: 'short' }), undefined);
  assert.equal(parseGatewayMessage({ ...base, op: 'PKIOperation', body: '!!!' }), undefined);
  assert.equal(parseGatewayMessage({ ...base, op: 'PKIOperation', body: 'AAAA', extra: 1 }), undefined);
  assert.equal(parseGatewayMessage({ ...base, op: 'PKIOperation', body: 'A'.repeat(100_000) }), undefined);
});

test('the core checks the fields per operation again and answers fixed bodies', async () => {
  const link = createEnrollLink({ enrollment: service, log: { error: () => {} } });
  const bad: EnrollRequest[] = [
    { ...base, op: 'profile' },
    { ...base, op: 'profile', token: 'A'.repeat(43), body: 'AAAA' },
    { ...base, op: 'PKIOperation' },
    { ...base, op: 'PKIOperation', body: '' },
    { ...base, op: 'GetCACaps', body: 'AAAA' },
    { ...base, op: 'GetCACert', token: 'A'.repeat(43) },
  ];
  for (const m of bad) {
    const r = await link.handleEnroll(m);
    assert.equal(r.status, 400, JSON.stringify(m));
    assert.equal(Buffer.from(r.body!, 'base64').toString(), statusText(400));
  }
  assert.deepEqual(calls, []);
  assert.equal((await link.handleEnroll({ ...base, op: 'PKIOperation', body: 'AAAA' })).status, 200);
  assert.equal((await link.handleEnroll({ ...base, op: 'profile', token: 'B'.repeat(43) })).status, 200);
  assert.deepEqual(calls, ['PKIOperation 3', `profile ${'B'.repeat(43)}`]);
  const failing = createEnrollLink({ enrollment: { ...service, scep: async () => { throw new Error('boom: internals'); } } as DeviceEnrollmentService, log: { error: () => {} } });
  const r = await failing.handleEnroll({ ...base, op: 'GetCACaps' });
  assert.equal(r.status, 500);
  assert.equal(Buffer.from(r.body!, 'base64').toString(), statusText(500));
});
