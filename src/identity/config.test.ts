import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIdentityConfig } from './config.ts';

const d = { adminOrigin: 'http://localhost:9443' };

it('identity configuration: defaults, overrides and refusals', () => {
  const c = parseIdentityConfig(undefined, d);
  assert.deepEqual(c.argon2, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  assert.deepEqual(c.webauthn, { rpId: 'localhost', rpName: 'Rampart', origins: ['http://localhost:9443'] });
  assert.equal(c.sessions.idleMs.browser, 30 * 60_000);
  assert.equal(c.localPasswords, 'enabled');
  assert.equal(c.oidc, undefined);
  const o = parseIdentityConfig({
    argon2: { memoryCost: 65536 },
    sessions: { browserIdleMinutes: 15, stepUpMinutes: 5 },
    localPasswords: 'break-glass-only',
    oidc: { issuer: 'https://idp.example.com', clientId: 'rampart', redirectUri: 'https://mdm.example.com/api/v1/auth/oidc/callback', groupRoles: { 'mdm-admins': ['owner'] } },
  }, d, { RAMPART_OIDC_CLIENT_SECRET: 's3cret' });
  assert.equal(o.argon2.memoryCost, 65536);
  assert.equal(o.sessions.idleMs.browser, 15 * 60_000);
  assert.equal(o.sessions.stepUpMs, 5 * 60_000);
  assert.equal(o.oidc?.clientSecret, 's3cret');
  assert.equal(o.oidc?.requireGroup, true);
  assert.equal(o.oidc?.requireMfa, true);
  for (const [bad, msg] of [
    [{ argon2: { memoryCost: 10 } }, /memoryCost/],
    [{ bogus: 1 }, /not a known setting/],
    [{ localPasswords: 'break-glass-only' }, /needs identity.oidc/],
    [{ oidc: { issuer: 'http://idp.example.com', clientId: 'x', redirectUri: 'https://a/cb' } }, /https/],
    [{ oidc: { issuer: 'https://idp', clientId: 'x', redirectUri: 'https://a/cb', groupRoles: { g: ['Not A Role'] } } }, /role names/],
  ] as const) {
    assert.throws(() => parseIdentityConfig(bad, d), msg);
  }
});
