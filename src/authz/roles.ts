// Roles and their assignment to administrators. Rules against privilege
// escalation, checked here (not only in routes):
//  - editing roles and assignments needs roles.manage;
//  - nobody creates, edits, deletes, assigns or removes a role holding a
//    permission they do not hold themselves (hierarchical: "commands.send"
//    covers "commands.send.erase", "*" covers everything);
//  - built-in roles cannot be changed or deleted;
//  - the last enabled, unscoped owner cannot lose the role;
//  - assigning a role (elevation) and adding permissions to an assigned role
//    go through the four-eyes gate when the policy names admin.elevate / role.update.
import type { AuditRecorder } from '../audit/types.ts';
import type { AdminStore } from '../storage/types.ts';
import type { Actor } from '../services/types.ts';
import { authorize } from '../services/command-policy.ts';
import { badRequest, conflict, forbidden, notFound } from '../lib/errors.ts';
import { BUILT_IN_ROLES, builtInRole, isCatalogued, isRoleName, OWNER_ROLE, PERMISSION_CATALOGUE } from './catalogue.ts';
import type { Assignment, AuthzStore } from './store.ts';
import type { ApprovalGuard, IdpRoleSync, PermissionResolver } from './types.ts';
import { ACTIONS } from './config.ts';
import { actorEvent } from './audit.ts';
import { covers, missing, type Grants } from './grants.ts';

export interface RoleView {
  name: string;
  description: string;
  permissions: string[];
  builtIn: boolean;
}

export interface AssignmentView {
  role: string;
  /** Device groups the assignment is limited to; empty = every device. */
  groups: string[];
  source: 'local' | 'idp';
  createdAt: string;
  createdBy: string;
}

export interface RoleInput {
  name: string;
  description: string;
  permissions: string[];
}

export interface RoleService extends PermissionResolver, IdpRoleSync {
  catalogue(): Array<{ name: string; description: string }>;
  list(actor: Actor): Promise<RoleView[]>;
  get(actor: Actor, name: string): Promise<RoleView>;
  create(actor: Actor, input: RoleInput): Promise<RoleView>;
  update(actor: Actor, name: string, input: Omit<RoleInput, 'name'>): Promise<RoleView>;
  remove(actor: Actor, name: string): Promise<void>;
  assign(actor: Actor, adminId: string, role: string, groups?: string[]): Promise<AssignmentView[]>;
  unassign(actor: Actor, adminId: string, role: string): Promise<AssignmentView[]>;
  assignmentsOf(actor: Actor, adminId: string): Promise<AssignmentView[]>;
  /** Resolved grants of an administrator (none when disabled or unknown). */
  grantsFor(adminId: string): Promise<Grants>;
  /** Bootstrap only (first administrator, local `rampart admin create`): owner without checks. */
  bootstrapOwner(adminId: string): Promise<void>;
}

export interface RoleServiceDeps {
  store: AuthzStore;
  admins: Pick<AdminStore, 'get'>;
  audit: AuditRecorder;
  gate: ApprovalGuard;
  now: () => Date;
}

const GROUP_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const DESCRIPTION = /^[^\u0000-\u001f\u007f]{0,300}$/;
const MAX_GROUPS = 100;
const ADMIN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function view(a: Assignment): AssignmentView {
  return { role: a.role, groups: a.groups, source: a.source, createdAt: a.createdAt, createdBy: a.createdBy };
}

function normalizePermissions(list: unknown): string[] {
  if (!Array.isArray(list) || list.length === 0 || list.length > 64) throw badRequest('invalid permissions');
  for (const p of list) if (typeof p !== 'string' || !isCatalogued(p)) throw badRequest('invalid permissions');
  return [...new Set(list as string[])].sort();
}

