// Sign-in through the real admin server: enrolment, TOTP (and its replay),
// recovery codes, cookie flags, CSRF, session fixation, timeouts, step-up,
// revocation, the bootstrap administrator and the audit trail.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { advance, asBrowser, codeFor, createAccount, enrollFirst, get, post, sessionFromSetCookie, signIn } from './testing.ts';
import { SESSION_COOKIE } from './sessions.ts';
import { requireRecentMfa } from './sessions.ts';
import type { Actor } from '../services/types.ts';

const PW = 'correct horse battery staple';
const STEP = 30_000;

describe('sign-in over HTTP', () => {
  let s: TestStack;
  before(async () => {
    s = await createTestStack();
  });
  after(async () => {
    await s.close();
  });

  it('first sign-in enrols TOTP; the session cookie is __Host-, HttpOnly, Secure, SameSite=Strict, Path=/', async () => {
    await createAccount(s, 'alice', PW);
    const { reply, recoveryCodes, browser } = await enrollFirst(s, 'alice', PW);
    const cookie = String(reply.headers['set-cookie']);
    assert.match(cookie, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; `));
    for (const flag of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.split('; ').includes(flag), `${flag} in ${cookie}`);
    assert.ok(!/domain=/i.test(cookie), '__Host- cookies carry no Domain');
    assert.match(cookie, /Max-Age=43200/);
    assert.equal(recoveryCodes.length, 10);
    assert.ok(!reply.body.includes(browser.cookie!), 'the session id is never in the body');
    const me = await get(s, '/api/v1/auth/me', { headers: asBrowser(browser, false) });
    assert.equal(me.statusCode, 200, me.body);
    const body = me.json() as { username: string; session: { csrfToken: string }; factors: { totp: boolean; recoveryCodes: number } };
    assert.equal(body.username, 'alice');
    assert.equal(body.session.csrfToken, browser.csrf);
    assert.deepEqual(body.factors, { totp: true, webauthn: 0, recoveryCodes: 10 });
    // Only the hash is stored.
    const rows = await s.opened.db.withTables<{ identity_sessions: { id_hash: string } }>().selectFrom('identity_sessions').select('id_hash').execute();
    assert.ok(rows.every((r) => r.id_hash !== browser.cookie && /^[0-9a-f]{64}$/.test(r.id_hash)));
  });

  it('a password alone never yields a session: the MFA step is mandatory, and a wrong code is refused', async () => {
    await createAccount(s, 'bob', PW);
    const { secret } = await enrollFirst(s, 'bob', PW);
    advance(s, STEP);
    const login = await post(s, '/api/v1/auth/login', { username: 'bob', password: PW });
    assert.equal(login.statusCode, 200);
    const step = login.json() as { ticket: string; stage: string; methods: string[] };
    assert.equal(step.stage, 'mfa');
    assert.deepEqual(step.methods, ['totp', 'recovery']);
    assert.equal(login.headers['set-cookie'], undefined);
    // A ticket is not a session.
    const me = await get(s, '/api/v1/auth/me', { headers: { authorization: `Bearer ${step.ticket}` } });
    assert.equal(me.statusCode, 401);
    const good = codeFor(secret, s.clock.now);
    const wrong = good === '000000' ? '111111' : '000000';
    const bad = await post(s, '/api/v1/auth/mfa', { ticket: step.ticket, totp: wrong });
    assert.equal(bad.statusCode, 401);
    assert.deepEqual(bad.json(), { error: 'unauthorized', message: 'invalid credentials' });
    const ok = await post(s, '/api/v1/auth/mfa', { ticket: step.ticket, totp: good });
    assert.equal(ok.statusCode, 200, ok.body);
    // The ticket is single-use.
    advance(s, STEP);
    const again = await post(s, '/api/v1/auth/mfa', { ticket: step.ticket, totp: codeFor(secret, s.clock.now) });
    assert.equal(again.statusCode, 401);
  });

  it('TOTP replay: a code (or an older one) is refused once its time step was used; the next step works', async () => {
    await createAccount(s, 'carol', PW);
    const { secret } = await enrollFirst(s, 'carol', PW);
    advance(s, STEP);
    const code = codeFor(secret, s.clock.now);
    const first = await signIn(s, 'carol', PW, secret);
    assert.equal(first.statusCode, 200, first.body);
    const before = s.audit.events.length;
    // Same code again, on a fresh ticket, within the same step.
    const login = await post(s, '/api/v1/auth/login', { username: 'carol', password: PW });
    const { ticket } = login.json() as { ticket: string };
    const replay = await post(s, '/api/v1/auth/mfa', { ticket, totp: code });
    assert.equal(replay.statusCode, 401);
    assert.ok(s.audit.events.slice(before).some((e) => e.action === 'auth.login' && e.outcome === 'failure' && e.details?.reason === 'replay'));
    // The previous step's code is inside the ±1 window but older than the used step: refused too.
    const older = codeFor(secret, new Date(s.clock.now.getTime() - STEP));
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, totp: older })).statusCode, 401);
    // Two steps later is outside the window.
    const future = codeFor(secret, new Date(s.clock.now.getTime() + 2 * STEP));
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, totp: future })).statusCode, 401);
    // The next step is accepted (±1 window: a code from the next step works now).
    const next = codeFor(secret, new Date(s.clock.now.getTime() + STEP));
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, totp: next })).statusCode, 200);
  });

  it('a ticket dies after five wrong codes', async () => {
    await createAccount(s, 'dave', PW);
    const { secret } = await enrollFirst(s, 'dave', PW, '10.0.1.1');
    advance(s, STEP);
    const login = await post(s, '/api/v1/auth/login', { username: 'dave', password: PW }, { ip: '10.0.1.1' });
    const { ticket } = login.json() as { ticket: string };
    const good = codeFor(secret, s.clock.now);
    for (let i = 0; i < 5; i++) {
      const r = await post(s, '/api/v1/auth/mfa', { ticket, totp: good === '123456' ? '654321' : '123456' }, { ip: '10.0.1.1' });
      assert.equal(r.statusCode, 401);
    }
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, totp: good }, { ip: '10.0.1.1' })).statusCode, 401);
  });

  it('recovery codes work once each', async () => {
    await createAccount(s, 'erin', PW);
    const { recoveryCodes } = await enrollFirst(s, 'erin', PW);
    const use = async () => {
      const login = await post(s, '/api/v1/auth/login', { username: 'erin', password: PW });
      const { ticket } = login.json() as { ticket: string };
      return post(s, '/api/v1/auth/mfa', { ticket, recoveryCode: recoveryCodes[0]!.toUpperCase() });
    };
    assert.equal((await use()).statusCode, 200);
    assert.equal((await use()).statusCode, 401);
    assert.ok(s.audit.events.some((e) => e.action === 'auth.recovery_code.use' && e.details?.remaining === 9));
  });

  it('CSRF: state-changing cookie requests need the session-bound token; GET does not; bearer sessions do not', async () => {
    await createAccount(s, 'frank', PW);
    const a = await enrollFirst(s, 'frank', PW);
    await createAccount(s, 'grace', PW);
    const b = await enrollFirst(s, 'grace', PW);
    assert.notEqual(a.browser.csrf, b.browser.csrf);
    const logout = (headers: Record<string, string>) => post(s, '/api/v1/auth/logout', undefined, { headers });
    let r = await logout(asBrowser(a.browser, false));
    assert.equal(r.statusCode, 403);
    assert.deepEqual(r.json(), { error: 'forbidden', message: 'forbidden' });
    r = await logout({ ...asBrowser(a.browser, false), 'x-csrf-token': b.browser.csrf! });
    assert.equal(r.statusCode, 403, 'another session\'s token');
    r = await logout({ ...asBrowser(a.browser, false), 'x-csrf-token': 'A'.repeat(43) });
    assert.equal(r.statusCode, 403);
    // Reads need no token.
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(a.browser, false) })).statusCode, 200);
    // CSRF is checked before the body is read: a forged JSON body never reaches validation.
    r = await post(s, '/api/v1/auth/password', { current: PW, password: 'x' }, { headers: asBrowser(a.browser, false) });
    assert.equal(r.statusCode, 403);
    r = await logout(asBrowser(a.browser));
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(a.browser) })).statusCode, 401, 'signed out');
  });

  it('session fixation: a planted or earlier session id is never kept; sign-in always issues a fresh one and ends the old', async () => {
    await createAccount(s, 'heidi', PW);
    const { secret, browser } = await enrollFirst(s, 'heidi', PW);
    // The attacker plants a well-formed id it knows.
    const planted = 'P'.repeat(43);
    advance(s, STEP);
    const r = await signIn(s, 'heidi', PW, secret, { cookie: planted });
    assert.equal(r.statusCode, 200, r.body);
    const issued = sessionFromSetCookie(r);
    assert.notEqual(issued, planted);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${planted}` } })).statusCode, 401);
    // Signing in again from a browser holding a live session rotates it: the old id stops working.
    advance(s, STEP);
    const again = await signIn(s, 'heidi', PW, secret, { cookie: issued });
    assert.equal(again.statusCode, 200);
    const rotated = sessionFromSetCookie(again);
    assert.notEqual(rotated, issued);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${issued}` } })).statusCode, 401);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${rotated}` } })).statusCode, 200);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(browser, false) })).statusCode, 200, 'other browsers keep their sessions');
    // Two session cookies in one header are refused rather than guessed between.
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${rotated}; ${SESSION_COOKIE}=${planted}` } })).statusCode, 401);
  });

  it('idle timeout (30 min) and absolute timeout (12 h)', async () => {
    await createAccount(s, 'ivan', PW);
    const { browser } = await enrollFirst(s, 'ivan', PW);
    const me = () => get(s, '/api/v1/auth/me', { headers: asBrowser(browser, false) });
    advance(s, 29 * 60_000);
    assert.equal((await me()).statusCode, 200);
    // Activity keeps it alive until the absolute limit.
    for (let i = 0; i < 23; i++) {
      advance(s, 29 * 60_000);
      assert.equal((await me()).statusCode, 200, `after ${(i + 2) * 29} min`);
    }
    advance(s, 29 * 60_000); // 24 × 29 min = 11.6 h; +29 min > 12 h
    assert.equal((await me()).statusCode, 401);
    // Idle: a fresh session left alone for 30 minutes ends.
    advance(s, STEP);
    await createAccount(s, 'judy', PW);
    const j = await enrollFirst(s, 'judy', PW);
    advance(s, 30 * 60_000);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(j.browser, false) })).statusCode, 401);
  });

  it('step-up: a four-eyes action (erase) from a browser session needs a recent MFA; approving one too', async () => {
    const id = await createAccount(s, 'lee', PW);
    await s.authz.store.assign({ adminId: id, role: 'owner', groups: [], source: 'local', createdBy: 'test' }, s.clock.now.toISOString());
    await s.addDevice('STEPUP-1');
    const { secret, browser } = await enrollFirst(s, 'lee', PW);
    const erase = { deviceIds: ['STEPUP-1'], requestType: 'EraseDevice', payload: {} };
    advance(s, 11 * 60_000);
    let r = await post(s, '/api/v1/commands', erase, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 403, r.body);
    assert.equal((r.json() as { message: string }).message, 'step-up authentication required');
    assert.equal((await post(s, '/api/v1/auth/stepup', { totp: codeFor(secret, s.clock.now) }, { headers: asBrowser(browser) })).statusCode, 200);
    r = await post(s, '/api/v1/commands', erase, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 202, r.body);
    const approvalId = (r.json() as { id: string }).id;
    // Root (a token: automation, no session) approves; a stale session could not.
    advance(s, 11 * 60_000);
    r = await post(s, `/api/v1/approvals/${approvalId}/approve`, undefined, { headers: { authorization: `Bearer ${s.rootToken}` } });
    assert.equal(r.statusCode, 200, r.body);
  });

  it('step-up: sensitive actions need an MFA within 10 minutes; /auth/stepup renews it', async () => {
    await createAccount(s, 'kim', PW);
    const { secret, browser } = await enrollFirst(s, 'kim', PW);
    advance(s, STEP);
    const elsewhere = sessionFromSetCookie(await signIn(s, 'kim', PW, secret, { ip: '10.0.0.99' }));
    advance(s, 11 * 60_000);
    let r = await post(s, '/api/v1/auth/recovery-codes', undefined, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 403);
    assert.equal((r.json() as { message: string }).message, 'step-up authentication required');
    r = await post(s, '/api/v1/auth/stepup', { totp: codeFor(secret, s.clock.now) }, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 200, r.body);
    r = await post(s, '/api/v1/auth/recovery-codes', undefined, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 200, r.body);
    // And the password change path (also step-up protected) works now.
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${elsewhere}` } })).statusCode, 200);
    r = await post(s, '/api/v1/auth/password', { current: PW, password: 'an even longer passphrase 2' }, { headers: asBrowser(browser) });
    assert.equal(r.statusCode, 200, r.body);
    // The other session ends; this one stays.
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${elsewhere}` } })).statusCode, 401);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(browser, false) })).statusCode, 200);
  });

  it('requireRecentMfa for services: fresh session passes, stale or token actors do not, system does', () => {
    const now = new Date('2026-01-01T00:10:00Z');
    const base: Actor = { type: 'admin', id: 'a', permissions: new Set() };
    assert.doesNotThrow(() => requireRecentMfa({ ...base, session: { handle: 'h', mfaAt: '2026-01-01T00:05:00Z' } }, { now }));
    assert.throws(() => requireRecentMfa({ ...base, session: { handle: 'h', mfaAt: '2025-12-31T23:59:00Z' } }, { now }), /step-up/);
    assert.throws(() => requireRecentMfa(base, { now }), /step-up/);
    assert.throws(() => requireRecentMfa({ type: 'token', id: 't', permissions: new Set(['*']) }, { now }), /step-up/);
    assert.doesNotThrow(() => requireRecentMfa({ type: 'token', id: 't', permissions: new Set() }, { now, allowTokens: true }));
    assert.doesNotThrow(() => requireRecentMfa({ type: 'system', id: 'rampart', permissions: new Set() }, { now }));
  });

  it('sessions: list own, revoke own; others\' only with sessions.manage; revocation ends the session', async () => {
    await createAccount(s, 'leo', PW);
    const leo = await enrollFirst(s, 'leo', PW);
    await createAccount(s, 'mia', PW);
    const mia = await enrollFirst(s, 'mia', PW);
    const list = await get(s, '/api/v1/auth/sessions', { headers: asBrowser(leo.browser, false) });
    assert.equal(list.statusCode, 200);
    const mine = (list.json() as { sessions: Array<{ handle: string; current: boolean; adminId: string }> }).sessions;
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.current, true);
    // all=true needs sessions.manage.
    assert.equal((await get(s, '/api/v1/auth/sessions?all=true', { headers: asBrowser(leo.browser, false) })).statusCode, 403);
    const miaHandle = ((await get(s, '/api/v1/auth/sessions', { headers: asBrowser(mia.browser, false) })).json() as { sessions: Array<{ handle: string }> }).sessions[0]!.handle;
    let r = await s.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${miaHandle}`, headers: asBrowser(leo.browser) });
    assert.equal(r.statusCode, 403);
    // Root (a "*" token) sees and ends every session.
    const all = await get(s, '/api/v1/auth/sessions?all=true', { headers: { authorization: `Bearer ${s.rootToken}` } });
    assert.ok((all.json() as { sessions: Array<{ handle: string }> }).sessions.some((x) => x.handle === miaHandle));
    r = await s.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${miaHandle}`, headers: { authorization: `Bearer ${s.rootToken}` } });
    assert.equal(r.statusCode, 200);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(mia.browser, false) })).statusCode, 401);
    assert.ok(s.audit.events.some((e) => e.action === 'auth.session.revoke' && e.outcome === 'success' && e.target?.id === miaHandle));
    assert.ok(s.audit.events.some((e) => e.action === 'auth.session.revoke' && e.outcome === 'denied'));
    // Own session.
    r = await s.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${mine[0]!.handle}`, headers: asBrowser(leo.browser) });
    assert.equal(r.statusCode, 200);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(leo.browser, false) })).statusCode, 401);
  });

  it('command-line sessions are bearer tokens (no cookie, no CSRF) with the same MFA', async () => {
    await createAccount(s, 'nina', PW);
    const { secret } = await enrollFirst(s, 'nina', PW);
    advance(s, STEP);
    const r = await signIn(s, 'nina', PW, secret, { client: 'cli' });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['set-cookie'], undefined);
    const { token } = r.json() as { token: string };
    assert.match(token, /^rms_[A-Za-z0-9_-]{43}$/);
    const me = await get(s, '/api/v1/auth/me', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 200);
    assert.equal((me.json() as { session: { kind: string } }).session.kind, 'cli');
    assert.equal((await post(s, '/api/v1/auth/logout', undefined, { headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
    // A CLI session id is not accepted as a browser cookie.
    advance(s, STEP);
    const r2 = await signIn(s, 'nina', PW, secret, { client: 'cli' });
    const cliId = (r2.json() as { token: string }).token.slice(4);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: { cookie: `${SESSION_COOKIE}=${cliId}` } })).statusCode, 401);
  });

  it('disabling an administrator ends its sessions and its sign-in; enabling restores sign-in', async () => {
    const id = await createAccount(s, 'oscar', PW);
    const { secret, browser } = await enrollFirst(s, 'oscar', PW);
    const root = { authorization: `Bearer ${s.rootToken}` };
    assert.equal((await post(s, `/api/v1/accounts/${id}/disable`, undefined, { headers: root })).statusCode, 200);
    assert.equal((await get(s, '/api/v1/auth/me', { headers: asBrowser(browser, false) })).statusCode, 401);
    advance(s, STEP);
    assert.equal((await post(s, '/api/v1/auth/login', { username: 'oscar', password: PW })).statusCode, 401);
    assert.equal((await post(s, `/api/v1/accounts/${id}/enable`, undefined, { headers: root })).statusCode, 200);
    assert.equal((await signIn(s, 'oscar', PW, secret)).statusCode, 200);
    assert.ok(s.audit.events.some((e) => e.action === 'account.disable' && e.target?.id === id));
  });

  it('account creation enforces the password policy and needs admins.manage', async () => {
    const root = { authorization: `Bearer ${s.rootToken}` };
    for (const password of ['short', 'aaaaaaaaaaaaaaaa', 'xx-penny-xx-long-enough', 'password12345']) {
      const r = await post(s, '/api/v1/accounts', { username: 'penny', password }, { headers: root });
      assert.equal(r.statusCode, 400, password);
      assert.ok(!r.body.includes(password), 'the password is never echoed');
    }
    const weak = await s.tokenFor(['devices.read']);
    assert.equal((await post(s, '/api/v1/accounts', { username: 'penny', password: PW }, { headers: { authorization: `Bearer ${weak}` } })).statusCode, 403);
  });

  it('a scoped API token is never accepted as a first password', async () => {
    const scoped = await s.tokenFor(['devices.read']);
    const r = await post(s, '/api/v1/auth/login', { username: 'root', password: scoped });
    assert.equal(r.statusCode, 401);
  });

  it('the bootstrap administrator signs in first with its one-time credential, must set a password and enrol MFA; the credential keeps working as a bearer token', async () => {
    const login = await post(s, '/api/v1/auth/login', { username: 'root', password: s.rootToken });
    assert.equal(login.statusCode, 200, login.body);
    const step = login.json() as { ticket: string; stage: string; needsPassword: boolean };
    assert.deepEqual([step.stage, step.needsPassword], ['enroll', true]);
    // No factor can be enrolled (and no session issued) before the password is set.
    assert.equal((await post(s, '/api/v1/auth/enroll/totp', { ticket: step.ticket })).statusCode, 409);
    assert.equal((await post(s, '/api/v1/auth/enroll/password', { ticket: step.ticket, password: 'short' })).statusCode, 400);
    const pw = 'the first admin has a real passphrase';
    const set = await post(s, '/api/v1/auth/enroll/password', { ticket: step.ticket, password: pw });
    assert.equal(set.statusCode, 200, set.body);
    const t = await post(s, '/api/v1/auth/enroll/totp', { ticket: step.ticket });
    const { secret } = t.json() as { secret: string };
    const c = await post(s, '/api/v1/auth/enroll/totp/confirm', { ticket: step.ticket, code: codeFor(secret, s.clock.now) });
    assert.equal(c.statusCode, 200, c.body);
    // From now on the credential is no longer a password ...
    assert.equal((await post(s, '/api/v1/auth/login', { username: 'root', password: s.rootToken })).statusCode, 401);
    advance(s, STEP);
    assert.equal((await signIn(s, 'root', pw, secret)).statusCode, 200);
    // ... but still works for the command line.
    assert.equal((await get(s, '/api/v1/devices', { headers: { authorization: `Bearer ${s.rootToken}` } })).statusCode, 200);
  });

  it('sign-in events are on record without personal data', async () => {
    const actions = new Set(s.audit.events.map((e) => e.action));
    for (const a of ['auth.login', 'auth.login.password', 'auth.mfa.enroll', 'auth.recovery_codes.generate', 'auth.logout', 'auth.session.revoke', 'auth.stepup', 'auth.password.set', 'auth.password.change', 'account.create']) {
      assert.ok(actions.has(a), a);
    }
    const text = JSON.stringify(s.audit.events);
    for (const name of ['alice', 'bob', 'carol', PW]) assert.ok(!text.includes(name), name);
  });
});
