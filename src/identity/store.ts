// The identity tables: their own module migrations ("rampart_identity_migration")
// and one Kysely implementation of IdentityStore for SQLite and PostgreSQL.
// Secrets are never stored: sessions, tickets, one-time values and recovery
// codes by SHA-256 only; TOTP secrets sealed with the core's key-encryption key.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnTypes, strict } from '../storage/open.ts';
import type { NoTables, OpenedStorage, StorageBackend } from '../storage/open.ts';
import { isoOut, isoOutOrNull, numOut, bytesOut } from '../storage/sql/map.ts';
import type {
  IdentityAccount,
  IdentityStore,
  LoginTicket,
  OneTimeValue,
  SessionRecord,
  ThrottleState,
  TotpFactor,
  WebAuthnCredential,
} from './types.ts';

export const IDENTITY_MIGRATION_TABLE = 'rampart_identity_migration';

type TimeCol = string | Date;
type IntCol = number | string | bigint;

type IdentityTables = {
  admins: { id: string; disabled_at: TimeCol | null };
  identity_accounts: {
    admin_id: string;
    password_hash: string | null;
    password_changed_at: TimeCol | null;
    break_glass: IntCol;
    oidc_issuer: string | null;
    oidc_subject: string | null;
    created_at: TimeCol;
  };
  identity_totp: { admin_id: string; secret_sealed: Uint8Array; confirmed_at: TimeCol | null; last_step: IntCol };
  identity_webauthn: {
    id: string;
    admin_id: string;
    public_key: Uint8Array;
    counter: IntCol;
    transports: string;
    name: string;
    created_at: TimeCol;
    last_used_at: TimeCol | null;
  };
  identity_recovery_codes: { code_hash: string; admin_id: string; created_at: TimeCol; used_at: TimeCol | null };
  identity_sessions: {
    id_hash: string;
    handle: string;
    admin_id: string;
    kind: string;
    created_at: TimeCol;
    last_seen_at: TimeCol;
    absolute_expires_at: TimeCol;
    mfa_at: TimeCol;
    source: string | null;
    revoked_at: TimeCol | null;
  };
  identity_tickets: {
    id_hash: string;
    admin_id: string;
    stage: string;
    kind: string;
    attempts: IntCol;
    source: string | null;
    expires_at: TimeCol;
    needs_password: IntCol;
  };
  identity_one_time: { id_hash: string; purpose: string; admin_id: string | null; data: string; expires_at: TimeCol };
  identity_throttle: { key: string; failures: IntCol; window_start: TimeCol; locked_until: TimeCol | null };
  identity_known_sources: { admin_id: string; source_hash: string; last_success_at: TimeCol };
};

type Db = Kysely<IdentityTables>;

