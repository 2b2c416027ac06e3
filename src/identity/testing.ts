// Helpers for identity tests that drive the real admin server (inject).
import assert from 'node:assert/strict';
import { Secret } from 'otpauth';
import type { TestStack } from '../admin/testkit.ts';
import { totpCode } from './totp.ts';
import { SESSION_COOKIE } from './sessions.ts';

export interface Reply {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json(): unknown;
}

export interface Browser {
  ip: string;
  cookie: string | undefined;
  csrf: string | undefined;
}

export function post(s: TestStack, url: string, body: unknown, opts: { ip?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return s.app.inject({
    method: 'POST',
    url,
    remoteAddress: opts.ip ?? '10.0.0.1',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  }) as Promise<Reply>;
}

export function get(s: TestStack, url: string, opts: { ip?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return s.app.inject({ method: 'GET', url, remoteAddress: opts.ip ?? '10.0.0.1', headers: opts.headers ?? {} }) as Promise<Reply>;
}

/** The session value from a Set-Cookie header. */
export function sessionFromSetCookie(r: Reply): string {
  const h = r.headers['set-cookie'];
  const line = Array.isArray(h) ? h[0] : String(h);
  const m = new RegExp(`^${SESSION_COOKIE}=([^;]*);`).exec(line ?? '');
  assert.ok(m, `no session cookie in ${String(line)}`);
  return m[1]!;
}

export function codeFor(base32: string, at: Date): string {
  return totpCode(new Uint8Array(Secret.fromBase32(base32).bytes), at);
}

/** Creates a local account through the API (as root) and returns its id. */
let approvers = 0;

/**
 * Creates a local account through the API as root: creating an administrator
 * is a four-eyes action, so a second owner approves it.
 */
export async function createAccount(s: TestStack, username: string, password: string, opts: { breakGlass?: boolean } = {}): Promise<string> {
  const r = await post(s, '/api/v1/accounts', { username, password, ...(opts.breakGlass ? { breakGlass: true } : {}) }, { headers: { authorization: `Bearer ${s.rootToken}` } });
  if (r.statusCode === 201) return (r.json() as { id: string }).id;
  assert.equal(r.statusCode, 202, r.body);
  const approval = r.json() as { id: string; action: string };
  assert.equal(approval.action, 'account.create');
  assert.ok(!r.body.includes(password), 'the approval never carries the password');
  const approver = await s.adminWithToken(`approver${++approvers}`, ['owner']);
  const ok = await post(s, `/api/v1/approvals/${approval.id}/approve`, undefined, { headers: { authorization: `Bearer ${approver.token}` } });
  assert.equal(ok.statusCode, 200, ok.body);
  return (ok.json() as { result: { adminId: string } }).result.adminId;
}

/** First sign-in of an account with a password and no factor: enrol TOTP; returns the secret, recovery codes and the browser session. */
export async function enrollFirst(s: TestStack, username: string, password: string, ip = '10.0.0.1'): Promise<{ secret: string; recoveryCodes: string[]; browser: Browser; reply: Reply }> {
  const login = await post(s, '/api/v1/auth/login', { username, password }, { ip });
  assert.equal(login.statusCode, 200, login.body);
  const step = login.json() as { ticket: string; stage: string };
  assert.equal(step.stage, 'enroll');
  const t = await post(s, '/api/v1/auth/enroll/totp', { ticket: step.ticket }, { ip });
  assert.equal(t.statusCode, 200, t.body);
  const { secret } = t.json() as { secret: string };
  const c = await post(s, '/api/v1/auth/enroll/totp/confirm', { ticket: step.ticket, code: codeFor(secret, s.clock.now) }, { ip });
  assert.equal(c.statusCode, 200, c.body);
  const g = c.json() as { csrfToken: string; recoveryCodes: string[] };
  return { secret, recoveryCodes: g.recoveryCodes, browser: { ip, cookie: sessionFromSetCookie(c), csrf: g.csrfToken }, reply: c };
}

/** Password then TOTP at the current clock; returns the reply of the MFA step. */
export async function signIn(s: TestStack, username: string, password: string, secret: string, opts: { ip?: string; cookie?: string; client?: 'browser' | 'cli' } = {}): Promise<Reply> {
  const ip = opts.ip ?? '10.0.0.1';
  const headers: Record<string, string> = opts.cookie ? { cookie: `${SESSION_COOKIE}=${opts.cookie}` } : {};
  const login = await post(s, '/api/v1/auth/login', { username, password, ...(opts.client ? { client: opts.client } : {}) }, { ip, headers });
  if (login.statusCode !== 200) return login;
  const { ticket } = login.json() as { ticket: string };
  return post(s, '/api/v1/auth/mfa', { ticket, totp: codeFor(secret, s.clock.now) }, { ip, headers });
}

export function asBrowser(b: Browser, withCsrf = true): Record<string, string> {
  return { cookie: `${SESSION_COOKIE}=${b.cookie}`, ...(withCsrf && b.csrf ? { 'x-csrf-token': b.csrf } : {}) };
}

export const advance = (s: TestStack, ms: number): void => {
  s.clock.now = new Date(s.clock.now.getTime() + ms);
};
