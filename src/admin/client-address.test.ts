import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { MAX_FORWARDED_HOPS, createClientAddress } from './client-address.ts';
import { createTestStack } from './testkit.ts';
import { createAccount, post } from '../identity/testing.ts';

describe('admin client address', () => {
  it('trusts nothing by default: the TCP peer, whatever X-Forwarded-For says', () => {
    const ip = createClientAddress([]);
    assert.equal(ip('203.0.113.9', '198.51.100.1'), '203.0.113.9');
    assert.equal(ip('::ffff:127.0.0.1', '198.51.100.1'), '127.0.0.1');
    assert.equal(ip('2001:db8::1', undefined), '2001:db8::1');
  });

  it('honours X-Forwarded-For only from the listed proxies, right to left', () => {
    const ip = createClientAddress(['10.0.0.0/8', '2001:db8:1::/48', '192.0.2.7']);
    assert.equal(ip('10.1.2.3', '198.51.100.1'), '198.51.100.1');
    assert.equal(ip('::ffff:10.1.2.3', '198.51.100.1'), '198.51.100.1', 'IPv4-mapped peer');
    assert.equal(ip('203.0.113.9', '198.51.100.1'), '203.0.113.9', 'an untrusted peer cannot claim an address');
    // The client spoofs a leading entry; the trusted proxy appended the real one.
    assert.equal(ip('10.1.2.3', '6.6.6.6, 198.51.100.1'), '198.51.100.1');
    // Two trusted hops.
    assert.equal(ip('192.0.2.7', '198.51.100.1, 10.9.9.9'), '198.51.100.1');
    assert.equal(ip('10.1.2.3', ['6.6.6.6', '198.51.100.1']), '198.51.100.1', 'several headers are one list');
    assert.equal(ip('2001:db8:1::5', '2001:db8:2::7'), '2001:db8:2::7');
    // Every hop trusted: the leftmost.
    assert.equal(ip('10.1.2.3', '10.0.0.5, 10.0.0.6'), '10.0.0.5');
    // No header: the proxy itself.
    assert.equal(ip('10.1.2.3', undefined), '10.1.2.3');
  });

  it('a malformed entry stops at the last trusted hop; never a non-address', () => {
    const ip = createClientAddress(['10.0.0.0/8']);
    assert.equal(ip('10.1.2.3', 'not-an-ip'), '10.1.2.3');
    assert.equal(ip('10.1.2.3', '198.51.100.1, <script>'), '10.1.2.3');
    assert.equal(ip('10.1.2.3', '198.51.100.1:443'), '10.1.2.3');
    assert.equal(ip('10.1.2.3', ''), '10.1.2.3');
    assert.equal(ip('10.1.2.3', `${'1.1.1.1,'.repeat(400)}1.1.1.1`), '10.1.2.3', 'oversized header ignored');
    const chain = Array.from({ length: MAX_FORWARDED_HOPS + 5 }, (_, i) => `10.0.0.${i + 1}`).join(',');
    assert.equal(ip('10.1.2.3', chain), `10.0.0.6`, 'at most MAX_FORWARDED_HOPS entries are read');
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (h) => {
      const got = ip('10.1.2.3', h);
      assert.ok(isIP(got) !== 0, got);
    }));
  });

  it('refuses a malformed CIDR', () => {
    assert.throws(() => createClientAddress(['10.0.0.0/33']), /CIDR/);
  });

  describe('through the admin server', () => {
    const call = (s: Awaited<ReturnType<typeof createTestStack>>, token: string, peer: string, xff?: string) =>
      s.app.inject({ method: 'GET', url: '/api/v1/devices', remoteAddress: peer, headers: { authorization: `Bearer ${token}`, ...(xff !== undefined ? { 'x-forwarded-for': xff } : {}) } });

    it('default: X-Forwarded-For is ignored for network-bound tokens and the audit source', async () => {
      const s = await createTestStack();
      try {
        const r = await s.app.inject({ method: 'POST', url: '/api/v1/tokens', remoteAddress: '127.0.0.1', headers: { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'office', scopes: ['devices.read'], networks: ['198.51.100.0/24'] }) });
        assert.equal(r.statusCode, 201, r.body);
        const token = (r.json() as { token: string }).token;
        assert.equal((await call(s, token, '127.0.0.1', '198.51.100.7')).statusCode, 401, 'a claimed address does not count');
        assert.equal((await call(s, token, '198.51.100.7')).statusCode, 200);
      } finally {
        await s.close();
      }
    });

    it('behind a trusted proxy: network-bound tokens, the audit source and sign-in throttling use the client address', async () => {
      const s = await createTestStack({ trustProxy: ['127.0.0.1/32'] });
      try {
        const r = await s.app.inject({ method: 'POST', url: '/api/v1/tokens', remoteAddress: '127.0.0.1', headers: { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.50' }, payload: JSON.stringify({ name: 'office', scopes: ['devices.read'], networks: ['198.51.100.0/24'] }) });
        assert.equal(r.statusCode, 201, r.body);
        const created = s.audit.events.findLast((e) => e.action === 'token.create');
        assert.equal(created?.source, '203.0.113.50', 'the audit source is the client');
        const token = (r.json() as { token: string }).token;
        assert.equal((await call(s, token, '127.0.0.1', '198.51.100.7')).statusCode, 200);
        assert.equal((await call(s, token, '127.0.0.1', '198.51.100.7, 127.0.0.1')).statusCode, 200, 'two hops through the proxy');
        assert.equal((await call(s, token, '127.0.0.1', '203.0.113.9')).statusCode, 401);
        assert.equal((await call(s, token, '127.0.0.1', '198.51.100.7, 203.0.113.9')).statusCode, 401, 'a spoofed leading entry does not count');
        assert.equal((await call(s, token, '10.0.0.9', '198.51.100.7')).statusCode, 401, 'only the listed proxies are believed');
        // Throttling: one client behind the proxy is locked out; another client behind the same proxy is not.
        await createAccount(s, 'frank', 'correct horse battery staple');
        const login = (xff: string, password: string) => post(s, '/api/v1/auth/login', { username: 'frank', password }, { ip: '127.0.0.1', headers: { 'x-forwarded-for': xff } });
        for (let i = 0; i < 5; i++) assert.equal((await login('203.0.113.66', `wrong ${i}`)).statusCode, 401);
        assert.equal((await login('203.0.113.66', 'correct horse battery staple')).statusCode, 429);
        assert.equal((await login('203.0.113.67', 'correct horse battery staple')).statusCode, 200);
        const throttled = s.audit.events.findLast((e) => e.action === 'auth.login' && e.outcome === 'denied');
        assert.equal(throttled?.source, '203.0.113.66');
      } finally {
        await s.close();
      }
    });
  });
});