export function createRoleService(deps: RoleServiceDeps): RoleService {
  const { store, admins, audit, gate, now } = deps;

  async function roleDef(name: string): Promise<RoleView | undefined> {
    const b = builtInRole(name);
    if (b) return { name: b.name, description: b.description, permissions: [...b.permissions], builtIn: true };
    const r = await store.getRole(name);
    return r ? { name: r.name, description: r.description, permissions: r.permissions, builtIn: false } : undefined;
  }

  /** Refuses (recorded) unless the actor covers every permission in `perms`. */
  async function mustHold(actor: Actor, action: string, target: { type: string; id: string }, perms: Iterable<string>): Promise<void> {
    const lacking = missing(actor.permissions, perms);
    // Device permissions held only for some groups do not count: a role grants them everywhere.
    const unscoped = actor.authz?.unscoped;
    const lackingUnscoped = unscoped ? missing(unscoped, perms) : lacking;
    if (lacking.length === 0 && lackingUnscoped.length === 0) return;
    await audit.record(actorEvent(actor, { action, outcome: 'denied', target, details: { reason: 'escalation', missing: [...new Set([...lacking, ...lackingUnscoped])].sort() } }));
    throw forbidden('forbidden', 'cannot grant a permission you do not hold');
  }

  async function mustBeAdmin(adminId: string): Promise<void> {
    if (typeof adminId !== 'string' || !ADMIN_ID.test(adminId) || !(await admins.get(adminId))) throw notFound();
  }

  /** Refuses removing the owner role from the last enabled unscoped owner. */
  async function keepLastOwner(actor: Actor, action: string, adminId: string): Promise<void> {
    const holders = await store.enabledHolders(OWNER_ROLE);
    if (holders.length === 1 && holders[0] === adminId) {
      await audit.record(actorEvent(actor, { action, outcome: 'denied', target: { type: 'admin', id: adminId }, details: { reason: 'last_owner' } }));
      throw conflict('cannot remove the last owner');
    }
  }

  const service: RoleService = {
    catalogue() {
      return Object.entries(PERMISSION_CATALOGUE).map(([name, description]) => ({ name, description }));
    },

    async list(actor) {
      await authorize(audit, actor, 'admins.read', { action: 'role.list' });
      const custom = await store.listRoles();
      return [
        ...BUILT_IN_ROLES.map((b) => ({ name: b.name, description: b.description, permissions: [...b.permissions], builtIn: true })),
        ...custom.map((r) => ({ name: r.name, description: r.description, permissions: r.permissions, builtIn: false })),
      ];
    },

    async get(actor, name) {
      await authorize(audit, actor, 'admins.read', { action: 'role.get' });
      const r = isRoleName(name) ? await roleDef(name) : undefined;
      if (!r) throw notFound();
      return r;
    },

    async create(actor, input) {
      const action = 'role.create';
      await authorize(audit, actor, 'roles.manage', { action });
      if (!isRoleName(input.name) || builtInRole(input.name)) throw badRequest('invalid role name');
      if (typeof input.description !== 'string' || !DESCRIPTION.test(input.description)) throw badRequest('invalid description');
      const permissions = normalizePermissions(input.permissions);
      const target = { type: 'role', id: input.name };
      await mustHold(actor, action, target, permissions);
      const r = await store.createRole({ name: input.name, description: input.description, permissions }, now().toISOString());
      await audit.record(actorEvent(actor, { action, outcome: 'success', target, details: { permissions } }));
      return { name: r.name, description: r.description, permissions: r.permissions, builtIn: false };
    },

    async update(actor, name, input) {
      const action = 'role.update';
      await authorize(audit, actor, 'roles.manage', { action });
      if (!isRoleName(name)) throw notFound();
      if (builtInRole(name)) throw forbidden('built-in roles cannot be changed');
      if (typeof input.description !== 'string' || !DESCRIPTION.test(input.description)) throw badRequest('invalid description');
      const permissions = normalizePermissions(input.permissions);
      const current = await store.getRole(name);
      if (!current) throw notFound();
      const target = { type: 'role', id: name };
      await mustHold(actor, action, target, [...current.permissions, ...permissions]);
      const added = permissions.filter((p) => !covers(new Set(current.permissions), p));
      if (added.length > 0 && (await store.assignmentsOfRole(name)).length > 0) {
        // Adding permissions to a role in use elevates every holder.
        await gate.guard(actor, {
          action: ACTIONS.roleUpdate,
          params: { role: name, description: input.description, permissions },
          summary: `add ${added.join(', ')} to role ${name}`,
          target,
          approverPermission: 'roles.manage',
        });
      }
      const r = await store.updateRole(name, { description: input.description, permissions }, now().toISOString());
      if (!r) throw notFound();
      await audit.record(actorEvent(actor, { action, outcome: 'success', target, details: { permissions, added } }));
      return { name: r.name, description: r.description, permissions: r.permissions, builtIn: false };
    },

    async remove(actor, name) {
      const action = 'role.delete';
      await authorize(audit, actor, 'roles.manage', { action });
      if (!isRoleName(name)) throw notFound();
      if (builtInRole(name)) throw forbidden('built-in roles cannot be deleted');
      const current = await store.getRole(name);
      if (!current) throw notFound();
      const target = { type: 'role', id: name };
      await mustHold(actor, action, target, current.permissions);
      await store.deleteRole(name);
      await audit.record(actorEvent(actor, { action, outcome: 'success', target }));
    },

    async assign(actor, adminId, role, groups = []) {
      const action = 'role.assign';
      await authorize(audit, actor, 'roles.manage', { action });
      await mustBeAdmin(adminId);
      if (!Array.isArray(groups) || groups.length > MAX_GROUPS || !groups.every((g) => typeof g === 'string' && GROUP_ID.test(g))) throw badRequest('invalid groups');
      const def = isRoleName(role) ? await roleDef(role) : undefined;
      if (!def) throw notFound('role not found');
      const target = { type: 'admin', id: adminId };
      await mustHold(actor, action, target, def.permissions);
      const sortedGroups = [...new Set(groups)].sort();
      const existing = (await store.assignmentsOf(adminId)).find((a) => a.role === role);
      // Narrowing an owner's assignment to groups is a removal of the unscoped owner role.
      if (existing && existing.groups.length === 0 && sortedGroups.length > 0 && role === OWNER_ROLE) await keepLastOwner(actor, action, adminId);
      await gate.guard(actor, {
        action: ACTIONS.adminElevate,
        params: { adminId, role, groups: sortedGroups },
        summary: `give role ${role} to administrator ${adminId}${sortedGroups.length > 0 ? ` for groups ${sortedGroups.join(', ')}` : ''}`,
        target,
        approverPermission: 'roles.manage',
      });
      await store.assign({ adminId, role, groups: sortedGroups, source: 'local', createdBy: actor.authz?.principalId ?? actor.id }, now().toISOString());
      await audit.record(actorEvent(actor, { action, outcome: 'success', target, details: { role, groups: sortedGroups } }));
      return (await store.assignmentsOf(adminId)).map(view);
    },

    async unassign(actor, adminId, role) {
      const action = 'role.unassign';
      await authorize(audit, actor, 'roles.manage', { action });
      await mustBeAdmin(adminId);
      const target = { type: 'admin', id: adminId };
      const existing = (await store.assignmentsOf(adminId)).find((a) => a.role === role);
      if (!existing) throw notFound('assignment not found');
      const def = await roleDef(role);
      if (def) await mustHold(actor, action, target, def.permissions);
      if (role === OWNER_ROLE && existing.groups.length === 0) await keepLastOwner(actor, action, adminId);
      await store.unassign(adminId, role);
      await audit.record(actorEvent(actor, { action, outcome: 'success', target, details: { role } }));
      return (await store.assignmentsOf(adminId)).map(view);
    },

    async assignmentsOf(actor, adminId) {
      await authorize(audit, actor, 'admins.read', { action: 'role.assignments' });
      await mustBeAdmin(adminId);
      return (await store.assignmentsOf(adminId)).map(view);
    },

    async grantsFor(adminId) {
      const grants: Grants = { unscoped: new Set(), scoped: [] };
      const admin = await admins.get(adminId);
      if (!admin || admin.disabledAt !== null) return grants;
      for (const a of await store.assignmentsOf(adminId)) {
        const def = await roleDef(a.role);
        if (!def) continue;
        if (a.groups.length === 0) for (const p of def.permissions) grants.unscoped.add(p);
        else grants.scoped.push({ permissions: new Set(def.permissions), groups: new Set(a.groups) });
      }
      return grants;
    },

    async permissionsFor(adminId) {
      return (await service.grantsFor(adminId)).unscoped;
    },

    async syncRoles(adminId, roleNames) {
      const system: Actor = { type: 'system', id: 'idp', permissions: new Set() };
      const target = { type: 'admin', id: adminId };
      const wanted: string[] = [];
      for (const n of roleNames) if (isRoleName(n) && (await roleDef(n))) wanted.push(n);
      const current = await store.assignmentsOf(adminId);
      const losesOwner = current.some((a) => a.role === OWNER_ROLE && a.source === 'idp' && a.groups.length === 0) && !wanted.includes(OWNER_ROLE);
      if (losesOwner) {
        const holders = await store.enabledHolders(OWNER_ROLE);
        if (holders.length === 1 && holders[0] === adminId) wanted.push(OWNER_ROLE);
      }
      const { added, removed } = await store.replaceIdpAssignments(adminId, [...new Set(wanted)], now().toISOString());
      await audit.record(actorEvent(system, {
        action: 'role.sync',
        outcome: 'success',
        target,
        details: { added, removed, requested: roleNames.length, known: wanted.length },
      }));
    },

    async bootstrapOwner(adminId) {
      await store.assign({ adminId, role: OWNER_ROLE, groups: [], source: 'local', createdBy: 'bootstrap' }, now().toISOString());
      await audit.record({ action: 'role.assign', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'admin', id: adminId }, details: { role: OWNER_ROLE, bootstrap: true } });
    },
  };
  return service;
}

