import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGatewayMessage } from './messages.ts';

const good = {
  t: 'mdm',
  id: 1,
  endpoint: 'checkin',
  requestId: 'abc_123',
  source: '127.0.0.1',
  body: Buffer.from('<plist/>').toString('base64'),
  identity: { kind: 'signature', signature: 'AAAA' },
  message: { messageType: 'Authenticate' },
};

test('a well-formed MDM request is accepted', () => {
  assert.deepEqual(parseGatewayMessage(good), good);
});

test('anything else is refused', () => {
  const bad: unknown[] = [
    null,
    'mdm',
    { ...good, extra: 1 },
    { ...good, id: 0 },
    { ...good, id: 1.5 },
    { ...good, endpoint: 'admin' },
    { ...good, requestId: 'a b' },
    { ...good, body: 'not base64!' },
    { ...good, identity: { kind: 'signature', signature: 'AAAA', cert: 'x' } },
    { ...good, identity: { kind: 'password', secret: 'x' } },
    { t: 'rejected', endpoint: 'checkin', reason: 'Bad Reason', status: 400, source: 'x', requestId: 'r' },
    { t: 'ready', port: 70000 },
  ];
  for (const b of bad) assert.equal(parseGatewayMessage(b), undefined, JSON.stringify(b));
  assert.ok(parseGatewayMessage({ t: 'rejected', endpoint: 'checkin', reason: 'bad_signature', status: 401, source: '::1', requestId: 'r1' }));
  assert.ok(parseGatewayMessage({ t: 'ready', port: 8443 }));
});
