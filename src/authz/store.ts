// Storage of the authorization module (roles, assignments, token networks,
// approvals, rate-limit events), one Kysely implementation for SQLite and
// PostgreSQL. The conformance suite (store-conformance.ts) runs against both.
import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import { conflict } from '../lib/errors.ts';
import { dbErrorKind } from '../storage/open.ts';
import type { NoTables, StorageBackend } from '../storage/open.ts';
import { isoIn, isoOut, isoOutOrNull, numOut } from '../storage/sql/map.ts';
import type { APPROVAL_STATUSES } from './migrations.ts';

export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

type RolesTable = { name: string; description: string; permissions: string; created_at: string; updated_at: string }
type AssignmentsTable = { admin_id: string; role: string; device_groups: string; source: string; created_at: string; created_by: string }
type NetworksTable = { token_id: string; networks: string; created_at: string }
type ApprovalsTable = {
  id: string; action: string; params: string; params_hash: string; summary: string; units: number;
  target_type: string | null; target_id: string | null; approver_permission: string | null;
  requester_type: string; requester_id: string; requester_principal: string; requester_permissions: string;
  status: string; created_at: string; expires_at: string; decided_by: string | null; decided_at: string | null;
  reason: string | null; claimed_at: string | null; finished_at: string | null; result: string | null;
}
type RateEventsTable = { id: number | undefined; principal: string; action: string; units: number; at: string }
type AdminsRef = { id: string; disabled_at: string | null }

export type AuthzTables = {
  authz_roles: RolesTable;
  authz_role_assignments: AssignmentsTable;
  authz_token_networks: NetworksTable;
  authz_approvals: ApprovalsTable;
  authz_rate_events: RateEventsTable;
  admins: AdminsRef;
}

export interface StoredRole { name: string; description: string; permissions: string[]; createdAt: string; updatedAt: string }
export interface Assignment { adminId: string; role: string; groups: string[]; source: 'local' | 'idp'; createdAt: string; createdBy: string }

export interface ApprovalRecord {
  id: string;
  action: string;
  /** Canonical JSON (RFC 8785) of the parameters. */
  params: string;
  paramsHash: string;
  summary: string;
  units: number;
  target: { type: string; id: string } | null;
  approverPermission: string | null;
  requester: { type: string; id: string; principalId: string; permissions: string[] };
  status: ApprovalStatus;
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  claimedAt: string | null;
  finishedAt: string | null;
  result: string | null;
}

export type NewApproval = Omit<ApprovalRecord, 'status' | 'decidedBy' | 'decidedAt' | 'reason' | 'claimedAt' | 'finishedAt' | 'result'>;

