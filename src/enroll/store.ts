// Enrollment storage: invitations (one-time profile download, one-time SCEP
// challenge) and the identities the SCEP server issued. Own module
// migrations ('rampart_enroll_migration'), one Kysely implementation for
// SQLite and PostgreSQL, one conformance suite (store.test.ts).
//
// Consume-once is a single conditional UPDATE ... RETURNING: the row moves
// from 'open' to 'downloaded' (profile) and from 'downloaded' to 'used'
// (challenge) in one statement, so two concurrent requests, or a request
// retried after kill -9, can never both succeed. Only hashes of the token and
// the challenge are stored.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { badRequest } from '../lib/errors.ts';
import { columnTypes, strict, type StorageBackend, type NoTables } from '../storage/open.ts';
import { isoIn, isoOut, isoOutOrNull, limitIn } from '../storage/sql/map.ts';

export type InvitationStatus = 'open' | 'downloaded' | 'used' | 'revoked';
export const INVITATION_STATUSES: readonly InvitationStatus[] = ['open', 'downloaded', 'used', 'revoked'];

export interface Invitation {
  id: string;
  status: InvitationStatus;
  /** Opaque staff member id (the staff directory's); null when none. */
  staffId: string | null;
  /** Opaque device group id; null when none. */
  groupId: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  downloadedAt: string | null;
  challengeExpiresAt: string | null;
  usedAt: string | null;
  /** SCEP transaction that used the challenge. */
  transactionId: string | null;
  /** Serial of the certificate issued through this invitation. */
  certSerial: string | null;
  revokedAt: string | null;
}

export interface NewInvitation {
  id: string;
  tokenHash: string;
  staffId: string | null;
  groupId: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
}

export type ClaimRefusal = 'unknown' | 'used' | 'revoked' | 'expired';

export interface IssuedIdentity {
  certSha256: string;
  serial: string;
  /** Invitation whose challenge was used (enrollment), or null (renewal). */
  invitationId: string | null;
  /** Device whose current identity signed the RenewalReq, or null (enrollment). */
  renewalOf: string | null;
  /** Device that authenticated with this identity, once one has. */
  boundDeviceId: string | null;
  createdAt: string;
}

export interface EnrollmentStore {
  create(inv: NewInvitation): Promise<Invitation>;
  get(id: string): Promise<Invitation | undefined>;
  /** Newest first. */
  list(q: { status?: InvitationStatus; limit: number }): Promise<Invitation[]>;
  /** open or downloaded → revoked; false when it was in neither state (or unknown). */
  revoke(id: string, now: string): Promise<boolean>;
  /** Atomically: open and unexpired → downloaded, storing the challenge's hash. */
  claimProfile(tokenHash: string, challengeHash: string, challengeExpiresAt: string, now: string): Promise<{ ok: true; invitation: Invitation } | { ok: false; reason: ClaimRefusal; invitationId?: string }>;
  /** Id of the invitation with this token hash, whatever its state. */
  findByTokenHash(tokenHash: string): Promise<Invitation | undefined>;
  /**
   * Atomically: downloaded, matching challenge, unexpired → used, storing the
   * transaction. The same transaction with the same key again (a client
   * resending after a lost reply) answers ok with replay: true.
   */
  consumeChallenge(challengeHash: string, tx: { transactionId: string; spkiSha256: string }, now: string): Promise<{ ok: true; invitation: Invitation; replay: boolean } | { ok: false; reason: ClaimRefusal; invitationId?: string }>;
  setCertSerial(invitationId: string, serial: string): Promise<void>;
  recordIssued(i: Omit<IssuedIdentity, 'boundDeviceId'>): Promise<void>;
  getIssued(certSha256: string): Promise<IssuedIdentity | undefined>;
  bindIssued(certSha256: string, deviceId: string): Promise<void>;
  /** Identities bound to a device (oldest first). */
  issuedBoundTo(deviceId: string): Promise<IssuedIdentity[]>;
}

type InvitationRow = {
  id: string;
  token_hash: string;
  status: string;
  staff_id: string | null;
  group_id: string | null;
  created_by: string;
  created_at: unknown;
  expires_at: unknown;
  downloaded_at: unknown;
  challenge_hash: string | null;
  challenge_expires_at: unknown;
  used_at: unknown;
  transaction_id: string | null;
  request_spki_sha256: string | null;
  cert_serial: string | null;
  revoked_at: unknown;
};

