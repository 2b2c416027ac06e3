// The personal-data export under four-eyes approval (src/authz). A request
// for an export is held until a second administrator with pii.export
// approves it; the approved run (executed once, as the requester) seals the
// CSV to the recipient key given in the request and keeps the sealed file
// here, for the requester alone to download once. Only ciphertext is stored;
// it is deleted when downloaded, and an undownloaded file expires.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import { forbidden, notFound, RampartError } from '../lib/errors.ts';
import { authorize } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { columnTypes, strict, type NoTables, type StorageBackend } from '../storage/open.ts';
import { permissionGate, type ApprovalGate } from './export.ts';
import { DIRECTORY_PERMISSIONS as P } from './permissions.ts';

export const EXPORT_MIGRATION_TABLE = 'rampart_pii_export_migration';
export const EXPORT_ID = /^pex_[0-9a-f]{32}$/;
/** An approved export not downloaded within this time is deleted. */
export const EXPORT_TTL_MS = 24 * 3600_000;

export function exportMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_pii_exports': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('pii_exports')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('requester', 'text', (c) => c.notNull())
          .addColumn('recipient', 'text', (c) => c.notNull())
          .addColumn('rows', t.int, (c) => c.notNull())
          .addColumn('file', t.blob)
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('expires_at', t.time, (c) => c.notNull())
          .addColumn('downloaded_at', t.time)).execute();
      },
    },
  };
}

type ExportTables = {
  pii_exports: {
    id: string;
    requester: string;
    recipient: string;
    rows: number;
    file: Uint8Array | null;
    created_at: string | Date;
    expires_at: string | Date;
    downloaded_at: string | Date | null;
  };
};

export type ExportRun = (actor: Actor, recipientB64: string) => Promise<{ file: Uint8Array; rows: number; recipient: string }>;

/** The administrator behind an actor (a token's owner). */
function principalOf(actor: Actor): string {
  return actor.authz?.principalId ?? actor.id;
}

const iso = (v: string | Date): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());

/**
 * The gate runExportJob asks: the pii.export permission, then the four-eyes
 * gate (which holds the request, or lets the approved run through).
 */
export function fourEyesExportGate(gate: ApprovalGuard, audit: AuditRecorder): ApprovalGate {
  const permission = permissionGate(audit);
  return {
    async approve(actor, request) {
      await permission.approve(actor, request);
      const recipientKey = typeof request.details.recipientKey === 'string' ? request.details.recipientKey : '';
      await gate.guard(actor, {
        action: 'pii.export',
        params: { recipientKey },
        summary: `Export of the staff directory, sealed to recipient ${String(request.details.recipient ?? '')}`,
        target: { type: 'staff', id: 'directory' },
        approverPermission: P.piiExport,
      });
    },
  };
}

export interface ExportDownloads {
  /** The executor of the approved "pii.export" action: runs the export and keeps the sealed file. */
  runApproved(params: { [k: string]: JsonValue }, actor: Actor): Promise<JsonValue>;
  /** The sealed file of an approved export, once, to the administrator who asked for it. */
  download(actor: Actor, id: string): Promise<{ file: Uint8Array; rows: number; recipient: string }>;
  /** Deletes expired undownloaded files; returns how many. */
  purgeExpired(): Promise<number>;
}

export async function openExportDownloads(deps: {
  opened: { db: Kysely<NoTables>; backend: StorageBackend; migrateModule(table: string, m: Record<string, Migration>): Promise<void> };
  run: ExportRun;
  audit: AuditRecorder;
  now: () => Date;
}): Promise<ExportDownloads> {
  await deps.opened.migrateModule(EXPORT_MIGRATION_TABLE, exportMigrations(deps.opened.backend));
  const db = deps.opened.db.withTables<ExportTables>();
  const timeIn = (d: Date): string => d.toISOString();
  return {
    async runApproved(params, actor) {
      const key = typeof params.recipientKey === 'string' ? params.recipientKey : '';
      const r = await deps.run(actor, key);
      const id = `pex_${randomUUID().replace(/-/g, '')}`;
      const now = deps.now();
      await db.insertInto('pii_exports').values({
        id, requester: principalOf(actor), recipient: r.recipient, rows: r.rows, file: r.file,
        created_at: timeIn(now), expires_at: timeIn(new Date(now.getTime() + EXPORT_TTL_MS)), downloaded_at: null,
      }).execute();
      return { exportId: id, rows: r.rows, recipient: r.recipient };
    },

    async download(actor, id) {
      await authorize(deps.audit, actor, P.piiExport, { action: 'pii.export.download', ...(EXPORT_ID.test(id) ? { target: { type: 'pii_export', id } } : {}) });
      if (!EXPORT_ID.test(id)) throw notFound('export not found');
      const now = deps.now();
      const record = async (outcome: 'success' | 'denied', details: { [k: string]: JsonValue }): Promise<void> => deps.audit.record({
        action: 'pii.export.download', actor: { type: actor.type, id: actor.id }, ...(actor.source !== undefined ? { source: actor.source } : {}),
        ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}), target: { type: 'pii_export', id }, outcome, details,
      });
      const row = await db.selectFrom('pii_exports').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound('export not found');
      if (row.requester !== principalOf(actor)) {
        await record('denied', { reason: 'not_requester' });
        throw forbidden('forbidden', 'only the administrator who asked for the export may download it');
      }
      if (row.downloaded_at !== null || row.file === null) {
        await record('denied', { reason: 'already_downloaded' });
        throw new RampartError('gone', 'export already downloaded');
      }
      if (Date.parse(iso(row.expires_at)) <= now.getTime()) {
        await record('denied', { reason: 'expired' });
        throw new RampartError('gone', 'export expired');
      }
      // On record before the file leaves; the claim below makes it once.
      await record('success', { rows: row.rows, recipient: row.recipient });
      const claimed = await db.updateTable('pii_exports').set({ downloaded_at: timeIn(now), file: null })
        .where('id', '=', id).where('downloaded_at', 'is', null).executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) throw new RampartError('gone', 'export already downloaded');
      return { file: row.file, rows: row.rows, recipient: row.recipient };
    },

    async purgeExpired() {
      const r = await db.deleteFrom('pii_exports').where(sql<boolean>`expires_at <= ${timeIn(deps.now())}`).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
