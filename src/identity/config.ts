// Identity settings: the "identity" object of the configuration file (or the
// RAMPART_IDENTITY environment variable holding the same JSON). Every key is
// optional; unknown keys are refused.
//
//   {
//     "argon2": { "memoryCost": 19456, "timeCost": 2, "parallelism": 1 },
//     "sessions": { "browserIdleMinutes": 30, "browserAbsoluteMinutes": 720,
//                   "cliIdleMinutes": 60, "cliAbsoluteMinutes": 480, "stepUpMinutes": 10 },
//     "webauthn": { "rpId": "mdm.example.com", "rpName": "Rampart", "origins": ["https://mdm.example.com"] },
//     "localPasswords": "enabled" | "break-glass-only",
//     "oidc": { "issuer": "https://idp.example.com", "clientId": "rampart", "clientSecret": "...",
//               "redirectUri": "https://mdm.example.com/api/v1/auth/oidc/callback",
//               "groupsClaim": "groups", "groupRoles": { "mdm-admins": ["owner"] },
//               "requireGroup": true, "requireMfa": true }
//   }
import type { Argon2Params } from './passwords.ts';
import { DEFAULT_ARGON2, validateArgon2Params } from './passwords.ts';
import type { SessionPolicy } from './sessions.ts';
import { DEFAULT_SESSION_POLICY } from './sessions.ts';
import type { WebAuthnConfig } from './webauthn.ts';

export interface OidcConfig {
  issuer: string;
  clientId: string;
  /** Absent for a public client (PKCE only). RAMPART_OIDC_CLIENT_SECRET overrides. */
  clientSecret: string | undefined;
  redirectUri: string;
  groupsClaim: string;
  /** IdP group → Rampart role names. */
  groupRoles: Record<string, string[]>;
  /** Refuse sign-in (and just-in-time creation) unless the user is in at least one mapped group. */
  requireGroup: boolean;
  /** Refuse ID tokens whose amr claim does not show multi-factor authentication. */
  requireMfa: boolean;
}

export interface IdentityConfig {
  argon2: Argon2Params;
  sessions: SessionPolicy;
  webauthn: WebAuthnConfig;
  localPasswords: 'enabled' | 'break-glass-only';
  oidc: OidcConfig | undefined;
}

