// The staff directory service: staff records with personal fields encrypted
// at rest (envelope encryption, envelope.ts), exact-match lookups through
// blind indexes, masked reads by default, recorded reveals, access
// accounting on every response that carries personal data, crypto-shredding
// after deletion, and online re-wrapping of data keys after KEK rotation.
//
// Modes: "admin" (admin API and CLI: staff.read / staff.write, masked
// output), "scim" (identity providers: scim.provision, clear output, every
// response recorded with purpose "scim") and "import" (CSV: staff.write, no
// personal data in the output).
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { conflict, forbidden, notFound, RampartError, badRequest } from '../lib/errors.ts';
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { dbErrorKind } from '../storage/open.ts';
import type { NoTables } from '../storage/open.ts';
import { accessByPrincipal, accessBySubject, accessContextOf, recordAccess } from './access.ts';
import type { AccessByPrincipal, AccessBySubject, AccessPurpose, AccessQuery } from './access.ts';
import { createBlindIndexer } from './blind-index.ts';
import type { BlindIndexer } from './blind-index.ts';
import { decryptField, encryptField, newDataKey } from './envelope.ts';
import type { KeyWrapper } from './key-provider.ts';
import { maskEmail, maskId, maskName, maskPhone } from './mask.ts';
import { normaliseEmail, normaliseEmployeeNumber, normalisePhone, userNameKey } from './normalise.ts';
import { DIRECTORY_PERMISSIONS as P, REVEAL_REASONS, TICKET_PATTERN } from './permissions.ts';
import type { RevealReason } from './permissions.ts';
import { COLUMN_OF, ENCRYPTED_FIELDS } from './types.ts';
import type { PiiStaffTable, PiiTables, StaffData, StaffRecord, StaffStatus, StaffView } from './types.ts';
import { sameStaff, validateStaff } from './validate.ts';
import type { StaffInput } from './validate.ts';

export type Mode = 'admin' | 'scim' | 'import';

export interface DirectoryDeps {
  db: Kysely<NoTables>;
  keys: KeyWrapper;
  audit: AuditRecorder;
  now?: () => Date;
  newId?: () => string;
  /** How long a deleted person's data key is kept before it is destroyed (default 30 days). */
  retentionMs?: number;
}

export interface StaffQuery {
  after?: string;
  limit: number;
  status?: StaffStatus;
  userName?: string;
  email?: string;
  phone?: string;
  employeeNumber?: string;
  externalId?: string;
  /** SCIM: offset paging (1-based startIndex - 1). */
  offset?: number;
}

export interface StaffPage {
  items: StaffView[];
  next?: string;
  /** Total matching records (SCIM totalResults). */
  total?: number;
}

export type IdTerm =
  | { attr: 'userName' | 'email' | 'phone' | 'employeeNumber'; op: 'eq'; value: string }
  | { attr: 'externalId' | 'id'; op: 'eq' | 'co' | 'sw' | 'ew' | 'pr'; value: string }
  | { attr: 'status'; op: 'eq'; value: 'active' | 'suspended' };

export type ImportOutcome = 'created' | 'updated' | 'unchanged';

export interface StaffDirectory {
  create(actor: Actor, input: StaffInput, mode: Mode): Promise<StaffView>;
  replace(actor: Actor, id: string, input: StaffInput, mode: Mode, ifVersion?: number): Promise<StaffView>;
  remove(actor: Actor, id: string, mode: Mode, ifVersion?: number): Promise<void>;
  get(actor: Actor, id: string, mode: Mode): Promise<StaffView>;
  reveal(actor: Actor, id: string, reason: { reason: string; ticket?: string }): Promise<StaffView>;
  list(actor: Actor, q: StaffQuery, mode: Mode): Promise<StaffPage>;
  /** One transaction: every item applied, or none. Matches by externalId, else userName. */
  upsertMany(actor: Actor, items: StaffData[], opts: { dryRun: boolean }): Promise<Array<{ id: string; outcome: ImportOutcome }>>;
  /** Every live record in clear, for the pii.export job. */
  exportAll(actor: Actor): AsyncIterable<StaffRecord>;
  accessByPrincipal(actor: Actor, q: AccessQuery & { principal: string }): Promise<AccessByPrincipal>;
  accessBySubject(actor: Actor, q: AccessQuery & { staffId: string }): Promise<AccessBySubject>;
  /** Destroys the data keys of records deleted longer ago than the retention; returns how many. */
  shredDue(): Promise<number>;
  /** Re-wraps data keys (and the blind-index key) not wrapped by the active KEK version; resumable, idempotent. */
  rewrap(opts?: { batch?: number }): Promise<number>;
  /** Live staff ids matching one filter term (SCIM filtering): encrypted attributes by exact match (blind index) only. */
  idsWhere(actor: Actor, term: IdTerm): Promise<string[]>;
  /** Records by id in the given order (missing ones skipped), recorded like a list. */
  getMany(actor: Actor, ids: string[], mode: Mode): Promise<StaffView[]>;
  /** Staff ids linked to a device (for the device view). */
  staffForDevice(deviceId: string): Promise<string[]>;
  /** Whether a staff record with this id exists and is not deleted (no personal data read, no access row). */
  exists(id: string): Promise<boolean>;
}

