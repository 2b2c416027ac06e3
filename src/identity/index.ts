// Assembles the identity module for the core (serve.ts) and the tests: the
// store on the opened storage (after its own migrations), the password
// hasher, throttle, sessions, WebAuthn and the service, plus an
// Authenticator that accepts session bearer tokens ("rms_") next to API tokens.
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Actor } from '../services/types.ts';
import type { Authenticator } from '../admin/types.ts';
import type { Sealer } from '../services/checkin.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { Storage } from '../storage/types.ts';
import type { IdentityConfig } from './config.ts';
import { createPasswordHasher } from './passwords.ts';
import type { PasswordHasher } from './passwords.ts';
import { createIdentityService } from './service.ts';
import type { IdentityService } from './service.ts';
import { createSessionManager, isSessionBearer, SESSION_BEARER_PREFIX } from './sessions.ts';
import type { SessionManager } from './sessions.ts';
import { migrateIdentity, createIdentityStore } from './store.ts';
import { createThrottle, DEFAULT_THROTTLE } from './throttle.ts';
import type { ThrottlePolicy } from './throttle.ts';
import type { IdentityStore, IdpRoleSync, PermissionResolver } from './types.ts';
import { createOidcLogin } from './oidc.ts';
import { randomUUID } from 'node:crypto';
import { createWebAuthn } from './webauthn.ts';

export interface Identity {
  store: IdentityStore;
  service: IdentityService;
  sessions: SessionManager;
  hasher: PasswordHasher;
  /** API tokens as before, plus "rms_" command-line session tokens. */
  authenticator: Authenticator;
}

export interface IdentityDeps {
  opened: OpenedStorage;
  storage: Pick<Storage, 'admins' | 'tokens'>;
  tokenAuthenticator: Authenticator;
  sealer: Sealer;
  audit: AuditRecorder;
  permissions: PermissionResolver;
  config: IdentityConfig;
  now: () => Date;
  throttle?: ThrottlePolicy;
  /** IdP group → role synchronisation (authz module); required when OIDC is configured. */
  roleSync?: IdpRoleSync;
  /** Tests only: an http:// OIDC provider. */
  oidcAllowHttpForTests?: boolean;
  /** Four-eyes gate (src/authz) for creating administrators with a password; registers the "account.create" executor. */
  gate?: ApprovalGuard & { register(action: string, run: (p: { [k: string]: JsonValue }, ctx: { actor: Actor }) => Promise<JsonValue>): void };
}

export function sessionAwareAuthenticator(tokens: Authenticator, sessions: SessionManager): Authenticator {
  return {
    authenticate(cred) {
      if (cred.bearer.startsWith(SESSION_BEARER_PREFIX) && isSessionBearer(cred.bearer)) {
        return sessions.authenticateBearer(cred.bearer, cred.source, cred.requestId);
      }
      return tokens.authenticate(cred);
    },
  };
}

export async function openIdentity(deps: IdentityDeps): Promise<Identity> {
  await migrateIdentity(deps.opened);
  const store = createIdentityStore(deps.opened);
  const hasher = await createPasswordHasher(deps.config.argon2);
  const sessions = createSessionManager({ store, admins: deps.storage.admins, permissions: deps.permissions, now: deps.now, policy: deps.config.sessions });
  const service = createIdentityService({
    store,
    admins: deps.storage.admins,
    tokens: deps.storage.tokens,
    hasher,
    sealer: deps.sealer,
    sessions,
    throttle: createThrottle(store, deps.throttle ?? DEFAULT_THROTTLE),
    webauthn: createWebAuthn(store, deps.config.webauthn),
    ...(deps.gate ? { gate: deps.gate } : {}),
    audit: deps.audit,
    now: deps.now,
    localPasswords: deps.config.localPasswords,
  });
  if (deps.config.oidc) {
    if (!deps.roleSync) throw new Error('OIDC sign-in needs the role synchronisation of the authorization module');
    service.oidc = createOidcLogin({
      config: deps.config.oidc,
      store,
      admins: deps.storage.admins,
      identity: service,
      roles: deps.roleSync,
      now: deps.now,
      newId: randomUUID,
      ...(deps.oidcAllowHttpForTests ? { allowHttpForTests: true } : {}),
    });
  }
  // The approved "account.create" runs once, as the requester, with the approved username and password hash.
  deps.gate?.register('account.create', async (p, ctx) => {
    const a = await service.commitAccount(ctx.actor, p);
    return { adminId: a.id };
  });
  return { store, service, sessions, hasher, authenticator: sessionAwareAuthenticator(deps.tokenAuthenticator, sessions) };
}
