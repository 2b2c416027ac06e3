// The authorization module, assembled: migrations, store, roles, admins,
// tokens, device scope, rate limits and the four-eyes gate with the
// executors of the actions this module owns.
//
//   const authz = await openAuthz({ opened, storage, audit, config: config.authz, now });
//   createCommandService({ ..., scope: authz.scope, gate: authz.gate });
//   registerCommandExecutors(authz.gate, commands);
//   createAuthenticator({ ..., toActor: authz.tokenActor });
import type { JsonValue } from '../audit/types.ts';
import type { AuditRecorder } from '../audit/types.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { Storage } from '../storage/types.ts';
import type { Actor } from '../services/types.ts';
import type { ApiToken } from '../storage/types.ts';
import type { Credentials } from '../admin/types.ts';
import type { AuthzConfig } from './config.ts';
import { ACTIONS } from './config.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from './migrations.ts';
import { createAuthzStore, type AuthzStore } from './store.ts';
import { createRoleService, type RoleService } from './roles.ts';
import { createAdminService, type AdminService } from './admins.ts';
import { createTokenActor, createTokenService, type TokenService } from './tokens.ts';
import { createApprovalGate, type ApprovalGate } from './approvals.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createDeviceScope, NO_GROUPS } from './scope.ts';
import { actorFor } from './grants.ts';
import type { DeviceScope, GroupMembership, IdpRoleSync, PermissionResolver } from './types.ts';

export interface Authz {
  store: AuthzStore;
  roles: RoleService;
  admins: AdminService;
  tokens: TokenService;
  gate: ApprovalGate;
  scope: DeviceScope;
  /** For src/identity: unscoped permissions of an administrator. */
  resolver: PermissionResolver;
  /** For src/identity: roles from the IdP's group mapping. */
  idpSync: IdpRoleSync;
  /** The `toActor` hook of createAuthenticator. */
  tokenActor: (record: ApiToken, cred: Credentials) => Promise<Actor>;
  /** An administrator's actor with full role permissions (sessions: pass the session id as `id`). */
  adminActor(adminId: string, base?: { id?: string; source?: string; requestId?: string }): Promise<Actor>;
}

export interface AuthzDeps {
  opened: Pick<OpenedStorage, 'db' | 'backend' | 'migrateModule'>;
  storage: Pick<Storage, 'admins' | 'tokens'>;
  audit: AuditRecorder;
  config: AuthzConfig;
  now: () => Date;
  groups?: GroupMembership;
}

export async function openAuthz(deps: AuthzDeps): Promise<Authz> {
  const { opened, storage, audit, config, now } = deps;
  await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations(opened.backend));
  const store = createAuthzStore(opened.db, opened.backend);
  const rates = createRateLimiter({ store, audit, limits: config.rateLimits, now });
  // The gate needs role grants to rebuild the requester; roles need the gate. Tie the knot lazily.
  const late: { roles?: RoleService } = {};
  const gate = createApprovalGate({
    store,
    audit,
    policy: config.approvals,
    rates,
    now,
    async requesterActor(rec) {
      if (rec.requester.type === 'token') {
        // A request made with a token that has since been revoked or has expired does not run.
        const t = (await storage.tokens.listForPrincipal(rec.requester.principalId)).find((x) => x.id === rec.requester.id);
        if (!t || t.revokedAt !== null || (t.expiresAt !== null && Date.parse(t.expiresAt) <= now().getTime())) throw new Error('requesting token no longer valid');
      }
      const grants = await late.roles!.grantsFor(rec.requester.principalId);
      const type = rec.requester.type === 'token' ? 'token' : 'admin';
      return actorFor({ type, id: rec.requester.id }, rec.requester.principalId, grants, rec.requester.permissions);
    },
  });
  const r = createRoleService({ store, admins: storage.admins, audit, gate, now });
  late.roles = r;
  const admins = createAdminService({ admins: storage.admins, store, audit, gate, grantsFor: (id) => r.grantsFor(id), now });
  const tokens = createTokenService({ tokens: storage.tokens, admins: storage.admins, store, audit, now, maxLifetimeDays: config.tokenMaxLifetimeDays });
  const scope = createDeviceScope({ groups: deps.groups ?? NO_GROUPS, audit });

  const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '');
  const strs = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  gate.register(ACTIONS.adminCreate, async (p, ctx) => {
    const a = await admins.create(ctx.actor, { username: str(p.username), roles: strs(p.roles) });
    return { adminId: a.id };
  });
  gate.register(ACTIONS.adminElevate, async (p, ctx) => {
    await r.assign(ctx.actor, str(p.adminId), str(p.role), strs(p.groups));
    return { adminId: str(p.adminId), role: str(p.role) };
  }, { idempotent: true });
  gate.register(ACTIONS.roleUpdate, async (p, ctx) => {
    await r.update(ctx.actor, str(p.role), { description: str(p.description), permissions: strs(p.permissions) });
    return { role: str(p.role) };
  }, { idempotent: true });

  return {
    store,
    roles: r,
    admins,
    tokens,
    gate,
    scope,
    resolver: { permissionsFor: (id) => r.permissionsFor(id) },
    idpSync: { syncRoles: (id, names) => r.syncRoles(id, names) },
    tokenActor: createTokenActor({ store, grantsFor: (id) => r.grantsFor(id), audit }),
    async adminActor(adminId, base = {}) {
      const b: { type: 'admin'; id: string; source?: string; requestId?: string } = { type: 'admin', id: base.id ?? adminId };
      if (base.source !== undefined) b.source = base.source;
      if (base.requestId !== undefined) b.requestId = base.requestId;
      return actorFor(b, adminId, await r.grantsFor(adminId));
    },
  };
}
