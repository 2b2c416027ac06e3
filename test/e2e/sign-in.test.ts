// The real server process: the bootstrap administrator's printed one-time
// credential signs in once in a browser flow, which forces a password and TOTP
// enrolment; afterwards the session cookie works (with CSRF), and the
// credential keeps working as a bearer token for the command line.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from 'otpauth';
import { totpCode } from '../../src/identity/totp.ts';
import { removeDataDir, startServerProcess, stopServerProcess } from './harness.ts';

it('bootstrap administrator: credential → password → TOTP → session; the credential still works for the CLI', async () => {
  const server = await startServerProcess({ env: { RAMPART_IDENTITY: JSON.stringify({ argon2: { memoryCost: 1024, timeCost: 1 } }) } });
  try {
    assert.ok(server.token, server.output());
    assert.match(server.output(), /First sign-in/);
    const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${server.adminUrl}${p}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null, cookie: res.headers.get('set-cookie') };
    };
    const login = await call('POST', '/api/v1/auth/login', { username: 'admin', password: server.token });
    assert.equal(login.status, 200, JSON.stringify(login.json));
    assert.deepEqual([login.json!.stage, login.json!.needsPassword], ['enroll', true]);
    const ticket = login.json!.ticket as string;
    assert.equal((await call('POST', '/api/v1/auth/enroll/password', { ticket, password: 'a brand new long passphrase' })).status, 200);
    const totp = await call('POST', '/api/v1/auth/enroll/totp', { ticket });
    const secret = new Uint8Array(Secret.fromBase32(totp.json!.secret as string).bytes);
    const done = await call('POST', '/api/v1/auth/enroll/totp/confirm', { ticket, code: totpCode(secret, new Date()) });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    assert.equal((done.json!.recoveryCodes as string[]).length, 10);
    const cookie = /^(__Host-rampart_session=[^;]+);.*HttpOnly; Secure; SameSite=Strict/.exec(done.cookie ?? '')?.[1];
    assert.ok(cookie, String(done.cookie));
    const me = await call('GET', '/api/v1/auth/me', undefined, { cookie });
    assert.equal(me.status, 200);
    assert.deepEqual(me.json!.permissions, ['*']);
    // Cookie sessions reach the rest of the API; state changes need the CSRF token.
    assert.equal((await call('GET', '/api/v1/devices', undefined, { cookie })).status, 200);
    assert.equal((await call('POST', '/api/v1/auth/logout', undefined, { cookie })).status, 403);
    assert.equal((await call('GET', '/api/v1/devices', undefined, { authorization: `Bearer ${server.token}` })).status, 200);
    assert.equal((await call('POST', '/api/v1/auth/logout', undefined, { cookie, 'x-csrf-token': done.json!.csrfToken as string })).status, 200);
    assert.equal((await call('GET', '/api/v1/devices', undefined, { cookie })).status, 401);
  } finally {
    await stopServerProcess(server);
    removeDataDir(server.dataDir);
  }
});
