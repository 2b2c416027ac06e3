import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGatewayMessage, parseTrustLists } from './messages.ts';

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

test('enroll crl: a CA id of 32 lower-case hex characters, nothing else', () => {
  const base = { t: 'enroll', id: 1, requestId: 'r1', source: '192.0.2.1', op: 'crl' };
  assert.ok(parseGatewayMessage({ ...base, caId: '0123456789abcdef0123456789abcdef' }));
  for (const caId of ['0123456789ABCDEF0123456789ABCDEF', '0123', '../../etc/passwd', 42]) {
    assert.equal(parseGatewayMessage({ ...base, caId }), undefined, String(caId));
  }
  assert.equal(parseGatewayMessage({ ...base, caId: '0123456789abcdef0123456789abcdef', extra: 1 }), undefined);
});

test('trust lists from the core: base64 certificates, at least one anchor, bounded', () => {
  const der = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString('base64');
  assert.deepEqual(parseTrustLists({ trustAnchors: [der], intermediates: [] })?.anchors.length, 1);
  assert.deepEqual(parseTrustLists({ trustAnchors: [der] })?.intermediates, []);
  assert.equal(parseTrustLists({ trustAnchors: [], intermediates: [] }), undefined);
  assert.equal(parseTrustLists({ trustAnchors: ['not base64!'], intermediates: [] }), undefined);
  assert.equal(parseTrustLists({ trustAnchors: [der], intermediates: 'x' }), undefined);
  assert.equal(parseTrustLists({ trustAnchors: new Array(65).fill(der) }), undefined);
});
