// OIDC single sign-on with openid-client 6: authorization code flow with PKCE
// (S256), state and nonce, ID token signature, issuer, audience, expiry and
// nonce checked by the library. The state, nonce and PKCE verifier are kept
// server-side (one-time, 10 minutes) and bound to the browser that started
// the sign-in by a second __Host- cookie, so a callback URL cannot be
// replayed or planted in another browser (login CSRF).
//
// IdP groups map to Rampart role names (config); an unknown user is created
// just in time (no password; SSO only). The IdP is trusted for the second
// factor; with requireMfa the ID token's amr claim must show it.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { AdminStore } from '../storage/types.ts';
import { unauthorized, forbidden } from '../lib/errors.ts';
import type { OidcConfig } from './config.ts';
import type { IdentityService, RequestContext, SessionGrant } from './service.ts';
import { USERNAME_FORMAT } from './service.ts';
import { newSecret } from './sessions.ts';
import type { IdentityStore, IdpRoleSync } from './types.ts';

export const OIDC_COOKIE = '__Host-rampart_oidc';
const FLOW_TTL_MS = 10 * 60_000;
const INVALID = 'sign-in failed';

export interface OidcDeps {
  config: OidcConfig;
  store: Pick<IdentityStore, 'putOneTime' | 'takeOneTime' | 'getAccountByOidc' | 'putAccount'>;
  admins: Pick<AdminStore, 'get' | 'getByUsername' | 'create'>;
  identity: Pick<IdentityService, 'issueSsoSession' | 'record'>;
  roles: IdpRoleSync;
  now: () => Date;
  newId: () => string;
  /** Tests only: talk to an http:// provider. Never set from configuration. */
  allowHttpForTests?: boolean;
}

export interface OidcLogin {
  start(ctx: RequestContext): Promise<{ location: string; setCookie: string }>;
  callback(query: Record<string, string | undefined>, ctx: RequestContext): Promise<SessionGrant & { clearCookie: string }>;
}

const flowKey = (state: string): string => createHash('sha256').update(`oidc\0${state}`).digest('hex');
const bindHash = (b: string): string => createHash('sha256').update(`oidc-bind\0${b}`).digest('hex');

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const found = header.split(';').map((p) => p.trim()).filter((p) => p.startsWith(`${name}=`));
  return found.length === 1 ? found[0]!.slice(name.length + 1) : undefined;
}

