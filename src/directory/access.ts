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

/** Appends one row per subject and updates the per-(principal, subject) summary, in one transaction. */
export async function recordAccess(
  db: Kysely<PiiTables> | Transaction<PiiTables>,
  ctx: AccessContext,
  purpose: AccessPurpose,
  revealed: boolean,
  staffIds: readonly string[],
  at: Date,
): Promise<void> {
  const ids = [...new Set(staffIds)].sort();
  if (ids.length === 0) return;
  if (!db.isTransaction) {
    await db.transaction().execute((t) => recordAccess(t, ctx, purpose, revealed, ids, at));
    return;
  }
  const ms = at.getTime();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    await db.insertInto('pii_access_subject')
      .values(chunk.map((staff_id) => ({ principal: ctx.principal, staff_id, first_at: ms, last_at: ms, reads: 1, last_revealed_at: revealed ? ms : null })))
      .onConflict((oc) => oc.columns(['principal', 'staff_id']).doUpdateSet({
        last_at: sql`case when excluded.last_at > pii_access_subject.last_at then excluded.last_at else pii_access_subject.last_at end`,
        reads: sql`pii_access_subject.reads + 1`,
        last_revealed_at: sql`coalesce(excluded.last_revealed_at, pii_access_subject.last_revealed_at)`,
      }))
      .execute();
    await db.insertInto('pii_access').values(chunk.map((staff_id) => ({
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

/** Rebuilds pii_access_subject from the append-only log (after a restore, or to check it). */
export async function rebuildAccessSummary(db: Kysely<PiiTables>): Promise<void> {
  await db.transaction().execute(async (t) => {
    await t.deleteFrom('pii_access_subject').execute();
    await sql`insert into pii_access_subject (principal, staff_id, first_at, last_at, reads, last_revealed_at)
      select principal, staff_id, min(at), max(at), count(*), max(case when revealed = 1 then at end)
      from pii_access group by principal, staff_id`.execute(t);
  });
}

export async function accessByPrincipal(db: Kysely<PiiTables>, q: AccessQuery & { principal: string }): Promise<AccessByPrincipal> {
  if (q.until === undefined) return accessSince(db, q);
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
  return principalPage(q, { reads: counts.reads, subjects: counts.subjects, revealed: counts.revealed }, rows);
}

/** The answer for one principal: counts, then one page of staff ids (rows holds one more than the page when there is a next). */
function principalPage(
  q: AccessQuery & { principal: string },
  counts: { reads: unknown; subjects: unknown; revealed: unknown },
  rows: readonly { staff_id: string }[],
): AccessByPrincipal {
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

/** Open-ended "since T": people from the summary (a person was seen since T iff their last access is), reads from the log's index. */
async function accessSince(db: Kysely<PiiTables>, q: AccessQuery & { principal: string }): Promise<AccessByPrincipal> {
  const since = q.since.getTime();
  const reads = await db.selectFrom('pii_access').where('principal', '=', q.principal).where('at', '>=', since).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const people = db.selectFrom('pii_access_subject').where('principal', '=', q.principal);
  const subjects = await people.where('last_at', '>=', since).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const revealed = await people.where('last_revealed_at', '>=', since).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  let page = people.where('last_at', '>=', since).select('staff_id').orderBy('staff_id').limit(q.limit + 1);
  if (q.after !== undefined) page = page.where('staff_id', '>', q.after);
  const rows = await page.execute();
  return principalPage({ ...q, until: undefined }, { reads: reads.n, subjects: subjects.n, revealed: revealed.n }, rows);
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
