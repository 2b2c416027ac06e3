// OIDC single sign-on against a real local provider (node:http, ES256 ID
// tokens): authorization code + PKCE, state and nonce, issuer and audience
// checks, browser binding, group → role mapping, just-in-time accounts, and
// local passwords switched off except for the break-glass account.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { parseIdentityConfig } from './config.ts';
import { startTestProvider } from './oidc-provider.ts';
import type { TestProvider } from './oidc-provider.ts';
import { OIDC_COOKIE } from './oidc.ts';
import { SESSION_COOKIE } from './sessions.ts';
import { createAccount, enrollFirst, get, post } from './testing.ts';
import type { Reply } from './testing.ts';

const CLIENT = { id: 'rampart', secret: 'client-secret-for-tests' };
const REDIRECT = 'https://admin.rampart.test/api/v1/auth/oidc/callback';
const PW = 'correct horse battery staple';

function cookies(r: Reply): string[] {
  const h = r.headers['set-cookie'];
  return Array.isArray(h) ? h : h === undefined ? [] : [String(h)];
}
const valueOf = (r: Reply, name: string): string | undefined => cookies(r).map((c) => new RegExp(`^${name}=([^;]*);`).exec(c)?.[1]).find((v) => v !== undefined && v !== '');

describe('OIDC single sign-on', () => {
  let idp: TestProvider;
  let s: TestStack;
  const roles = new Map<string, string[]>();

  before(async () => {
    idp = await startTestProvider(CLIENT);
    const cfg = parseIdentityConfig({
      argon2: { memoryCost: 1024, timeCost: 1 },
      localPasswords: 'break-glass-only',
      oidc: { issuer: idp.issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret, redirectUri: REDIRECT, groupRoles: { 'mdm-admins': ['owner'], helpdesk: ['helpdesk'] } },
    }, { adminOrigin: 'https://admin.rampart.test' });
    s = await createTestStack({
      identity: cfg,
      roleSync: {
        async syncRoles(adminId, names) {
          roles.set(adminId, names);
          await s.authz.idpSync.syncRoles(adminId, names);
        },
      },
    });
  });
  after(async () => {
    await s.close();
    await idp.close();
  });

  /** Start → IdP → callback, like a browser; returns the callback reply. */
  async function ssoFlow(opts: { binding?: (b: string) => string | undefined; beforeCallback?: (callbackUrl: URL) => void } = {}): Promise<{ reply: Reply; callbackUrl: URL; binding: string }> {
    const start = await get(s, '/api/v1/auth/oidc/start');
    assert.equal(start.statusCode, 302, start.body);
    const location = new URL(String(start.headers.location));
    assert.equal(location.origin, idp.issuer);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(location.searchParams.get('state') && location.searchParams.get('nonce'));
    const binding = valueOf(start, OIDC_COOKIE)!;
    assert.match(cookies(start)[0]!, /HttpOnly; Secure; SameSite=Lax/);
    const atIdp = await fetch(location, { redirect: 'manual' });
    assert.equal(atIdp.status, 302);
    const back = new URL(atIdp.headers.get('location')!);
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
    opts.beforeCallback?.(back);
    const b = opts.binding ? opts.binding(binding) : binding;
    const reply = await get(s, `/api/v1/auth/oidc/callback${back.search}`, { headers: b !== undefined ? { cookie: `${OIDC_COOKIE}=${b}` } : {} });
    return { reply, callbackUrl: back, binding };
  }

  it('signs in, creates the account just in time, maps groups to roles, starts a browser session', async () => {
    idp.user = { sub: 'idp-sub-42', preferred_username: 'J.Doe', groups: ['mdm-admins', 'unrelated'], amr: ['pwd', 'hwk'] };
    const { reply } = await ssoFlow();
    assert.equal(reply.statusCode, 302, reply.body);
    assert.equal(reply.headers.location, '/');
    const session = valueOf(reply, SESSION_COOKIE);
    assert.ok(session);
    assert.ok(cookies(reply).some((c) => c.startsWith(`${OIDC_COOKIE}=;`) && /Max-Age=0/.test(c)), 'binding cookie cleared');
    const me = await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${session}` } });
    assert.equal(me.statusCode, 200);
    const body = me.json() as { id: string; username: string; permissions: string[] };
    assert.equal(body.username, 'j.doe');
    assert.deepEqual(roles.get(body.id), ['owner']);
    assert.deepEqual(body.permissions, ['*']);
    assert.ok(s.audit.events.some((e) => e.action === 'account.create' && e.details?.via === 'oidc'));
    assert.ok(s.audit.events.some((e) => e.action === 'auth.login' && e.outcome === 'success' && e.details?.method === 'oidc'));
    // The same subject signs in to the same account; group changes follow.
    idp.user = { ...idp.user, groups: ['helpdesk'] };
    const again = await ssoFlow();
    assert.equal(again.reply.statusCode, 302);
    const me2 = await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${valueOf(again.reply, SESSION_COOKIE)}` } });
    assert.equal((me2.json() as { id: string }).id, body.id);
    assert.deepEqual(roles.get(body.id), ['helpdesk']);
  });

  it('a callback is refused when replayed, without the binding cookie, or from another browser', async () => {
    idp.user = { sub: 'idp-sub-43', preferred_username: 'kim', groups: ['helpdesk'], amr: ['mfa'] };
    const first = await ssoFlow();
    assert.equal(first.reply.statusCode, 302);
    const replay = await get(s, `/api/v1/auth/oidc/callback${first.callbackUrl.search}`, { headers: { cookie: `${OIDC_COOKIE}=${first.binding}` } });
    assert.equal(replay.statusCode, 401);
    assert.equal((await ssoFlow({ binding: () => undefined })).reply.statusCode, 401);
    assert.equal((await ssoFlow({ binding: () => 'B'.repeat(43) })).reply.statusCode, 401);
    const forged = await ssoFlow({ beforeCallback: (u) => u.searchParams.set('state', 'forged-state') });
    assert.equal(forged.reply.statusCode, 401);
  });

  it('ID tokens with the wrong audience, issuer or nonce, or without MFA, are refused', async () => {
    idp.user = { sub: 'idp-sub-44', preferred_username: 'lee', groups: ['helpdesk'], amr: ['mfa'] };
    for (const [name, tamper] of [
      ['audience', (c: Record<string, unknown>) => { c.aud = 'another-client'; }],
      ['issuer', (c: Record<string, unknown>) => { c.iss = 'https://evil.example'; }],
      ['nonce', (c: Record<string, unknown>) => { c.nonce = 'other-nonce'; }],
      ['expiry', (c: Record<string, unknown>) => { c.exp = Math.floor(Date.now() / 1000) - 3600; }],
      ['mfa', (c: Record<string, unknown>) => { c.amr = ['pwd']; }],
    ] as const) {
      idp.tamper = tamper;
      const r = await ssoFlow();
      assert.equal(r.reply.statusCode, 401, name);
      assert.equal(valueOf(r.reply, SESSION_COOKIE), undefined, name);
    }
    idp.tamper = undefined;
    assert.ok(s.audit.events.some((e) => e.action === 'auth.login' && e.outcome === 'failure' && e.details?.reason === 'token_rejected'));
    assert.ok(s.audit.events.some((e) => e.action === 'auth.login' && e.outcome === 'failure' && e.details?.reason === 'no_mfa_at_idp'));
  });

  it('users outside every mapped group are refused and not created', async () => {
    idp.user = { sub: 'idp-sub-45', preferred_username: 'outsider', groups: ['staff'], amr: ['mfa'] };
    const r = await ssoFlow();
    assert.equal(r.reply.statusCode, 403);
    assert.equal(await s.storage.admins.getByUsername('outsider'), undefined);
  });

  it('with SSO working, local passwords are off except for the break-glass account', async () => {
    await createAccount(s, 'local', PW);
    assert.equal((await post(s, '/api/v1/auth/login', { username: 'local', password: PW })).statusCode, 401);
    await createAccount(s, 'glass', PW, { breakGlass: true });
    const { browser } = await enrollFirst(s, 'glass', PW);
    assert.ok(browser.cookie);
    assert.ok(s.audit.events.some((e) => e.action === 'auth.login' && e.details?.reason === 'local_passwords_disabled'));
  });
});
