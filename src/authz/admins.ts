// Administrator accounts as the authorization layer sees them: list, create
// (four-eyes when the policy names admin.create), disable. Credentials
// (passwords, MFA, sessions) belong to src/identity. Usernames never go into
// audit details: targets are administrator ids.
import { randomUUID } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import type { Admin, AdminStore } from '../storage/types.ts';
import type { Actor } from '../services/types.ts';
import { authorize } from '../services/command-policy.ts';
import { badRequest, conflict, forbidden, notFound } from '../lib/errors.ts';
import { builtInRole, isRoleName, OWNER_ROLE } from './catalogue.ts';
import type { AuthzStore } from './store.ts';
import type { ApprovalGuard } from './types.ts';
import type { AssignmentView } from './roles.ts';
import { ACTIONS } from './config.ts';
import { actorEvent } from './audit.ts';
import { missing, principalOf, type Grants } from './grants.ts';

export interface AdminView {
  id: string;
  username: string;
  createdAt: string;
  disabledAt: string | null;
  roles: AssignmentView[];
}

export interface AdminService {
  list(actor: Actor): Promise<AdminView[]>;
  get(actor: Actor, id: string): Promise<AdminView>;
  create(actor: Actor, input: { username: string; roles?: string[] }): Promise<AdminView>;
  disable(actor: Actor, id: string): Promise<AdminView>;
}

export interface AdminServiceDeps {
  admins: Pick<AdminStore, 'create' | 'get' | 'getByUsername' | 'list'>;
  store: AuthzStore;
  audit: AuditRecorder;
  gate: ApprovalGuard;
  grantsFor: (adminId: string) => Promise<Grants>;
  now: () => Date;
  newId?: () => string;
}

export const USERNAME_PATTERN = '^[a-z][a-z0-9._-]{0,63}$';
const USERNAME = new RegExp(USERNAME_PATTERN);
const ADMIN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function createAdminService(deps: AdminServiceDeps): AdminService {
  const { admins, store, audit, gate, now } = deps;
  const newId = deps.newId ?? randomUUID;

  async function toView(a: Admin): Promise<AdminView> {
    const roles = (await store.assignmentsOf(a.id)).map((x) => ({ role: x.role, groups: x.groups, source: x.source, createdAt: x.createdAt, createdBy: x.createdBy }));
    return { id: a.id, username: a.username, createdAt: a.createdAt, disabledAt: a.disabledAt, roles };
  }

  async function rolePermissions(name: string): Promise<readonly string[] | undefined> {
    const b = builtInRole(name);
    if (b) return b.permissions;
    return (await store.getRole(name))?.permissions;
  }

  return {
    async list(actor) {
      await authorize(audit, actor, 'admins.read', { action: 'admin.list' });
      return Promise.all((await admins.list()).map(toView));
    },

    async get(actor, id) {
      await authorize(audit, actor, 'admins.read', { action: 'admin.get' });
      const a = typeof id === 'string' && ADMIN_ID.test(id) ? await admins.get(id) : undefined;
      if (!a) throw notFound();
      return toView(a);
    },

    async create(actor, input) {
      const action = 'admin.create';
      await authorize(audit, actor, 'admins.manage', { action });
      if (typeof input.username !== 'string' || !USERNAME.test(input.username)) throw badRequest('invalid username');
      const roles = [...new Set(input.roles ?? [])].sort();
      if (roles.length > 0) {
        await authorize(audit, actor, 'roles.manage', { action });
        const wanted: string[] = [];
        for (const r of roles) {
          const perms = isRoleName(r) ? await rolePermissions(r) : undefined;
          if (!perms) throw notFound('role not found');
          wanted.push(...perms);
        }
        const lacking = [...new Set([...missing(actor.permissions, wanted), ...(actor.authz ? missing(actor.authz.unscoped, wanted) : [])])];
        if (lacking.length > 0) {
          await audit.record(actorEvent(actor, { action, outcome: 'denied', details: { reason: 'escalation', missing: lacking.sort() } }));
          throw forbidden('forbidden', 'cannot grant a permission you do not hold');
        }
      }
      if (await admins.getByUsername(input.username)) throw conflict('administrator exists');
      await gate.guard(actor, {
        action: ACTIONS.adminCreate,
        params: { username: input.username, roles },
        summary: `create administrator ${input.username}${roles.length > 0 ? ` with roles ${roles.join(', ')}` : ''}`,
        approverPermission: 'admins.manage',
      });
      const at = now().toISOString();
      const a = await admins.create({ id: newId(), username: input.username }, at);
      for (const r of roles) await store.assign({ adminId: a.id, role: r, groups: [], source: 'local', createdBy: principalOf(actor) }, at);
      await audit.record(actorEvent(actor, { action, outcome: 'success', target: { type: 'admin', id: a.id }, details: { roles } }));
      return toView(a);
    },

    async disable(actor, id) {
      const action = 'admin.disable';
      await authorize(audit, actor, 'admins.manage', { action });
      const a = typeof id === 'string' && ADMIN_ID.test(id) ? await admins.get(id) : undefined;
      if (!a) throw notFound();
      const target = { type: 'admin', id: a.id };
      if (a.disabledAt !== null) return toView(a);
      // Disabling someone who holds more than you is refused (no lock-out of the more privileged).
      const theirs = await deps.grantsFor(a.id);
      const lacking = [...new Set([...missing(actor.permissions, theirs.unscoped), ...(actor.authz ? missing(actor.authz.unscoped, theirs.unscoped) : [])])];
      if (lacking.length > 0) {
        await audit.record(actorEvent(actor, { action, outcome: 'denied', target, details: { reason: 'escalation', missing: lacking.sort() } }));
        throw forbidden('forbidden', 'cannot disable an administrator holding permissions you do not hold');
      }
      const owners = await store.enabledHolders(OWNER_ROLE);
      if (owners.length === 1 && owners[0] === a.id) {
        await audit.record(actorEvent(actor, { action, outcome: 'denied', target, details: { reason: 'last_owner' } }));
        throw conflict('cannot remove the last owner');
      }
      await audit.record(actorEvent(actor, { action, outcome: 'success', target }));
      await store.disableAdmin(a.id, now().toISOString());
      return toView((await admins.get(a.id)) ?? a);
    },
  };
}