type IssuedRow = {
  cert_sha256: string;
  serial: string;
  invitation_id: string | null;
  renewal_of: string | null;
  bound_device_id: string | null;
  created_at: unknown;
};

export type EnrollTables = { enroll_invitations: InvitationRow; enroll_issued: IssuedRow };

export function enrollMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_enrollment': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('enroll_invitations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'downloaded', 'used', 'revoked')`))
          .addColumn('staff_id', 'text')
          .addColumn('group_id', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('expires_at', t.time, (c) => c.notNull())
          .addColumn('downloaded_at', t.time)
          .addColumn('challenge_hash', 'text', (c) => c.unique())
          .addColumn('challenge_expires_at', t.time)
          .addColumn('used_at', t.time)
          .addColumn('transaction_id', 'text')
          .addColumn('request_spki_sha256', 'text')
          .addColumn('cert_serial', 'text')
          .addColumn('revoked_at', t.time)).execute();
        await db.schema.createIndex('enroll_invitations_created').on('enroll_invitations').columns(['created_at']).execute();
        await strict(backend, db.schema.createTable('enroll_issued')
          .addColumn('cert_sha256', 'text', (c) => c.primaryKey())
          .addColumn('serial', 'text', (c) => c.notNull())
          .addColumn('invitation_id', 'text')
          .addColumn('renewal_of', 'text')
          .addColumn('bound_device_id', 'text')
          .addColumn('created_at', t.time, (c) => c.notNull())).execute();
      },
    },
  };
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function hashIn(h: string): string {
  if (typeof h !== 'string' || !HEX64.test(h)) throw badRequest('invalid hash');
  return h;
}

function optId(v: string | null): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !ID_RE.test(v)) throw badRequest('invalid id');
  return v;
}

function toInvitation(r: InvitationRow): Invitation {
  return {
    id: r.id,
    status: r.status as InvitationStatus,
    staffId: r.staff_id,
    groupId: r.group_id,
    createdBy: r.created_by,
    createdAt: isoOut(r.created_at),
    expiresAt: isoOut(r.expires_at),
    downloadedAt: isoOutOrNull(r.downloaded_at),
    challengeExpiresAt: isoOutOrNull(r.challenge_expires_at),
    usedAt: isoOutOrNull(r.used_at),
    transactionId: r.transaction_id,
    certSerial: r.cert_serial,
    revokedAt: isoOutOrNull(r.revoked_at),
  };
}

function refusal(r: InvitationRow | undefined, now: string): ClaimRefusal {
  if (!r) return 'unknown';
  if (r.status === 'revoked') return 'revoked';
  if (r.status === 'used' || r.status === 'downloaded') return 'used';
  return isoOut(r.expires_at) <= now ? 'expired' : 'used';
}

export function createEnrollmentStore(plain: Kysely<NoTables>): EnrollmentStore {
  const db = plain.withTables<EnrollTables>();
  return {
    async create(inv) {
      const row: InvitationRow = {
        id: optId(inv.id) as string,
        token_hash: hashIn(inv.tokenHash),
        status: 'open',
        staff_id: optId(inv.staffId),
        group_id: optId(inv.groupId),
        created_by: optId(inv.createdBy) as string,
        created_at: isoIn(inv.createdAt),
        expires_at: isoIn(inv.expiresAt),
        downloaded_at: null,
        challenge_hash: null,
        challenge_expires_at: null,
        used_at: null,
        transaction_id: null,
        request_spki_sha256: null,
        cert_serial: null,
        revoked_at: null,
      };
      const r = await db.insertInto('enroll_invitations').values(row).returningAll().executeTakeFirstOrThrow();
      return toInvitation(r);
    },
    async get(id) {
      if (typeof id !== 'string' || !ID_RE.test(id)) return undefined;
      const r = await db.selectFrom('enroll_invitations').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toInvitation(r) : undefined;
    },
    async list(q) {
      let query = db.selectFrom('enroll_invitations').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limitIn(q.limit));
      if (q.status !== undefined) {
        if (!INVITATION_STATUSES.includes(q.status)) throw badRequest('invalid status');
        query = query.where('status', '=', q.status);
      }
      return (await query.execute()).map(toInvitation);
    },
    async revoke(id, now) {
      if (typeof id !== 'string' || !ID_RE.test(id)) return false;
      const r = await db.updateTable('enroll_invitations')
        .set({ status: 'revoked', revoked_at: isoIn(now) })
        .where('id', '=', id).where('status', 'in', ['open', 'downloaded'])
        .returning('id').executeTakeFirst();
      return r !== undefined;
    },
    async claimProfile(tokenHash, challengeHash, challengeExpiresAt, now) {
      const th = hashIn(tokenHash);
      const n = isoIn(now);
      const r = await db.updateTable('enroll_invitations')
        .set({ status: 'downloaded', downloaded_at: n, challenge_hash: hashIn(challengeHash), challenge_expires_at: isoIn(challengeExpiresAt) })
        .where('token_hash', '=', th).where('status', '=', 'open').where('expires_at', '>', n)
        .returningAll().executeTakeFirst();
      if (r) return { ok: true, invitation: toInvitation(r) };
      const cur = await db.selectFrom('enroll_invitations').selectAll().where('token_hash', '=', th).executeTakeFirst();
      return cur ? { ok: false, reason: refusal(cur, n), invitationId: cur.id } : { ok: false, reason: 'unknown' };
    },
    async findByTokenHash(tokenHash) {
      const r = await db.selectFrom('enroll_invitations').selectAll().where('token_hash', '=', hashIn(tokenHash)).executeTakeFirst();
      return r ? toInvitation(r) : undefined;
    },
    async consumeChallenge(challengeHash, tx, now) {
      const ch = hashIn(challengeHash);
      const n = isoIn(now);
      const spki = hashIn(tx.spkiSha256);
      if (typeof tx.transactionId !== 'string' || tx.transactionId.length === 0 || tx.transactionId.length > 128) throw badRequest('invalid transaction');
      const r = await db.updateTable('enroll_invitations')
        .set({ status: 'used', used_at: n, transaction_id: tx.transactionId, request_spki_sha256: spki })
        .where('challenge_hash', '=', ch).where('status', '=', 'downloaded').where('challenge_expires_at', '>', n).where('expires_at', '>', n)
        .returningAll().executeTakeFirst();
      if (r) return { ok: true, invitation: toInvitation(r), replay: false };
      const cur = await db.selectFrom('enroll_invitations').selectAll().where('challenge_hash', '=', ch).executeTakeFirst();
      if (!cur) return { ok: false, reason: 'unknown' };
      if (cur.status === 'used' && cur.transaction_id === tx.transactionId && cur.request_spki_sha256 === spki) {
        return { ok: true, invitation: toInvitation(cur), replay: true };
      }
      if (cur.status === 'revoked') return { ok: false, reason: 'revoked', invitationId: cur.id };
      if (cur.status === 'used') return { ok: false, reason: 'used', invitationId: cur.id };
      return { ok: false, reason: 'expired', invitationId: cur.id };
    },
    async setCertSerial(invitationId, serial) {
      await db.updateTable('enroll_invitations').set({ cert_serial: serial }).where('id', '=', invitationId).execute();
    },
    async recordIssued(i) {
      await db.insertInto('enroll_issued').values({
        cert_sha256: hashIn(i.certSha256),
        serial: i.serial,
        invitation_id: optId(i.invitationId),
        renewal_of: i.renewalOf,
        bound_device_id: null,
        created_at: isoIn(i.createdAt),
      }).onConflict((oc) => oc.column('cert_sha256').doNothing()).execute();
    },
    async getIssued(certSha256) {
      if (!HEX64.test(certSha256)) return undefined;
      const r = await db.selectFrom('enroll_issued').selectAll().where('cert_sha256', '=', certSha256).executeTakeFirst();
      return r ? {
        certSha256: r.cert_sha256, serial: r.serial, invitationId: r.invitation_id, renewalOf: r.renewal_of,
        boundDeviceId: r.bound_device_id, createdAt: isoOut(r.created_at),
      } : undefined;
    },
    async issuedBoundTo(deviceId) {
      const rows = await db.selectFrom('enroll_issued').selectAll().where('bound_device_id', '=', deviceId).orderBy('created_at').execute();
      return rows.map((r) => ({
        certSha256: r.cert_sha256, serial: r.serial, invitationId: r.invitation_id, renewalOf: r.renewal_of,
        boundDeviceId: r.bound_device_id, createdAt: isoOut(r.created_at),
      }));
    },

    async bindIssued(certSha256, deviceId) {
      await db.updateTable('enroll_issued').set({ bound_device_id: deviceId })
        .where('cert_sha256', '=', hashIn(certSha256)).where('bound_device_id', 'is', null).execute();
    },
  };
}