const strings = (text: string): string[] => {
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

function toRole(r: Selectable<RolesTable>): StoredRole {
  return { name: r.name, description: r.description, permissions: strings(r.permissions), createdAt: isoOut(r.created_at), updatedAt: isoOut(r.updated_at) };
}

function toAssignment(r: Selectable<AssignmentsTable>): Assignment {
  return { adminId: r.admin_id, role: r.role, groups: strings(r.device_groups), source: r.source === 'idp' ? 'idp' : 'local', createdAt: isoOut(r.created_at), createdBy: r.created_by };
}

function toApproval(r: Selectable<ApprovalsTable>): ApprovalRecord {
  return {
    id: r.id,
    action: r.action,
    params: r.params,
    paramsHash: r.params_hash,
    summary: r.summary,
    units: numOut(r.units),
    target: r.target_type !== null && r.target_id !== null ? { type: r.target_type, id: r.target_id } : null,
    approverPermission: r.approver_permission,
    requester: { type: r.requester_type, id: r.requester_id, principalId: r.requester_principal, permissions: strings(r.requester_permissions) },
    status: r.status as ApprovalStatus,
    createdAt: isoOut(r.created_at),
    expiresAt: isoOut(r.expires_at),
    decidedBy: r.decided_by,
    decidedAt: isoOutOrNull(r.decided_at),
    reason: r.reason,
    claimedAt: isoOutOrNull(r.claimed_at),
    finishedAt: isoOutOrNull(r.finished_at),
    result: r.result,
  };
}

export interface ApprovalQuery {
  status?: ApprovalStatus;
  requesterPrincipal?: string;
  limit: number;
}

export interface AuthzStore {
  listRoles(): Promise<StoredRole[]>;
  getRole(name: string): Promise<StoredRole | undefined>;
  /** Throws conflict when the name exists. */
  createRole(r: { name: string; description: string; permissions: string[] }, now: string): Promise<StoredRole>;
  updateRole(name: string, r: { description: string; permissions: string[] }, now: string): Promise<StoredRole | undefined>;
  /** False when absent; throws conflict while assigned. */
  deleteRole(name: string): Promise<boolean>;

  assignmentsOf(adminId: string): Promise<Assignment[]>;
  assignmentsOfRole(role: string): Promise<Assignment[]>;
  /** Inserts or replaces the (admin, role) assignment. */
  assign(a: Omit<Assignment, 'createdAt'>, now: string): Promise<void>;
  unassign(adminId: string, role: string): Promise<boolean>;
  /** Enabled administrators holding the role (unscoped). */
  enabledHolders(role: string): Promise<string[]>;
  /** Sets adminId's IdP-sourced assignments to exactly `roles` (local ones untouched); the change, applied in one transaction. */
  replaceIdpAssignments(adminId: string, roles: string[], now: string): Promise<{ added: string[]; removed: string[] }>;
  disableAdmin(adminId: string, now: string): Promise<boolean>;

  setTokenNetworks(tokenId: string, networks: string[], now: string): Promise<void>;
  tokenNetworks(tokenId: string): Promise<string[] | undefined>;

  createApproval(a: NewApproval): Promise<ApprovalRecord>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  listApprovals(q: ApprovalQuery): Promise<ApprovalRecord[]>;
  /** pending → executing when unexpired and decided by someone other than the requester; false otherwise. */
  claimApproval(id: string, approver: string, now: string): Promise<boolean>;
  /** Takes over an "executing" approval whose claim is `claimedAt` (one taker wins). */
  reclaimApproval(id: string, claimedAt: string, now: string): Promise<boolean>;
  /** executing → executed | failed | interrupted. */
  finishApproval(id: string, status: 'executed' | 'failed' | 'interrupted', result: string | null, reason: string | null, now: string): Promise<boolean>;
  denyApproval(id: string, by: string, reason: string | null, now: string): Promise<boolean>;
  staleExecuting(claimedBefore: string): Promise<ApprovalRecord[]>;

  /**
   * Counts `units` for (principal, action) unless that would exceed `limit`
   * within the window starting at `windowStart`; true when counted.
   */
  consumeRate(principal: string, action: string, units: number, limit: number, windowStart: string, now: string): Promise<boolean>;
  /**
   * After a refusal: the time of the counted event whose leaving the window
   * makes room for `units` (retry at that time + the window length), or null
   * when waiting cannot help (units above the limit).
   */
  rateFreesAt(principal: string, action: string, units: number, limit: number, windowStart: string): Promise<string | null>;
}

export function createAuthzStore(db: Kysely<NoTables>, backend: StorageBackend): AuthzStore {
  const k = db.withTables<AuthzTables>() as unknown as Kysely<AuthzTables>;
  return {
    async listRoles() {
      return (await k.selectFrom('authz_roles').selectAll().orderBy('name').execute()).map(toRole);
    },
    async getRole(name) {
      const r = await k.selectFrom('authz_roles').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? toRole(r) : undefined;
    },
    async createRole(r, now) {
      const row = { name: r.name, description: r.description, permissions: JSON.stringify(r.permissions), created_at: isoIn(now), updated_at: isoIn(now) };
      try {
        await k.insertInto('authz_roles').values(row).execute();
      } catch (e) {
        if (dbErrorKind(e) === 'unique') throw conflict('role exists');
        throw e;
      }
      return toRole(row);
    },
    async updateRole(name, r, now) {
      const res = await k.updateTable('authz_roles')
        .set({ description: r.description, permissions: JSON.stringify(r.permissions), updated_at: isoIn(now) })
        .where('name', '=', name).executeTakeFirst();
      if (res.numUpdatedRows === 0n) return undefined;
      return this.getRole(name);
    },
    async deleteRole(name) {
      return k.transaction().execute(async (trx) => {
        const used = await trx.selectFrom('authz_role_assignments').select('admin_id').where('role', '=', name).executeTakeFirst();
        if (used) throw conflict('role is assigned');
        const res = await trx.deleteFrom('authz_roles').where('name', '=', name).executeTakeFirst();
        return res.numDeletedRows > 0n;
      });
    },

    async assignmentsOf(adminId) {
      return (await k.selectFrom('authz_role_assignments').selectAll().where('admin_id', '=', adminId).orderBy('role').execute()).map(toAssignment);
    },
    async assignmentsOfRole(role) {
      return (await k.selectFrom('authz_role_assignments').selectAll().where('role', '=', role).orderBy('admin_id').execute()).map(toAssignment);
    },
    async assign(a, now) {
      const row = { admin_id: a.adminId, role: a.role, device_groups: JSON.stringify([...new Set(a.groups)].sort()), source: a.source, created_at: isoIn(now), created_by: a.createdBy };
      await k.insertInto('authz_role_assignments').values(row)
        .onConflict((oc) => oc.columns(['admin_id', 'role']).doUpdateSet({ device_groups: row.device_groups, source: row.source, created_at: row.created_at, created_by: row.created_by }))
        .execute();
    },
    async unassign(adminId, role) {
      const res = await k.deleteFrom('authz_role_assignments').where('admin_id', '=', adminId).where('role', '=', role).executeTakeFirst();
      return res.numDeletedRows > 0n;
    },
    async enabledHolders(role) {
      const rows = await k.selectFrom('authz_role_assignments as a')
        .innerJoin('admins as d', 'd.id', 'a.admin_id')
        .select('a.admin_id')
        .where('a.role', '=', role).where('a.device_groups', '=', '[]').where('d.disabled_at', 'is', null)
        .orderBy('a.admin_id').execute();
      return rows.map((r) => r.admin_id);
    },
    async replaceIdpAssignments(adminId, roles, now) {
      return k.transaction().execute(async (trx) => {
        const current = await trx.selectFrom('authz_role_assignments').selectAll().where('admin_id', '=', adminId).execute();
        const want = new Set(roles);
        const removed: string[] = [];
        const added: string[] = [];
        for (const c of current) {
          if (c.source === 'idp' && !want.has(c.role)) {
            await trx.deleteFrom('authz_role_assignments').where('admin_id', '=', adminId).where('role', '=', c.role).execute();
            removed.push(c.role);
          }
        }
        const have = new Set(current.map((c) => c.role));
        for (const r of want) {
          if (have.has(r)) continue;
          await trx.insertInto('authz_role_assignments').values({ admin_id: adminId, role: r, device_groups: '[]', source: 'idp', created_at: isoIn(now), created_by: 'idp' }).execute();
          added.push(r);
        }
        return { added, removed };
      });
    },
    async disableAdmin(adminId, now) {
      const res = await k.updateTable('admins').set({ disabled_at: isoIn(now) }).where('id', '=', adminId).where('disabled_at', 'is', null).executeTakeFirst();
      return res.numUpdatedRows > 0n;
    },

    async setTokenNetworks(tokenId, networks, now) {
      await k.insertInto('authz_token_networks').values({ token_id: tokenId, networks: JSON.stringify(networks), created_at: isoIn(now) }).execute();
    },
    async tokenNetworks(tokenId) {
      const r = await k.selectFrom('authz_token_networks').select('networks').where('token_id', '=', tokenId).executeTakeFirst();
      return r ? strings(r.networks) : undefined;
    },

    async createApproval(a) {
      const row: ApprovalsTable = {
        id: a.id, action: a.action, params: a.params, params_hash: a.paramsHash, summary: a.summary, units: a.units,
        target_type: a.target?.type ?? null, target_id: a.target?.id ?? null, approver_permission: a.approverPermission,
        requester_type: a.requester.type, requester_id: a.requester.id, requester_principal: a.requester.principalId,
        requester_permissions: JSON.stringify(a.requester.permissions), status: 'pending',
        created_at: isoIn(a.createdAt), expires_at: isoIn(a.expiresAt), decided_by: null, decided_at: null, reason: null,
        claimed_at: null, finished_at: null, result: null,
      };
      await k.insertInto('authz_approvals').values(row).execute();
      return toApproval(row);
    },
    async getApproval(id) {
      const r = await k.selectFrom('authz_approvals').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toApproval(r) : undefined;
    },
    async listApprovals(q) {
      let query = k.selectFrom('authz_approvals').selectAll();
      if (q.status !== undefined) query = query.where('status', '=', q.status);
      if (q.requesterPrincipal !== undefined) query = query.where('requester_principal', '=', q.requesterPrincipal);
      return (await query.orderBy('created_at', 'desc').orderBy('id').limit(q.limit).execute()).map(toApproval);
    },
    async claimApproval(id, approver, now) {
      const res = await k.updateTable('authz_approvals')
        .set({ status: 'executing', decided_by: approver, decided_at: isoIn(now), claimed_at: isoIn(now) })
        .where('id', '=', id).where('status', '=', 'pending')
        .where('expires_at', '>', isoIn(now))
        .where('requester_principal', '<>', approver)
        .executeTakeFirst();
      return res.numUpdatedRows === 1n;
    },
    async reclaimApproval(id, claimedAt, now) {
      const res = await k.updateTable('authz_approvals').set({ claimed_at: isoIn(now) })
        .where('id', '=', id).where('status', '=', 'executing').where('claimed_at', '=', isoIn(claimedAt))
        .executeTakeFirst();
      return res.numUpdatedRows === 1n;
    },
    async finishApproval(id, status, result, reason, now) {
      const res = await k.updateTable('authz_approvals').set({ status, result, reason, finished_at: isoIn(now) })
        .where('id', '=', id).where('status', '=', 'executing').executeTakeFirst();
      return res.numUpdatedRows === 1n;
    },
    async denyApproval(id, by, reason, now) {
      const res = await k.updateTable('authz_approvals').set({ status: 'denied', decided_by: by, decided_at: isoIn(now), reason })
        .where('id', '=', id).where('status', '=', 'pending').executeTakeFirst();
      return res.numUpdatedRows === 1n;
    },
    async staleExecuting(claimedBefore) {
      return (await k.selectFrom('authz_approvals').selectAll().where('status', '=', 'executing').where('claimed_at', '<', isoIn(claimedBefore))
        .orderBy('claimed_at').limit(1000).execute()).map(toApproval);
    },

    async consumeRate(principal, action, units, limit, windowStart, now) {
      if (units > limit) return false;
      return k.transaction().execute(async (trx) => {
        if (backend === 'postgres') {
          await sql`select pg_advisory_xact_lock(hashtextextended(${`rampart.rate:${principal}:${action}`}, 0))`.execute(trx);
        }
        const r = await trx.selectFrom('authz_rate_events')
          .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('units'), eb.lit(0)).as('n'))
          .where('principal', '=', principal).where('action', '=', action).where('at', '>', isoIn(windowStart))
          .executeTakeFirstOrThrow();
        if (numOut(r.n) + units > limit) return false;
        await trx.insertInto('authz_rate_events').values({ principal, action, units, at: isoIn(now) }).execute();
        // Events older than the window no longer count; keep the table small.
        await trx.deleteFrom('authz_rate_events').where('principal', '=', principal).where('action', '=', action).where('at', '<=', isoIn(windowStart)).execute();
        return true;
      });
    },
    async rateFreesAt(principal, action, units, limit, windowStart) {
      if (units > limit) return null;
      const rows = await k.selectFrom('authz_rate_events').select(['at', 'units'])
        .where('principal', '=', principal).where('action', '=', action).where('at', '>', isoIn(windowStart))
        .orderBy('at').orderBy('id').execute();
      let counted = rows.reduce((n, r) => n + numOut(r.units), 0);
      if (counted + units <= limit) return isoOut(isoIn(windowStart));
      for (const r of rows) {
        counted -= numOut(r.units);
        if (counted + units <= limit) return isoOut(r.at);
      }
      return null;
    },
  };
}