export function createOidcLogin(deps: OidcDeps): OidcLogin {
  const cfg = deps.config;
  let discovered: Promise<oidc.Configuration> | undefined;
  function configuration(): Promise<oidc.Configuration> {
    discovered ??= oidc.discovery(
      new URL(cfg.issuer),
      cfg.clientId,
      undefined,
      cfg.clientSecret !== undefined ? oidc.ClientSecretBasic(cfg.clientSecret) : oidc.None(),
      { timeout: 10, ...(deps.allowHttpForTests ? { execute: [oidc.allowInsecureRequests] } : {}) },
    ).catch((e: unknown) => {
      discovered = undefined;
      throw e;
    });
    return discovered;
  }

  const fail = async (ctx: RequestContext, reason: string, extra: Record<string, string> = {}): Promise<never> => {
    await deps.identity.record({ action: 'auth.login', actor: { type: 'anonymous', id: 'anonymous' }, outcome: 'failure', details: { method: 'oidc', reason, ...extra } }, ctx);
    throw unauthorized(INVALID, reason);
  };

  async function usernameFor(claims: oidc.IDToken): Promise<string> {
    const raw = typeof claims.preferred_username === 'string' ? claims.preferred_username : typeof claims.email === 'string' ? claims.email.split('@')[0]! : 'sso';
    let base = raw.toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z]+/, '').slice(0, 48);
    if (!USERNAME_FORMAT.test(base)) base = 'sso';
    for (let i = 0; i < 50; i++) {
      const name = i === 0 ? base : `${base}-${i + 1}`;
      if (!(await deps.admins.getByUsername(name))) return name;
    }
    throw unauthorized(INVALID, 'no free username');
  }

  return {
    async start(ctx) {
      const config = await configuration();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const verifier = oidc.randomPKCECodeVerifier();
      const binding = newSecret();
      await deps.store.putOneTime({
        idHash: flowKey(state),
        purpose: 'oidc.flow',
        adminId: null,
        data: JSON.stringify({ nonce, verifier, binding: bindHash(binding) }),
        expiresAt: new Date(deps.now().getTime() + FLOW_TTL_MS).toISOString(),
      });
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: cfg.redirectUri,
        scope: 'openid profile email',
        response_type: 'code',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      void ctx;
      // Lax: the callback is a top-level navigation from the IdP; the cookie binds it to this browser.
      return { location: url.href, setCookie: `${OIDC_COOKIE}=${binding}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax` };
    },

    async callback(query, ctx) {
      const clearCookie = `${OIDC_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`;
      if (query.error !== undefined) return fail(ctx, 'idp_error');
      if (query.state === undefined || query.code === undefined) return fail(ctx, 'missing_parameters');
      const flow = await deps.store.takeOneTime(flowKey(query.state), 'oidc.flow', deps.now().toISOString());
      if (!flow) return fail(ctx, 'unknown_or_used_state');
      const { nonce, verifier, binding } = JSON.parse(flow.data) as { nonce: string; verifier: string; binding: string };
      const presented = cookieValue(ctx.cookie, OIDC_COOKIE);
      if (presented === undefined || bindHash(presented) !== binding) return fail(ctx, 'browser_mismatch');
      const current = new URL(cfg.redirectUri);
      for (const [k, v] of Object.entries(query)) if (v !== undefined) current.searchParams.set(k, v);
      let claims: oidc.IDToken | undefined;
      try {
        const config = await configuration();
        const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: verifier, expectedState: query.state, expectedNonce: nonce, idTokenExpected: true });
        claims = tokens.claims();
      } catch (e) {
        return fail(ctx, 'token_rejected', { error: e instanceof Error ? e.name : 'unknown' });
      }
      if (!claims || typeof claims.sub !== 'string') return fail(ctx, 'no_id_token');
      const amr = Array.isArray(claims.amr) ? claims.amr.filter((x): x is string => typeof x === 'string') : [];
      if (cfg.requireMfa && !(amr.includes('mfa') || new Set(amr).size >= 2)) return fail(ctx, 'no_mfa_at_idp');
      const rawGroups = claims[cfg.groupsClaim];
      const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : [];
      const roles = [...new Set(groups.flatMap((g) => cfg.groupRoles[g] ?? []))].sort();
      if (cfg.requireGroup && roles.length === 0) {
        await deps.identity.record({ action: 'auth.login', actor: { type: 'anonymous', id: 'anonymous' }, outcome: 'denied', details: { method: 'oidc', reason: 'no_mapped_group' } }, ctx);
        throw forbidden('forbidden', 'no mapped group');
      }
      const issuer = String(claims.iss);
      let account = await deps.store.getAccountByOidc(issuer, claims.sub);
      if (!account) {
        const id = deps.newId();
        const username = await usernameFor(claims);
        await deps.identity.record({ action: 'account.create', actor: { type: 'system', id: 'oidc' }, outcome: 'success', target: { type: 'admin', id }, details: { via: 'oidc' } }, ctx);
        await deps.admins.create({ id, username }, deps.now().toISOString());
        await deps.store.putAccount({ adminId: id, passwordHash: null, passwordChangedAt: null, breakGlass: false, oidcIssuer: issuer, oidcSubject: claims.sub }, deps.now().toISOString());
        account = { adminId: id, passwordHash: null, passwordChangedAt: null, breakGlass: false, oidcIssuer: issuer, oidcSubject: claims.sub, createdAt: deps.now().toISOString() };
      }
      const admin = await deps.admins.get(account.adminId);
      if (!admin) return fail(ctx, 'account_missing');
      await deps.identity.record({ action: 'auth.oidc.roles', actor: { type: 'system', id: 'oidc' }, outcome: 'success', target: { type: 'admin', id: admin.id }, details: { roles } }, ctx);
      await deps.roles.syncRoles(admin.id, roles);
      const grant = await deps.identity.issueSsoSession(admin, ctx, { amr: amr.slice(0, 8) });
      return { ...grant, clearCookie };
    },
  };
}
