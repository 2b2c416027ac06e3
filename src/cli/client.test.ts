import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, createApiClient, parseAdminUrl, sanitize } from './client.ts';
import type { FetchLike } from './client.ts';

describe('admin API client', () => {
  it('accepts https anywhere and http only on loopback', () => {
    for (const ok of ['https://mdm.example.com:9443', 'http://127.0.0.1:9443', 'http://localhost:9443', 'http://[::1]:9443']) assert.ok(parseAdminUrl(ok));
    for (const bad of ['http://10.0.0.1:9443', 'http://mdm.example.com', 'ftp://127.0.0.1', 'https://u:p@x.example', 'https://x.example/?a=1', 'not a url', 'http://127.0.0.1.evil.example']) {
      assert.throws(() => parseAdminUrl(bad), CliError, bad);
    }
  });

  it('sends the token in the Authorization header only, and builds paths under the base URL', async () => {
    const seen: Array<{ url: string; headers: Record<string, string>; body?: string }> = [];
    const fetch: FetchLike = async (url, init) => {
      seen.push({ url, headers: init.headers, ...(init.body !== undefined ? { body: init.body } : {}) });
      return new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const c = createApiClient({ url: 'https://mdm.example.com/base/', token: 'rmp_x', fetch });
    await c.get('/api/v1/devices', { limit: '5', search: undefined });
    await c.post('/api/v1/commands', { a: 1 });
    assert.equal(seen[0]!.url, 'https://mdm.example.com/base/api/v1/devices?limit=5');
    assert.equal(seen[0]!.headers.authorization, 'Bearer rmp_x');
    assert.equal(seen[1]!.body, '{"a":1}');
    assert.ok(!seen[0]!.url.includes('rmp_x'));
  });

  it('turns API errors into one sanitized line', async () => {
    const fetch: FetchLike = async () => new Response(JSON.stringify({ error: 'bad_request', message: 'bad\u001b[2Jthing', issues: ['body/x'] }), { status: 400 });
    const c = createApiClient({ url: 'http://127.0.0.1:9443', token: 'rmp_x', fetch });
    await assert.rejects(c.get('/api/v1/devices'), (e) => e instanceof CliError && e.message === 'bad?[2Jthing (body/x) [HTTP 400]');
    const html: FetchLike = async () => new Response('<html>proxy error</html>', { status: 502 });
    await assert.rejects(createApiClient({ url: 'http://127.0.0.1:9443', token: 'rmp_x', fetch: html }).get('/x'), /unexpected response from the admin API \(HTTP 502\)/);
  });

  it('requires a well-formed token', () => {
    assert.throws(() => createApiClient({ url: 'http://127.0.0.1:9443', token: undefined }), /no token/);
    assert.throws(() => createApiClient({ url: 'http://127.0.0.1:9443', token: 'a b\r\nX-Evil: 1' }), /malformed token/);
  });

  it('sanitize removes terminal control and bidi characters', () => {
    assert.equal(sanitize('a\u001b[31mb\u0007c\u202ed\n'), 'a?[31mb?c?d?');
  });
});
