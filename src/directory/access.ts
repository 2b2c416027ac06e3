// Access accounting: which data subjects (staff ids) each response carried,
// to whom, when and from where. Append-only table (triggers refuse UPDATE
// and DELETE), one row per subject per response; the covering index
// (principal, at, staff_id) answers "whom did X see since T" without
// touching the table, and (staff_id, at) answers "who saw Y".
import { sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';
import type { Actor } from '../services/types.ts';
import type { PiiTables } from './types.ts';

export type AccessPurpose = 'list' | 'detail' | 'lookup' | 'reveal' | 'write' | 'scim' | 'import' | 'export';

/** Optional fields the admin plane may add to an Actor (sessions, the principal behind a token). */
type ActorExtras = { principalId?: string; sessionId?: string; tokenId?: string };

export interface AccessContext {
  principal: string;
  actorType: string;
  tokenId: string | null;
  sessionId: string | null;
  source: string | null;
  requestId: string | null;
}

export function accessContextOf(actor: Actor): AccessContext {
  const x = actor as Actor & ActorExtras;
  return {
    principal: x.principalId ?? actor.id,
    actorType: actor.type,
    tokenId: x.tokenId ?? (actor.type === 'token' ? actor.id : null),
    sessionId: x.sessionId ?? null,
    source: actor.source ?? null,
    requestId: actor.requestId ?? null,
  };
}

const CHUNK = 400;

export async function recordAccess(
  db: Kysely<PiiTables> | Transaction<PiiTables>,
  ctx: AccessContext,
  purpose: AccessPurpose,
  revealed: boolean,
  staffIds: readonly string[],
  at: Date,
): Promise<void> {
  const ids = [...new Set(staffIds)];
  for (let i = 0; i < ids.length; i += CHUNK) {
    await db.insertInto('pii_access').values(ids.slice(i, i + CHUNK).map((staff_id) => ({
      at: at.getTime(),
      principal: ctx.principal,
      actor_type: ctx.actorType,
      token_id: ctx.tokenId,
      session_id: ctx.sessionId,
      source: ctx.source,
      request_id: ctx.requestId,
      purpose,
      revealed: revealed ? 1 : 0,
      staff_id,
    }))).execute();
  }
}

export interface AccessQuery {
  principal?: string;
  staffId?: string;
  since: Date;
  until?: Date;
  /** Page of distinct staff ids (principal queries) after this id. */
  after?: string;
  limit: number;
}

export interface AccessByPrincipal {
  principal: string;
  since: string;
  until: string | null;
  /** Responses x subjects recorded. */
  reads: number;
  /** Distinct people exposed (masked or revealed). */
  subjects: number;
  /** Distinct people whose data was revealed in clear. */
  revealedSubjects: number;
  staffIds: string[];
  next?: string;
}

export interface AccessBySubject {
  staffId: string;
  since: string;
  until: string | null;
  principals: Array<{ principal: string; reads: number; revealed: number; lastAt: string }>;
}

const n = (v: unknown): number => Number(v ?? 0);

export async function accessByPrincipal(db: Kysely<PiiTables>, q: AccessQuery & { principal: string }): Promise<AccessByPrincipal> {
  const since = q.since.getTime();
  const until = q.until?.getTime() ?? Number.MAX_SAFE_INTEGER;
  const base = db.selectFrom('pii_access').where('principal', '=', q.principal).where('at', '>=', since).where('at', '<', until);
  const counts = await base
    .select([
      sql<number>`count(*)`.as('reads'),
      sql<number>`count(distinct staff_id)`.as('subjects'),
      sql<number>`count(distinct case when revealed = 1 then staff_id end)`.as('revealed'),
    ])
    .executeTakeFirstOrThrow();
  let page = base.select('staff_id').distinct().orderBy('staff_id').limit(q.limit + 1);
  if (q.after !== undefined) page = page.where('staff_id', '>', q.after);
  const rows = await page.execute();
  const ids = rows.slice(0, q.limit).map((r) => r.staff_id);
  const out: AccessByPrincipal = {
    principal: q.principal,
    since: q.since.toISOString(),
    until: q.until ? q.until.toISOString() : null,
    reads: n(counts.reads),
    subjects: n(counts.subjects),
    revealedSubjects: n(counts.revealed),
    staffIds: ids,
  };
  if (rows.length > q.limit && ids.length > 0) out.next = ids[ids.length - 1] as string;
  return out;
}

export async function accessBySubject(db: Kysely<PiiTables>, q: AccessQuery & { staffId: string }): Promise<AccessBySubject> {
  const since = q.since.getTime();
  const until = q.until?.getTime() ?? Number.MAX_SAFE_INTEGER;
  const rows = await db
    .selectFrom('pii_access')
    .where('staff_id', '=', q.staffId)
    .where('at', '>=', since)
    .where('at', '<', until)
    .select(['principal', sql<number>`count(*)`.as('reads'), sql<number>`sum(revealed)`.as('revealed'), sql<number>`max(at)`.as('last')])
    .groupBy('principal')
    .orderBy('principal')
    .limit(q.limit)
    .execute();
  return {
    staffId: q.staffId,
    since: q.since.toISOString(),
    until: q.until ? q.until.toISOString() : null,
    principals: rows.map((r) => ({ principal: r.principal, reads: n(r.reads), revealed: n(r.revealed), lastAt: new Date(n(r.last)).toISOString() })),
  };
}
