// WebAuthn through the real server with a software authenticator (ES256,
// attestation "none"): registration, sign-in with a security key, and the
// refusals: replayed assertion, reused challenge, cloned key with a stale
// counter, wrong origin, another account's key.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { advance, asBrowser, createAccount, enrollFirst, post, sessionFromSetCookie } from './testing.ts';
import type { Browser } from './testing.ts';
import { SoftAuthenticator } from './soft-authenticator.ts';

const PW = 'correct horse battery staple';
const ORIGIN = 'https://admin.rampart.test';

async function register(s: TestStack, browser: Browser, key: SoftAuthenticator, origin?: string) {
  const o = await post(s, '/api/v1/auth/webauthn/register/options', undefined, { headers: asBrowser(browser) });
  assert.equal(o.statusCode, 200, o.body);
  const options = (o.json() as { options: { challenge: string; rp: { id: string }; attestation: string } }).options;
  assert.equal(options.rp.id, 'admin.rampart.test');
  assert.equal(options.attestation, 'none');
  return post(s, '/api/v1/auth/webauthn/register', { response: key.create(options, origin ? { origin } : {}), name: 'YubiKey' }, { headers: asBrowser(browser) });
}

async function ticketFor(s: TestStack, username: string): Promise<{ ticket: string; methods: string[] }> {
  const r = await post(s, '/api/v1/auth/login', { username, password: PW });
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { ticket: string; methods: string[] };
}

async function optionsFor(s: TestStack, ticket: string): Promise<{ challenge: string; allowCredentials: Array<{ id: string }> }> {
  const r = await post(s, '/api/v1/auth/mfa/webauthn/options', { ticket });
  assert.equal(r.statusCode, 200, r.body);
  return (r.json() as { options: { challenge: string; allowCredentials: Array<{ id: string }> } }).options;
}

describe('WebAuthn security keys', () => {
  let s: TestStack;
  let key: SoftAuthenticator;
  before(async () => {
    s = await createTestStack();
    await createAccount(s, 'alice', PW);
    const { browser } = await enrollFirst(s, 'alice', PW);
    key = new SoftAuthenticator(ORIGIN, 'admin.rampart.test');
    const r = await register(s, browser, key);
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => {
    await s.close();
  });

  it('registration is on record and the key is offered at sign-in', async () => {
    assert.ok(s.audit.events.some((e) => e.action === 'auth.mfa.enroll' && e.outcome === 'success' && e.details?.method === 'webauthn'));
    const { ticket, methods } = await ticketFor(s, 'alice');
    assert.deepEqual(methods, ['totp', 'webauthn', 'recovery']);
    const options = await optionsFor(s, ticket);
    assert.deepEqual(options.allowCredentials.map((c) => c.id), [Buffer.from(key.credential!.id).toString('base64url')]);
  });

  it('signs in with the key; the same assertion or challenge cannot be used twice', async () => {
    const { ticket } = await ticketFor(s, 'alice');
    const assertion = key.get(await optionsFor(s, ticket));
    const ok = await post(s, '/api/v1/auth/mfa', { ticket, webauthn: assertion });
    assert.equal(ok.statusCode, 200, ok.body);
    const t2 = await ticketFor(s, 'alice');
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket: t2.ticket, webauthn: assertion })).statusCode, 401, 'replayed assertion');
    // A fresh signature over the already-consumed challenge is refused as well.
    const options = await optionsFor(s, t2.ticket);
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket: t2.ticket, webauthn: key.get(options) })).statusCode, 200);
    const t3 = await ticketFor(s, 'alice');
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket: t3.ticket, webauthn: key.get(options) })).statusCode, 401, 'reused challenge');
  });

  it('a cloned key (stale signature counter) is refused', async () => {
    const { ticket } = await ticketFor(s, 'alice');
    const stale = key.credential!.counter - 1;
    const r = await post(s, '/api/v1/auth/mfa', { ticket, webauthn: key.get(await optionsFor(s, ticket), { counter: stale }) });
    assert.equal(r.statusCode, 401);
    key.credential!.counter = stale + 10;
  });

  it('an assertion made for another origin is refused', async () => {
    const { ticket } = await ticketFor(s, 'alice');
    const r = await post(s, '/api/v1/auth/mfa', { ticket, webauthn: key.get(await optionsFor(s, ticket), { origin: 'https://evil.example' }) });
    assert.equal(r.statusCode, 401);
  });

  it('another account cannot use alice\'s key, nor register one for a foreign origin', async () => {
    await createAccount(s, 'bob', PW);
    const bob = await enrollFirst(s, 'bob', PW);
    const { ticket } = await ticketFor(s, 'bob');
    // Bob has no key: no options; an assertion by alice's key on bob's ticket is refused.
    assert.equal((await post(s, '/api/v1/auth/mfa/webauthn/options', { ticket })).statusCode, 401);
    const stolen = key.get({ challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    assert.equal((await post(s, '/api/v1/auth/mfa', { ticket, webauthn: stolen })).statusCode, 401);
    const other = new SoftAuthenticator(ORIGIN, 'admin.rampart.test');
    const bad = await register(s, bob.browser, other, 'https://evil.example');
    assert.equal(bad.statusCode, 400);
    assert.ok(s.audit.events.some((e) => e.action === 'auth.mfa.enroll' && e.outcome === 'failure'));
  });

  it('step-up with the key renews the session\'s MFA; removing the key needs step-up and keeps TOTP', async () => {
    // A fresh sign-in with the key gives a browser session.
    const { ticket } = await ticketFor(s, 'alice');
    const signed = await post(s, '/api/v1/auth/mfa', { ticket, webauthn: key.get(await optionsFor(s, ticket)) });
    assert.equal(signed.statusCode, 200, signed.body);
    const browser = { ip: '10.0.0.1', cookie: sessionFromSetCookie(signed), csrf: (signed.json() as { csrfToken: string }).csrfToken };
    advance(s, 11 * 60_000);
    const id = Buffer.from(key.credential!.id).toString('base64url');
    const del = () => s.app.inject({ method: 'DELETE', url: `/api/v1/auth/webauthn/${id}`, headers: asBrowser(browser) });
    assert.equal((await del()).statusCode, 403, 'stale MFA');
    const o = await post(s, '/api/v1/auth/stepup/webauthn/options', undefined, { headers: asBrowser(browser) });
    assert.equal(o.statusCode, 200, o.body);
    const up = await post(s, '/api/v1/auth/stepup', { webauthn: key.get((o.json() as { options: { challenge: string } }).options) }, { headers: asBrowser(browser) });
    assert.equal(up.statusCode, 200, up.body);
    assert.equal((await del()).statusCode, 200);
    assert.ok(s.audit.events.some((e) => e.action === 'auth.mfa.remove' && e.details?.method === 'webauthn'));
    const { methods } = await ticketFor(s, 'alice');
    assert.deepEqual(methods, ['totp', 'recovery']);
  });

  it('registering needs a recent MFA (step-up)', async () => {
    await createAccount(s, 'carol', PW);
    const carol = await enrollFirst(s, 'carol', PW);
    advance(s, 11 * 60_000);
    const r = await post(s, '/api/v1/auth/webauthn/register/options', undefined, { headers: asBrowser(carol.browser) });
    assert.equal(r.statusCode, 403);
  });
});