export class IdentityConfigError extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string, keys: string[]): Obj {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new IdentityConfigError(`${where} must be an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new IdentityConfigError(`${where}.${k} is not a known setting`);
  return v as Obj;
}

function num(v: unknown, where: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new IdentityConfigError(`${where} must be a whole number from ${min} to ${max}`);
  return v;
}

function text(v: unknown, where: string, dflt?: string): string {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string' || v.trim() === '' || v.length > 2048) throw new IdentityConfigError(`${where} must be a non-empty string`);
  return v.trim();
}

function url(v: unknown, where: string, https: boolean): string {
  const s = text(v, where);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new IdentityConfigError(`${where} is not a URL`);
  }
  if (https && u.protocol !== 'https:' && !(u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '127.0.0.1'))) {
    throw new IdentityConfigError(`${where} must be https (http only for localhost)`);
  }
  return s;
}

export function parseIdentityConfig(raw: unknown, defaults: { adminOrigin: string }, env: Record<string, string | undefined> = {}): IdentityConfig {
  const c = obj(raw, 'identity', ['argon2', 'sessions', 'webauthn', 'localPasswords', 'oidc']);
  const a = obj(c.argon2, 'identity.argon2', ['memoryCost', 'timeCost', 'parallelism']);
  let argon2: Argon2Params;
  try {
    argon2 = validateArgon2Params({
      memoryCost: num(a.memoryCost, 'identity.argon2.memoryCost', 1024, 4 * 1024 * 1024, DEFAULT_ARGON2.memoryCost),
      timeCost: num(a.timeCost, 'identity.argon2.timeCost', 1, 20, DEFAULT_ARGON2.timeCost),
      parallelism: num(a.parallelism, 'identity.argon2.parallelism', 1, 16, DEFAULT_ARGON2.parallelism),
    });
  } catch (e) {
    throw new IdentityConfigError(e instanceof Error ? e.message : 'invalid identity.argon2');
  }
  const s = obj(c.sessions, 'identity.sessions', ['browserIdleMinutes', 'browserAbsoluteMinutes', 'cliIdleMinutes', 'cliAbsoluteMinutes', 'stepUpMinutes']);
  const m = 60_000;
  const d = DEFAULT_SESSION_POLICY;
  const sessions: SessionPolicy = {
    idleMs: {
      browser: num(s.browserIdleMinutes, 'identity.sessions.browserIdleMinutes', 1, 24 * 60, d.idleMs.browser / m) * m,
      cli: num(s.cliIdleMinutes, 'identity.sessions.cliIdleMinutes', 1, 24 * 60, d.idleMs.cli / m) * m,
    },
    absoluteMs: {
      browser: num(s.browserAbsoluteMinutes, 'identity.sessions.browserAbsoluteMinutes', 5, 7 * 24 * 60, d.absoluteMs.browser / m) * m,
      cli: num(s.cliAbsoluteMinutes, 'identity.sessions.cliAbsoluteMinutes', 5, 7 * 24 * 60, d.absoluteMs.cli / m) * m,
    },
    stepUpMs: num(s.stepUpMinutes, 'identity.sessions.stepUpMinutes', 1, 60, d.stepUpMs / m) * m,
  };
  const w = obj(c.webauthn, 'identity.webauthn', ['rpId', 'rpName', 'origins']);
  const defaultOrigin = new URL(defaults.adminOrigin);
  const origins = w.origins === undefined ? [defaults.adminOrigin] : w.origins;
  if (!Array.isArray(origins) || origins.length === 0 || origins.length > 16) throw new IdentityConfigError('identity.webauthn.origins must be a list of 1..16 origins');
  const webauthn: WebAuthnConfig = {
    rpId: text(w.rpId, 'identity.webauthn.rpId', defaultOrigin.hostname),
    rpName: text(w.rpName, 'identity.webauthn.rpName', 'Rampart'),
    origins: origins.map((o, i) => new URL(url(o, `identity.webauthn.origins[${i}]`, true)).origin),
  };
  const localPasswords = c.localPasswords ?? 'enabled';
  if (localPasswords !== 'enabled' && localPasswords !== 'break-glass-only') throw new IdentityConfigError('identity.localPasswords must be "enabled" or "break-glass-only"');
  let oidc: OidcConfig | undefined;
  if (c.oidc !== undefined) {
    const o = obj(c.oidc, 'identity.oidc', ['issuer', 'clientId', 'clientSecret', 'redirectUri', 'groupsClaim', 'groupRoles', 'requireGroup', 'requireMfa']);
    const roles = obj(o.groupRoles, 'identity.oidc.groupRoles', Object.keys((o.groupRoles as Obj | undefined) ?? {}));
    const groupRoles: Record<string, string[]> = {};
    for (const [g, r] of Object.entries(roles)) {
      if (!Array.isArray(r) || !r.every((x) => typeof x === 'string' && /^[a-z][a-z0-9._-]{0,63}$/.test(x))) throw new IdentityConfigError(`identity.oidc.groupRoles.${g} must be a list of role names`);
      groupRoles[g] = r as string[];
    }
    const secret = env.RAMPART_OIDC_CLIENT_SECRET ?? (o.clientSecret === undefined ? undefined : text(o.clientSecret, 'identity.oidc.clientSecret'));
    oidc = {
      issuer: url(o.issuer, 'identity.oidc.issuer', true),
      clientId: text(o.clientId, 'identity.oidc.clientId'),
      clientSecret: secret,
      redirectUri: url(o.redirectUri, 'identity.oidc.redirectUri', true),
      groupsClaim: text(o.groupsClaim, 'identity.oidc.groupsClaim', 'groups'),
      groupRoles,
      requireGroup: o.requireGroup === undefined ? true : o.requireGroup === true,
      requireMfa: o.requireMfa === undefined ? true : o.requireMfa === true,
    };
  }
  if (localPasswords === 'break-glass-only' && oidc === undefined) throw new IdentityConfigError('identity.localPasswords "break-glass-only" needs identity.oidc');
  return { argon2, sessions, webauthn, localPasswords, oidc };
}
