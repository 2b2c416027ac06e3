// Staff groups (SCIM Groups): a display name, an optional external id and
// member staff ids. Group names are organisational, not personal data, and
// are stored in clear; membership is ids only.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { AuditRecorder } from '../audit/types.ts';
import { conflict, forbidden, notFound, RampartError } from '../lib/errors.ts';
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { dbErrorKind } from '../storage/open.ts';
import type { NoTables } from '../storage/open.ts';
import { cleanText, normaliseExternalId } from './normalise.ts';
import { DIRECTORY_PERMISSIONS as P } from './permissions.ts';
import type { PiiTables } from './types.ts';

export interface Group {
  id: string;
  displayName: string;
  externalId: string | null;
  members: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface GroupInput {
  displayName: unknown;
  externalId?: unknown;
  members?: unknown;
}

export type GroupTerm = { attr: 'displayName' | 'externalId' | 'id'; op: 'eq' | 'co' | 'sw' | 'ew' | 'pr'; value: string } | { attr: 'members'; op: 'eq'; value: string };

export interface GroupService {
  create(actor: Actor, input: GroupInput): Promise<Group>;
  get(actor: Actor, id: string): Promise<Group>;
  replace(actor: Actor, id: string, input: GroupInput, ifVersion?: number): Promise<Group>;
  remove(actor: Actor, id: string, ifVersion?: number): Promise<void>;
  /** Ids of groups matching a term (all groups without one), ordered by id. */
  ids(actor: Actor, term?: GroupTerm): Promise<string[]>;
}

const MAX_MEMBERS = 10_000;
const iso = (v: string | Date): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());

function validate(input: GroupInput): { displayName: string; externalId: string | null; members: string[] } {
  const members = input.members ?? [];
  if (!Array.isArray(members) || members.length > MAX_MEMBERS || !members.every((m) => typeof m === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(m))) {
    throw new RampartError('bad_request', 'invalid members');
  }
  return { displayName: cleanText('displayName', input.displayName), externalId: normaliseExternalId(input.externalId), members: [...new Set(members as string[])].sort() };
}

export function createGroupService(deps: { db: Kysely<NoTables>; audit: AuditRecorder; now?: () => Date; newId?: () => string }): GroupService {
  const db = deps.db.withTables<PiiTables>() as unknown as Kysely<PiiTables>;
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;

  async function need(actor: Actor, action: string, target?: string): Promise<void> {
    if (hasPermission(actor, P.scimProvision)) return;
    await deps.audit.record({ action, actor: { type: actor.type, id: actor.id }, outcome: 'denied', ...(target ? { target: { type: 'group', id: target } } : {}), details: { permission: P.scimProvision } });
    throw forbidden('forbidden', `missing permission ${P.scimProvision}`);
  }
  const record = (actor: Actor, action: string, id: string, details: Record<string, number>): Promise<void> =>
    deps.audit.record({ action, actor: { type: actor.type, id: actor.id }, ...(actor.source ? { source: actor.source } : {}), outcome: 'success', target: { type: 'group', id }, details });

  async function load(id: string): Promise<Group> {
    const g = await db.selectFrom('pii_group').selectAll().where('id', '=', id).executeTakeFirst();
    if (!g) throw notFound();
    const members = (await db.selectFrom('pii_group_member').select('staff_id').where('group_id', '=', id).orderBy('staff_id').execute()).map((r) => r.staff_id);
    return { id: g.id, displayName: g.display_name, externalId: g.external_id, members, version: Number(g.version), createdAt: iso(g.created_at), updatedAt: iso(g.updated_at) };
  }

  async function setMembers(t: Kysely<PiiTables>, id: string, members: string[]): Promise<void> {
    await t.deleteFrom('pii_group_member').where('group_id', '=', id).execute();
    for (let i = 0; i < members.length; i += 500) {
      const chunk = members.slice(i, i + 500);
      const live = (await t.selectFrom('pii_staff').select('id').where('id', 'in', chunk).where('status', '<>', 'deleted').execute()).map((r) => r.id);
      if (live.length !== chunk.length) throw new RampartError('bad_request', 'unknown member');
      await t.insertInto('pii_group_member').values(chunk.map((staff_id) => ({ group_id: id, staff_id }))).execute();
    }
  }

  const unique = (e: unknown): never => {
    if (dbErrorKind(e) === 'unique') throw conflict('displayName or externalId already exists');
    throw e;
  };

  return {
    async create(actor, input) {
      await need(actor, 'group.create');
      const g = validate(input);
      const id = newId();
      await record(actor, 'group.create', id, { members: g.members.length });
      const at = now().toISOString();
      try {
        await db.transaction().execute(async (t) => {
          await t.insertInto('pii_group').values({ id, display_name: g.displayName, external_id: g.externalId, version: 1, created_at: at, updated_at: at }).execute();
          await setMembers(t, id, g.members);
        });
      } catch (e) {
        unique(e);
      }
      return load(id);
    },
    async get(actor, id) {
      await need(actor, 'group.read', id);
      return load(id);
    },
    async replace(actor, id, input, ifVersion) {
      await need(actor, 'group.update', id);
      const g = validate(input);
      await record(actor, 'group.update', id, { members: g.members.length });
      try {
        await db.transaction().execute(async (t) => {
          let q = t.updateTable('pii_group').set({ display_name: g.displayName, external_id: g.externalId, version: sql<number>`version + 1`, updated_at: now().toISOString() } as never).where('id', '=', id);
          if (ifVersion !== undefined) q = q.where('version', '=', ifVersion);
          const r = await q.executeTakeFirst();
          if (Number(r.numUpdatedRows) !== 1) {
            if (await t.selectFrom('pii_group').select('id').where('id', '=', id).executeTakeFirst()) throw new RampartError('conflict', 'version mismatch', 'precondition');
            throw notFound();
          }
          await setMembers(t, id, g.members);
        });
      } catch (e) {
        unique(e);
      }
      return load(id);
    },
    async remove(actor, id, ifVersion) {
      await need(actor, 'group.delete', id);
      const g = await load(id);
      if (ifVersion !== undefined && g.version !== ifVersion) throw new RampartError('conflict', 'version mismatch', 'precondition');
      await record(actor, 'group.delete', id, { members: g.members.length });
      await db.deleteFrom('pii_group').where('id', '=', id).execute();
    },
    async ids(actor, term) {
      await need(actor, 'group.read');
      if (term?.attr === 'members') {
        return (await db.selectFrom('pii_group_member').select('group_id as id').where('staff_id', '=', term.value).orderBy('group_id').execute()).map((r) => r.id);
      }
      const rows = await db.selectFrom('pii_group').select(['id', 'display_name', 'external_id']).orderBy('id').execute();
      if (!term) return rows.map((r) => r.id);
      const field = (r: (typeof rows)[number]): string | null => (term.attr === 'id' ? r.id : term.attr === 'displayName' ? r.display_name : r.external_id);
      const v = term.value;
      // displayName is caseExact=false in RFC 7643; externalId and id are case-exact.
      const fold = (x: string): string => (term.attr === 'displayName' ? x.toLowerCase() : x);
      const test = (x: string | null): boolean => {
        if (term.op === 'pr') return x !== null && x !== '';
        if (x === null) return false;
        const a = fold(x);
        const b = fold(v);
        return term.op === 'eq' ? a === b : term.op === 'co' ? a.includes(b) : term.op === 'sw' ? a.startsWith(b) : a.endsWith(b);
      };
      return rows.filter((r) => test(field(r))).map((r) => r.id);
    },
  };
}