export const DIRECTORY_AAD_BLIND_KEY = 'blind-index-key';
const DAY = 86_400_000;

type Db = Kysely<PiiTables> | Transaction<PiiTables>;
type Row = PiiStaffTable;

const iso = (v: string | Date): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());
const bytes = (v: Uint8Array): Uint8Array => (Buffer.isBuffer(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v);

async function loadBlindKey(db: Kysely<PiiTables>, keys: KeyWrapper, now: Date): Promise<Uint8Array> {
  const read = async (): Promise<Uint8Array | undefined> => {
    const r = await db.selectFrom('pii_key').select('wrapped').where('name', '=', 'blind-index').executeTakeFirst();
    return r ? keys.unwrap(bytes(r.wrapped), DIRECTORY_AAD_BLIND_KEY) : undefined;
  };
  const existing = await read();
  if (existing) return existing;
  const fresh = new Uint8Array(randomBytes(32));
  await db.insertInto('pii_key')
    .values({ name: 'blind-index', wrapped: keys.wrap(fresh, DIRECTORY_AAD_BLIND_KEY), created_at: now.toISOString() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const stored = await read();
  if (!stored) throw new RampartError('internal', 'blind index key missing');
  return stored;
}

export async function openDirectory(deps: DirectoryDeps): Promise<StaffDirectory> {
  const db = deps.db.withTables<PiiTables>() as unknown as Kysely<PiiTables>;
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const retentionMs = deps.retentionMs ?? 30 * DAY;
  const keys = deps.keys;
  const bidx: BlindIndexer = createBlindIndexer(await loadBlindKey(db, keys, now()));

  async function auditEvent(actor: Actor, action: string, outcome: 'success' | 'denied' | 'failure', target?: string, details?: Record<string, JsonValue>): Promise<void> {
    await deps.audit.record({
      action,
      actor: { type: actor.type, id: actor.id },
      ...(actor.source !== undefined ? { source: actor.source } : {}),
      ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
      ...(target !== undefined ? { target: { type: 'staff', id: target } } : {}),
      outcome,
      ...(details ? { details } : {}),
    });
  }

  async function need(actor: Actor, permission: string, action: string, target?: string): Promise<void> {
    if (hasPermission(actor, permission)) return;
    await auditEvent(actor, action, 'denied', target, { permission });
    throw forbidden('forbidden', `missing permission ${permission}`);
  }

  const readPerm = (mode: Mode): string => (mode === 'scim' ? P.scimProvision : P.staffRead);
  const writePerm = (mode: Mode): string => (mode === 'scim' ? P.scimProvision : P.staffWrite);

  function indexes(d: StaffData): Pick<Row, 'user_name_bidx' | 'email_bidx' | 'employee_bidx'> {
    return {
      user_name_bidx: bidx.index('userName', userNameKey(d.userName)),
      email_bidx: d.email !== null ? bidx.index('email', d.email) : null,
      employee_bidx: d.employeeNumber !== null ? bidx.index('employeeNumber', d.employeeNumber) : null,
    };
  }

  function sealed(id: string, d: StaffData): Partial<Row> {
    const dek = newDataKey();
    try {
      const out: Partial<Row> = { data_key: keys.wrap(dek, id), kek_version: keys.activeVersion(), ...indexes(d) };
      for (const f of ENCRYPTED_FIELDS) {
        const v = f === 'phones' ? (d.phones.length > 0 ? JSON.stringify(d.phones) : null) : d[f];
        (out as Record<string, unknown>)[COLUMN_OF[f]] = v === null ? null : encryptField(dek, id, f, v);
      }
      return out;
    } finally {
      dek.fill(0);
    }
  }

  function opened(row: Row, links: { devices: string[]; invitations: string[] }): StaffRecord {
    if (row.data_key === null) throw new RampartError('gone', 'staff record was deleted', 'data key destroyed');
    const dek = keys.unwrap(bytes(row.data_key), row.id);
    try {
      const get = (f: (typeof ENCRYPTED_FIELDS)[number]): string | null => {
        const c = row[COLUMN_OF[f]] as Uint8Array | null;
        return c === null ? null : decryptField(dek, row.id, f, bytes(c));
      };
      const phones = get('phones');
      return {
        id: row.id,
        externalId: row.external_id,
        status: row.status,
        userName: get('userName') ?? '',
        displayName: get('displayName'),
        givenName: get('givenName'),
        familyName: get('familyName'),
        email: get('email'),
        phones: phones === null ? [] : (JSON.parse(phones) as string[]),
        department: get('department'),
        employeeNumber: get('employeeNumber'),
        deviceIds: links.devices,
        invitationIds: links.invitations,
        version: Number(row.version),
        createdAt: iso(row.created_at),
        updatedAt: iso(row.updated_at),
      };
    } finally {
      dek.fill(0);
    }
  }

  async function linksFor(t: Db, ids: string[]): Promise<Map<string, { devices: string[]; invitations: string[] }>> {
    const m = new Map(ids.map((id) => [id, { devices: [] as string[], invitations: [] as string[] }]));
    if (ids.length === 0) return m;
    for (const r of await t.selectFrom('pii_staff_device').select(['staff_id', 'device_id']).where('staff_id', 'in', ids).orderBy('device_id').execute()) m.get(r.staff_id)?.devices.push(r.device_id);
    for (const r of await t.selectFrom('pii_staff_invitation').select(['staff_id', 'invitation_id']).where('staff_id', 'in', ids).orderBy('invitation_id').execute()) m.get(r.staff_id)?.invitations.push(r.invitation_id);
    return m;
  }

  async function openRows(t: Db, rows: Row[]): Promise<StaffRecord[]> {
    const links = await linksFor(t, rows.map((r) => r.id));
    return rows.map((r) => opened(r, links.get(r.id) ?? { devices: [], invitations: [] }));
  }

  function mask(r: StaffRecord): StaffView {
    return {
      ...r,
      userName: (r.userName.includes('@') ? maskEmail(r.userName) : maskName(r.userName)) ?? '',
      displayName: maskName(r.displayName),
      givenName: maskName(r.givenName),
      familyName: maskName(r.familyName),
      email: maskEmail(r.email),
      phones: r.phones.map((p) => maskPhone(p) ?? ''),
      department: maskName(r.department),
      employeeNumber: maskId(r.employeeNumber),
      masked: true,
    };
  }
  const clear = (r: StaffRecord): StaffView => ({ ...r, masked: false });
  const viewFor = (mode: Mode, r: StaffRecord): StaffView => (mode === 'scim' ? clear(r) : mask(r));

  /**
   * Puts a response carrying personal data on record: one audit event per
   * response (counts only; reveals, writes and exports have their own event),
   * then one access row per person.
   */
  async function account(t: Db, actor: Actor, purpose: AccessPurpose, revealed: boolean, ids: string[], audited = true): Promise<void> {
    if (ids.length === 0) return;
    if (audited && purpose !== 'reveal' && purpose !== 'write' && purpose !== 'export') {
      await auditEvent(actor, 'pii.read', 'success', ids.length === 1 ? ids[0] : undefined, { purpose, subjects: ids.length, revealed });
    }
    await recordAccess(t, accessContextOf(actor), purpose, revealed, ids, now());
  }

  async function writeLinks(t: Db, id: string, d: StaffData): Promise<void> {
    await t.deleteFrom('pii_staff_phone').where('staff_id', '=', id).execute();
    await t.deleteFrom('pii_staff_device').where('staff_id', '=', id).execute();
    await t.deleteFrom('pii_staff_invitation').where('staff_id', '=', id).execute();
    if (d.phones.length > 0) await t.insertInto('pii_staff_phone').values(d.phones.map((p) => ({ bidx: bidx.index('phone', p), staff_id: id }))).execute();
    if (d.deviceIds.length > 0) await t.insertInto('pii_staff_device').values(d.deviceIds.map((device_id) => ({ staff_id: id, device_id }))).execute();
    if (d.invitationIds.length > 0) await t.insertInto('pii_staff_invitation').values(d.invitationIds.map((invitation_id) => ({ staff_id: id, invitation_id }))).execute();
  }

  function mapConflict(e: unknown): never {
    if (dbErrorKind(e) === 'unique') throw conflict('userName or externalId already exists');
    throw e;
  }

  async function insertRow(t: Db, id: string, d: StaffData, at: string): Promise<void> {
    await t.insertInto('pii_staff').values({
      id,
      external_id: d.externalId,
      status: d.status,
      ...sealed(id, d),
      version: 1,
      created_at: at,
      updated_at: at,
      deleted_at: null,
      shred_after: null,
      shredded_at: null,
    } as Row).execute();
    await writeLinks(t, id, d);
  }

  /** Returns false when the row is gone or its version moved on. */
  async function updateRow(t: Db, id: string, d: StaffData, at: string, ifVersion?: number): Promise<boolean> {
    let q = t.updateTable('pii_staff')
      .set({ external_id: d.externalId, status: d.status, ...sealed(id, d), version: sql<number>`version + 1`, updated_at: at } as never)
      .where('id', '=', id)
      .where('status', '<>', 'deleted');
    if (ifVersion !== undefined) q = q.where('version', '=', ifVersion);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    await writeLinks(t, id, d);
    return true;
  }

  async function liveRow(t: Db, id: string): Promise<Row | undefined> {
    return t.selectFrom('pii_staff').selectAll().where('id', '=', id).where('status', '<>', 'deleted').executeTakeFirst() as Promise<Row | undefined>;
  }

  async function matchIds(t: Db, q: StaffQuery): Promise<string[] | null> {
    // Exact-match lookups through blind indexes; null means "no index filter".
    let ids: string[] | null = null;
    const narrow = (found: string[]): void => {
      ids = ids === null ? found : ids.filter((x) => found.includes(x));
    };
    if (q.userName !== undefined) {
      narrow((await t.selectFrom('pii_staff').select('id').where('user_name_bidx', '=', bidx.index('userName', userNameKey(q.userName))).execute()).map((r) => r.id));
    }
    if (q.email !== undefined) {
      let e: string;
      try {
        e = normaliseEmail(q.email);
      } catch {
        return [];
      }
      narrow((await t.selectFrom('pii_staff').select('id').where('email_bidx', '=', bidx.index('email', e)).execute()).map((r) => r.id));
    }
    if (q.phone !== undefined) {
      let p: string;
      try {
        p = normalisePhone(q.phone);
      } catch {
        return [];
      }
      narrow((await t.selectFrom('pii_staff_phone').select('staff_id as id').where('bidx', '=', bidx.index('phone', p)).execute()).map((r) => r.id));
    }
    if (q.employeeNumber !== undefined) {
      let n: string;
      try {
        n = normaliseEmployeeNumber(q.employeeNumber);
      } catch {
        return [];
      }
      narrow((await t.selectFrom('pii_staff').select('id').where('employee_bidx', '=', bidx.index('employeeNumber', n)).execute()).map((r) => r.id));
    }
    return ids;
  }

  async function findExisting(t: Db, d: StaffData): Promise<Row | undefined> {
    if (d.externalId !== null) {
      const r = await t.selectFrom('pii_staff').selectAll().where('external_id', '=', d.externalId).where('status', '<>', 'deleted').executeTakeFirst();
      if (r) return r as Row;
    }
    return t.selectFrom('pii_staff').selectAll().where('user_name_bidx', '=', bidx.index('userName', userNameKey(d.userName))).where('status', '<>', 'deleted').executeTakeFirst() as Promise<Row | undefined>;
  }

  const fieldsSet = (d: StaffData): JsonValue => ENCRYPTED_FIELDS.filter((f) => (f === 'phones' ? d.phones.length > 0 : d[f] !== null));

  const dir: StaffDirectory = {
    async create(actor, input, mode) {
      await need(actor, writePerm(mode), 'staff.create');
      const d = validateStaff(input);
      const id = newId();
      await auditEvent(actor, 'staff.create', 'success', id, { via: mode, fields: fieldsSet(d), devices: d.deviceIds.length });
      const at = now().toISOString();
      try {
        return await db.transaction().execute(async (t) => {
          await insertRow(t, id, d, at);
          const [rec] = await openRows(t, [(await liveRow(t, id)) as Row]);
          await account(t, actor, mode === 'scim' ? 'scim' : 'write', mode === 'scim', [id], false);
          return viewFor(mode, rec as StaffRecord);
        });
      } catch (e) {
        return mapConflict(e);
      }
    },

    async replace(actor, id, input, mode, ifVersion) {
      await need(actor, writePerm(mode), 'staff.update', id);
      const d = validateStaff(input);
      await auditEvent(actor, 'staff.update', 'success', id, { via: mode, fields: fieldsSet(d), devices: d.deviceIds.length });
      const at = now().toISOString();
      try {
        return await db.transaction().execute(async (t) => {
          if (!(await updateRow(t, id, d, at, ifVersion))) {
            const row = await liveRow(t, id);
            if (!row) throw notFound();
            throw new RampartError('conflict', 'version mismatch', 'precondition');
          }
          const [rec] = await openRows(t, [(await liveRow(t, id)) as Row]);
          await account(t, actor, mode === 'scim' ? 'scim' : 'write', mode === 'scim', [id], false);
          return viewFor(mode, rec as StaffRecord);
        });
      } catch (e) {
        return mapConflict(e);
      }
    },

    async remove(actor, id, mode, ifVersion) {
      await need(actor, writePerm(mode), 'staff.delete', id);
      const row = await liveRow(db, id);
      if (!row) throw notFound();
      if (ifVersion !== undefined && Number(row.version) !== ifVersion) throw new RampartError('conflict', 'version mismatch', 'precondition');
      const at = now();
      const shredAfter = new Date(at.getTime() + retentionMs).toISOString();
      await auditEvent(actor, 'staff.delete', 'success', id, { via: mode, shredAfter });
      await db.transaction().execute(async (t) => {
        // Unique identifiers and lookups go now; the data key goes after the retention.
        await t.updateTable('pii_staff')
          .set({ status: 'deleted', external_id: null, user_name_bidx: null, email_bidx: null, employee_bidx: null, deleted_at: at.toISOString(), shred_after: shredAfter, updated_at: at.toISOString(), version: sql<number>`version + 1` } as never)
          .where('id', '=', id)
          .execute();
        await t.deleteFrom('pii_staff_phone').where('staff_id', '=', id).execute();
        await t.deleteFrom('pii_group_member').where('staff_id', '=', id).execute();
      });
    },

    async get(actor, id, mode) {
      await need(actor, readPerm(mode), mode === 'scim' ? 'scim.read' : 'staff.read', id);
      const row = await liveRow(db, id);
      if (!row) throw notFound();
      const [rec] = await openRows(db, [row]);
      await account(db, actor, mode === 'scim' ? 'scim' : 'detail', mode === 'scim', [id]);
      return viewFor(mode, rec as StaffRecord);
    },

    async reveal(actor, id, r) {
      await need(actor, P.piiReveal, 'pii.reveal', id);
      if (!(REVEAL_REASONS as readonly string[]).includes(r.reason)) throw badRequest('invalid reason');
      if (r.ticket !== undefined && !new RegExp(TICKET_PATTERN).test(r.ticket)) throw badRequest('invalid ticket');
      const row = await liveRow(db, id);
      if (!row) throw notFound();
      const [rec] = await openRows(db, [row]);
      // On record before the data leaves: the audit entry, then the access row.
      await auditEvent(actor, 'pii.reveal', 'success', id, { reason: r.reason as RevealReason, ...(r.ticket !== undefined ? { ticket: r.ticket } : {}) });
      await account(db, actor, 'reveal', true, [id]);
      return clear(rec as StaffRecord);
    },

    async list(actor, q, mode) {
      await need(actor, readPerm(mode), mode === 'scim' ? 'scim.read' : 'staff.read');
      const limit = Math.max(0, Math.min(q.limit, 1000));
      const ids = await matchIds(db, q);
      if (ids !== null && ids.length === 0) return { items: [], ...(q.offset !== undefined ? { total: 0 } : {}) };
      let base = db.selectFrom('pii_staff').where('status', q.status !== undefined ? '=' : '<>', q.status ?? 'deleted');
      if (q.status === 'deleted') throw badRequest('invalid status');
      if (ids !== null) base = base.where('id', 'in', ids);
      if (q.externalId !== undefined) base = base.where('external_id', '=', q.externalId);
      let total: number | undefined;
      if (q.offset !== undefined) total = Number((await base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);
      let sel = base.selectAll().orderBy('id').limit(limit + 1);
      if (q.after !== undefined) sel = sel.where('id', '>', q.after);
      if (q.offset !== undefined && q.offset > 0) sel = sel.offset(q.offset);
      const rows = (await sel.execute()) as Row[];
      const page = rows.slice(0, limit);
      const recs = await openRows(db, page);
      const purpose: AccessPurpose = mode === 'scim' ? 'scim' : ids !== null ? 'lookup' : 'list';
      await account(db, actor, purpose, mode === 'scim', recs.map((r) => r.id));
      const out: StaffPage = { items: recs.map((r) => viewFor(mode, r)) };
      if (rows.length > limit && page.length > 0 && q.offset === undefined) out.next = (page[page.length - 1] as Row).id;
      if (total !== undefined) out.total = total;
      return out;
    },

    async upsertMany(actor, items, opts) {
      await need(actor, P.staffWrite, 'staff.import');
      const at = now().toISOString();
      const plan: Array<{ id: string; outcome: ImportOutcome; data: StaffData; version?: number }> = [];
      await auditEvent(actor, 'staff.import', 'success', undefined, { rows: items.length, dryRun: opts.dryRun });
      const marker = new Error('dry run');
      try {
        await db.transaction().execute(async (t) => {
          for (const d of items) {
            const row = await findExisting(t, d);
            if (!row) {
              const id = newId();
              await insertRow(t, id, d, at);
              plan.push({ id, outcome: 'created', data: d });
              continue;
            }
            const [cur] = await openRows(t, [row]);
            const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...rest } = cur as StaffRecord;
            if (sameStaff(rest as StaffData, d)) {
              plan.push({ id: row.id, outcome: 'unchanged', data: d });
              continue;
            }
            await updateRow(t, row.id, d, at);
            plan.push({ id: row.id, outcome: 'updated', data: d });
          }
          if (opts.dryRun) throw marker;
        });
      } catch (e) {
        if (e !== marker) return mapConflict(e);
      }
      return plan.map((p) => ({ id: p.id, outcome: p.outcome }));
    },

    async *exportAll(actor) {
      await need(actor, P.piiExport, 'pii.export');
      let after = '';
      for (;;) {
        const rows = (await db.selectFrom('pii_staff').selectAll().where('status', '<>', 'deleted').where('id', '>', after).orderBy('id').limit(500).execute()) as Row[];
        if (rows.length === 0) return;
        const recs = await openRows(db, rows);
        await account(db, actor, 'export', true, recs.map((r) => r.id));
        yield* recs;
        after = (rows[rows.length - 1] as Row).id;
      }
    },

    async accessByPrincipal(actor, q) {
      await need(actor, P.piiAccessRead, 'pii.access.read');
      return accessByPrincipal(db, q);
    },

    async accessBySubject(actor, q) {
      await need(actor, P.piiAccessRead, 'pii.access.read');
      return accessBySubject(db, q);
    },

    async shredDue() {
      const at = now().toISOString();
      const due = await db.selectFrom('pii_staff').select('id').where('status', '=', 'deleted').where('shred_after', '<=', at).where('data_key', 'is not', null).execute();
      let n = 0;
      for (const { id } of due) {
        await deps.audit.record({ action: 'staff.shred', actor: { type: 'system', id: 'rampart' }, target: { type: 'staff', id }, outcome: 'success' });
        await db.transaction().execute(async (t) => {
          await t.updateTable('pii_staff').set({ data_key: null, kek_version: null, shredded_at: at } as never).where('id', '=', id).execute();
          await t.deleteFrom('pii_staff_device').where('staff_id', '=', id).execute();
          await t.deleteFrom('pii_staff_invitation').where('staff_id', '=', id).execute();
        });
        n++;
      }
      return n;
    },

    async rewrap(opts = {}) {
      const batch = opts.batch ?? 500;
      const active = keys.activeVersion();
      let n = 0;
      const k = await db.selectFrom('pii_key').select('wrapped').where('name', '=', 'blind-index').executeTakeFirst();
      if (k && keys.versionOf(bytes(k.wrapped)) !== active) {
        const plain = keys.unwrap(bytes(k.wrapped), DIRECTORY_AAD_BLIND_KEY);
        await db.updateTable('pii_key').set({ wrapped: keys.wrap(plain, DIRECTORY_AAD_BLIND_KEY) }).where('name', '=', 'blind-index').where('wrapped', '=', k.wrapped).execute();
        plain.fill(0);
      }
      let after = '';
      for (;;) {
        const rows = await db.selectFrom('pii_staff').select(['id', 'data_key', 'kek_version'])
          .where('data_key', 'is not', null).where('kek_version', '<>', active).where('id', '>', after)
          .orderBy('id').limit(batch).execute();
        if (rows.length === 0) return n;
        for (const r of rows) {
          const old = bytes(r.data_key as Uint8Array);
          const dek = keys.unwrap(old, r.id);
          const wrapped = keys.wrap(dek, r.id);
          dek.fill(0);
          // Compare-and-set on the old wrapped key: a concurrent write (new data key) wins.
          const u = await db.updateTable('pii_staff').set({ data_key: wrapped, kek_version: active }).where('id', '=', r.id).where('data_key', '=', old).executeTakeFirst();
          n += Number(u.numUpdatedRows);
        }
        after = (rows[rows.length - 1] as { id: string }).id;
      }
    },

    async idsWhere(actor, term) {
      await need(actor, P.scimProvision, 'scim.read');
      if (term.attr === 'userName' || term.attr === 'email' || term.attr === 'phone' || term.attr === 'employeeNumber') {
        return (await matchIds(db, { limit: 0, [term.attr]: term.value })) ?? [];
      }
      let q = db.selectFrom('pii_staff').select(['id', 'external_id']).where('status', '<>', 'deleted');
      if (term.attr === 'status') q = q.where('status', '=', term.value);
      else if (term.op === 'eq') q = q.where(term.attr === 'id' ? 'id' : 'external_id', '=', term.value);
      else if (term.attr === 'externalId') q = q.where('external_id', 'is not', null);
      if (term.attr !== 'status' && (term.op === 'co' || term.op === 'sw' || term.op === 'ew')) {
        // Case-exact substring tests, the same on both backends (LIKE is not).
        const v = term.value;
        const test = term.op === 'co' ? (x: string) => x.includes(v) : term.op === 'sw' ? (x: string) => x.startsWith(v) : (x: string) => x.endsWith(v);
        const rows = await q.orderBy('id').execute();
        return rows.filter((r) => test(term.attr === 'id' ? r.id : (r.external_id ?? ''))).slice(0, 100_000).map((r) => r.id);
      }
      return (await q.orderBy('id').limit(100_000).execute()).map((r) => r.id);
    },

    async getMany(actor, ids, mode) {
      await need(actor, readPerm(mode), mode === 'scim' ? 'scim.read' : 'staff.read');
      if (ids.length === 0) return [];
      if (ids.length > 1000) throw badRequest('too many ids');
      const rows = (await db.selectFrom('pii_staff').selectAll().where('id', 'in', ids).where('status', '<>', 'deleted').execute()) as Row[];
      const byId = new Map((await openRows(db, rows)).map((r) => [r.id, r]));
      const recs = ids.map((id) => byId.get(id)).filter((r): r is StaffRecord => r !== undefined);
      await account(db, actor, mode === 'scim' ? 'scim' : 'list', mode === 'scim', recs.map((r) => r.id));
      return recs.map((r) => viewFor(mode, r));
    },

    async exists(id) {
      const row = await db.selectFrom('pii_staff').select('id').where('id', '=', id).where('status', '<>', 'deleted').executeTakeFirst();
      return row !== undefined;
    },

    async staffForDevice(deviceId) {
      return (await db.selectFrom('pii_staff_device').select('staff_id').where('device_id', '=', deviceId).execute()).map((r) => r.staff_id);
    },
  };
  return dir;
}