export function identityMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_identity': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('identity_accounts')
          .addColumn('admin_id', 'text', (c) => c.primaryKey())
          .addColumn('password_hash', 'text')
          .addColumn('password_changed_at', t.time)
          .addColumn('break_glass', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('oidc_issuer', 'text')
          .addColumn('oidc_subject', 'text')
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addUniqueConstraint('identity_accounts_oidc_uq', ['oidc_issuer', 'oidc_subject'])).execute();
        await strict(backend, db.schema.createTable('identity_totp')
          .addColumn('admin_id', 'text', (c) => c.primaryKey())
          .addColumn('secret_sealed', t.blob, (c) => c.notNull())
          .addColumn('confirmed_at', t.time)
          .addColumn('last_step', t.bigint, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('identity_webauthn')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('public_key', t.blob, (c) => c.notNull())
          .addColumn('counter', t.bigint, (c) => c.notNull())
          .addColumn('transports', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('last_used_at', t.time)).execute();
        await db.schema.createIndex('identity_webauthn_admin_idx').on('identity_webauthn').column('admin_id').execute();
        await strict(backend, db.schema.createTable('identity_recovery_codes')
          .addColumn('code_hash', 'text', (c) => c.primaryKey())
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('used_at', t.time)).execute();
        await db.schema.createIndex('identity_recovery_admin_idx').on('identity_recovery_codes').column('admin_id').execute();
        await strict(backend, db.schema.createTable('identity_sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('handle', 'text', (c) => c.notNull().unique())
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('browser', 'cli')`))
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('last_seen_at', t.time, (c) => c.notNull())
          .addColumn('absolute_expires_at', t.time, (c) => c.notNull())
          .addColumn('mfa_at', t.time, (c) => c.notNull())
          .addColumn('source', 'text')
          .addColumn('revoked_at', t.time)).execute();
        await db.schema.createIndex('identity_sessions_admin_idx').on('identity_sessions').column('admin_id').execute();
        await strict(backend, db.schema.createTable('identity_tickets')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('stage', 'text', (c) => c.notNull().check(sql`stage in ('mfa', 'enroll')`))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('attempts', t.int, (c) => c.notNull())
          .addColumn('source', 'text')
          .addColumn('expires_at', t.time, (c) => c.notNull())
          .addColumn('needs_password', t.int, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('identity_one_time')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('purpose', 'text', (c) => c.notNull())
          .addColumn('admin_id', 'text')
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('expires_at', t.time, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('identity_throttle')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('failures', t.int, (c) => c.notNull())
          .addColumn('window_start', t.time, (c) => c.notNull())
          .addColumn('locked_until', t.time)).execute();
        await strict(backend, db.schema.createTable('identity_known_sources')
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('source_hash', 'text', (c) => c.notNull())
          .addColumn('last_success_at', t.time, (c) => c.notNull())
          .addPrimaryKeyConstraint('identity_known_sources_pk', ['admin_id', 'source_hash'])).execute();
      },
    },
  };
}

/** Runs the identity migrations on an opened storage. */
export async function migrateIdentity(opened: OpenedStorage): Promise<void> {
  await opened.migrateModule(IDENTITY_MIGRATION_TABLE, identityMigrations(opened.backend));
}

const iso = (v: string): string => new Date(v).toISOString();
const affected = (r: { numUpdatedRows?: bigint; numDeletedRows?: bigint }): number => Number(r.numUpdatedRows ?? r.numDeletedRows ?? 0n);

function toSession(r: IdentityTables['identity_sessions']): SessionRecord {
  return {
    idHash: r.id_hash,
    handle: r.handle,
    adminId: r.admin_id,
    kind: r.kind === 'cli' ? 'cli' : 'browser',
    createdAt: isoOut(r.created_at),
    lastSeenAt: isoOut(r.last_seen_at),
    absoluteExpiresAt: isoOut(r.absolute_expires_at),
    mfaAt: isoOut(r.mfa_at),
    source: r.source,
    revokedAt: isoOutOrNull(r.revoked_at),
  };
}

function toWebAuthn(r: IdentityTables['identity_webauthn']): WebAuthnCredential {
  const transports: unknown = JSON.parse(r.transports);
  return {
    id: r.id,
    adminId: r.admin_id,
    publicKey: bytesOut(r.public_key),
    counter: numOut(r.counter),
    transports: Array.isArray(transports) ? transports.filter((x): x is string => typeof x === 'string') : [],
    name: r.name,
    createdAt: isoOut(r.created_at),
    lastUsedAt: isoOutOrNull(r.last_used_at),
  };
}

function toAccount(r: IdentityTables['identity_accounts']): IdentityAccount {
  return {
    adminId: r.admin_id,
    passwordHash: r.password_hash,
    passwordChangedAt: isoOutOrNull(r.password_changed_at),
    breakGlass: numOut(r.break_glass) === 1,
    oidcIssuer: r.oidc_issuer,
    oidcSubject: r.oidc_subject,
    createdAt: isoOut(r.created_at),
  };
}

export function createIdentityStore(opened: Pick<OpenedStorage, 'db'>): IdentityStore {
  const db = opened.db.withTables<IdentityTables>() as unknown as Db;
  return {
    async getAccount(adminId) {
      const r = await db.selectFrom('identity_accounts').selectAll().where('admin_id', '=', adminId).executeTakeFirst();
      return r ? toAccount(r) : undefined;
    },
    async getAccountByOidc(issuer, subject) {
      const r = await db.selectFrom('identity_accounts').selectAll()
        .where('oidc_issuer', '=', issuer).where('oidc_subject', '=', subject).executeTakeFirst();
      return r ? toAccount(r) : undefined;
    },
    async putAccount(a, now) {
      const row = {
        admin_id: a.adminId,
        password_hash: a.passwordHash,
        password_changed_at: a.passwordChangedAt === null ? null : iso(a.passwordChangedAt),
        break_glass: a.breakGlass ? 1 : 0,
        oidc_issuer: a.oidcIssuer,
        oidc_subject: a.oidcSubject,
      };
      await db.insertInto('identity_accounts').values({ ...row, created_at: iso(now) })
        .onConflict((oc) => oc.column('admin_id').doUpdateSet(row)).execute();
    },
    async setDisabled(adminId, disabledAt) {
      const r = await db.updateTable('admins').set({ disabled_at: disabledAt === null ? null : iso(disabledAt) }).where('id', '=', adminId).executeTakeFirst();
      return affected(r) === 1;
    },

    async getTotp(adminId) {
      const r = await db.selectFrom('identity_totp').selectAll().where('admin_id', '=', adminId).executeTakeFirst();
      if (!r) return undefined;
      const f: TotpFactor = { adminId: r.admin_id, secretSealed: bytesOut(r.secret_sealed), confirmedAt: isoOutOrNull(r.confirmed_at), lastStep: numOut(r.last_step) };
      return f;
    },
    async putTotp(adminId, secretSealed) {
      const row = { secret_sealed: secretSealed, confirmed_at: null, last_step: -1 };
      await db.insertInto('identity_totp').values({ admin_id: adminId, ...row })
        .onConflict((oc) => oc.column('admin_id').doUpdateSet(row)).execute();
    },
    async confirmTotp(adminId, now) {
      await db.updateTable('identity_totp').set({ confirmed_at: iso(now) }).where('admin_id', '=', adminId).execute();
    },
    async deleteTotp(adminId) {
      return affected(await db.deleteFrom('identity_totp').where('admin_id', '=', adminId).executeTakeFirst()) === 1;
    },
    async useTotpStep(adminId, step) {
      const r = await db.updateTable('identity_totp').set({ last_step: step })
        .where('admin_id', '=', adminId).where('last_step', '<', step).executeTakeFirst();
      return affected(r) === 1;
    },

    async listWebAuthn(adminId) {
      const rows = await db.selectFrom('identity_webauthn').selectAll().where('admin_id', '=', adminId).orderBy('created_at').execute();
      return rows.map(toWebAuthn);
    },
    async getWebAuthn(id) {
      const r = await db.selectFrom('identity_webauthn').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toWebAuthn(r) : undefined;
    },
    async addWebAuthn(c) {
      await db.insertInto('identity_webauthn').values({
        id: c.id,
        admin_id: c.adminId,
        public_key: c.publicKey,
        counter: c.counter,
        transports: JSON.stringify(c.transports),
        name: c.name,
        created_at: iso(c.createdAt),
        last_used_at: null,
      }).execute();
    },
    async useWebAuthn(id, newCounter, now) {
      const r = await db.updateTable('identity_webauthn').set({ counter: newCounter, last_used_at: iso(now) })
        .where('id', '=', id)
        // Authenticators without a counter always send 0; otherwise it must grow.
        .where('counter', newCounter === 0 ? '=' : '<', newCounter)
        .executeTakeFirst();
      return affected(r) === 1;
    },
    async deleteWebAuthn(adminId, id) {
      return affected(await db.deleteFrom('identity_webauthn').where('admin_id', '=', adminId).where('id', '=', id).executeTakeFirst()) === 1;
    },

    async replaceRecoveryCodes(adminId, hashes, now) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('identity_recovery_codes').where('admin_id', '=', adminId).execute();
        if (hashes.length > 0) {
          await trx.insertInto('identity_recovery_codes')
            .values(hashes.map((h) => ({ code_hash: h, admin_id: adminId, created_at: iso(now), used_at: null }))).execute();
        }
      });
    },
    async useRecoveryCode(adminId, hash, now) {
      const r = await db.updateTable('identity_recovery_codes').set({ used_at: iso(now) })
        .where('admin_id', '=', adminId).where('code_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
      return affected(r) === 1;
    },
    async countRecoveryCodes(adminId) {
      const r = await db.selectFrom('identity_recovery_codes').select((eb) => eb.fn.countAll().as('n'))
        .where('admin_id', '=', adminId).where('used_at', 'is', null).executeTakeFirstOrThrow();
      return numOut(r.n);
    },

    async createSession(s) {
      await db.insertInto('identity_sessions').values({
        id_hash: s.idHash,
        handle: s.handle,
        admin_id: s.adminId,
        kind: s.kind,
        created_at: iso(s.createdAt),
        last_seen_at: iso(s.lastSeenAt),
        absolute_expires_at: iso(s.absoluteExpiresAt),
        mfa_at: iso(s.mfaAt),
        source: s.source,
        revoked_at: null,
      }).execute();
    },
    async getSession(idHash) {
      const r = await db.selectFrom('identity_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
      return r ? toSession(r) : undefined;
    },
    async getSessionByHandle(handle) {
      const r = await db.selectFrom('identity_sessions').selectAll().where('handle', '=', handle).executeTakeFirst();
      return r ? toSession(r) : undefined;
    },
    async touchSession(idHash, now) {
      await db.updateTable('identity_sessions').set({ last_seen_at: iso(now) }).where('id_hash', '=', idHash).execute();
    },
    async setSessionMfa(handle, now) {
      await db.updateTable('identity_sessions').set({ mfa_at: iso(now), last_seen_at: iso(now) }).where('handle', '=', handle).execute();
    },
    async listSessions(adminId, now) {
      let q = db.selectFrom('identity_sessions').selectAll().where('revoked_at', 'is', null).where('absolute_expires_at', '>', iso(now));
      if (adminId !== undefined) q = q.where('admin_id', '=', adminId);
      const rows = await q.orderBy('created_at').orderBy('handle').limit(1000).execute();
      return rows.map(toSession);
    },
    async revokeSession(handle, now) {
      const r = await db.updateTable('identity_sessions').set({ revoked_at: iso(now) })
        .where('handle', '=', handle).where('revoked_at', 'is', null).returningAll().executeTakeFirst();
      return r ? toSession(r) : undefined;
    },
    async revokeSessionByHash(idHash, now) {
      const r = await db.updateTable('identity_sessions').set({ revoked_at: iso(now) })
        .where('id_hash', '=', idHash).where('revoked_at', 'is', null).executeTakeFirst();
      return affected(r) === 1;
    },
    async revokeAllSessions(adminId, now) {
      const r = await db.updateTable('identity_sessions').set({ revoked_at: iso(now) })
        .where('admin_id', '=', adminId).where('revoked_at', 'is', null).executeTakeFirst();
      return affected(r);
    },

    async createTicket(tk) {
      await db.insertInto('identity_tickets').values({
        id_hash: tk.idHash,
        admin_id: tk.adminId,
        stage: tk.stage,
        kind: tk.kind,
        attempts: 0,
        source: tk.source,
        expires_at: iso(tk.expiresAt),
        needs_password: tk.needsPassword ? 1 : 0,
      }).execute();
    },
    async getTicket(idHash) {
      const r = await db.selectFrom('identity_tickets').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
      if (!r) return undefined;
      const tk: LoginTicket = {
        idHash: r.id_hash,
        adminId: r.admin_id,
        stage: r.stage === 'enroll' ? 'enroll' : 'mfa',
        kind: r.kind === 'cli' ? 'cli' : 'browser',
        attempts: numOut(r.attempts),
        source: r.source,
        expiresAt: isoOut(r.expires_at),
        needsPassword: numOut(r.needs_password) === 1,
      };
      return tk;
    },
    async failTicket(idHash) {
      const r = await db.updateTable('identity_tickets').set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .where('id_hash', '=', idHash).returning('attempts').executeTakeFirst();
      return r ? numOut(r.attempts) : Number.MAX_SAFE_INTEGER;
    },
    async consumeTicket(idHash) {
      return affected(await db.deleteFrom('identity_tickets').where('id_hash', '=', idHash).executeTakeFirst()) === 1;
    },
    async setTicketStage(idHash, stage, needsPassword) {
      await db.updateTable('identity_tickets').set({ stage, needs_password: needsPassword ? 1 : 0 }).where('id_hash', '=', idHash).execute();
    },

    async putOneTime(v) {
      await db.insertInto('identity_one_time').values({
        id_hash: v.idHash, purpose: v.purpose, admin_id: v.adminId, data: v.data, expires_at: iso(v.expiresAt),
      }).execute();
    },
    async takeOneTime(idHash, purpose, now) {
      const r = await db.deleteFrom('identity_one_time').where('id_hash', '=', idHash).returningAll().executeTakeFirst();
      if (!r || r.purpose !== purpose || isoOut(r.expires_at) <= iso(now)) return undefined;
      const v: OneTimeValue = { idHash: r.id_hash, purpose: r.purpose, adminId: r.admin_id, data: r.data, expiresAt: isoOut(r.expires_at) };
      return v;
    },

    async getThrottle(keys) {
      if (keys.length === 0) return [];
      const rows = await db.selectFrom('identity_throttle').selectAll().where('key', 'in', keys).execute();
      return rows.map((r): ThrottleState => ({
        key: r.key, failures: numOut(r.failures), windowStart: isoOut(r.window_start), lockedUntil: isoOutOrNull(r.locked_until),
      }));
    },
    async putThrottle(s) {
      const row = { failures: s.failures, window_start: iso(s.windowStart), locked_until: s.lockedUntil === null ? null : iso(s.lockedUntil) };
      await db.insertInto('identity_throttle').values({ key: s.key, ...row })
        .onConflict((oc) => oc.column('key').doUpdateSet(row)).execute();
    },
    async clearThrottle(key) {
      await db.deleteFrom('identity_throttle').where('key', '=', key).execute();
    },

    async isKnownSource(adminId, sourceHash, since) {
      const r = await db.selectFrom('identity_known_sources').select('admin_id')
        .where('admin_id', '=', adminId).where('source_hash', '=', sourceHash).where('last_success_at', '>=', iso(since)).executeTakeFirst();
      return r !== undefined;
    },
    async rememberSource(adminId, sourceHash, now) {
      await db.insertInto('identity_known_sources').values({ admin_id: adminId, source_hash: sourceHash, last_success_at: iso(now) })
        .onConflict((oc) => oc.columns(['admin_id', 'source_hash']).doUpdateSet({ last_success_at: iso(now) })).execute();
    },

    async purgeExpired(now) {
      const n = iso(now);
      const a = await db.deleteFrom('identity_tickets').where('expires_at', '<=', n).executeTakeFirst();
      const b = await db.deleteFrom('identity_one_time').where('expires_at', '<=', n).executeTakeFirst();
      const c = await db.deleteFrom('identity_sessions').where('absolute_expires_at', '<=', n).executeTakeFirst();
      return affected(a) + affected(b) + affected(c);
    },
  };
}
