// `rampart migrate`: every migration of an installation, for the configured
// database, in one place: the storage tables, every module's own migrations
// (registered in MODULE_MIGRATIONS) and the audit log's tables. Idempotent;
// safe from several nodes at once (a cluster advisory lock on PostgreSQL, and
// each migrator's own lock). `rampart serve` runs the same function at start.

import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { Migration } from 'kysely/migration';
import { PgAuditStore } from '../audit/store-pg.ts';
import { SqliteAuditStore } from '../audit/store-sqlite.ts';
import type { OpenedStorage, StorageBackend } from '../storage/open.ts';
import { withClusterLock } from './locks.ts';
import { IDENTITY_MIGRATION_TABLE, identityMigrations } from '../identity/store.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from '../authz/migrations.ts';
import { enrollMigrations } from '../enroll/store.ts';
import { PUSH_MIGRATION_TABLE, pushMigrations } from '../push/migrations.ts';
import { GROUPS_MIGRATION_TABLE, groupMigrations } from '../groups/store.ts';
import { BULK_MIGRATION_TABLE, bulkMigrations } from '../bulk/store.ts';
import { DIRECTORY_MIGRATION_TABLE, directoryMigrations } from '../directory/migrations.ts';
import { EXPORT_MIGRATION_TABLE, exportMigrations } from '../directory/export-approval.ts';

export interface ModuleMigrations {
  /** Migration table of the module, e.g. "rampart_enroll_migration". */
  table: string;
  migrations(backend: StorageBackend): Record<string, Migration>;
}

/**
 * Modules that keep their own tables: add ONE line each, e.g.
 *   { table: 'rampart_enroll_migration', migrations: enrollMigrations },
 * so `rampart migrate` and `rampart db copy` create them too.
 */
export const MODULE_MIGRATIONS: ModuleMigrations[] = [
  { table: IDENTITY_MIGRATION_TABLE, migrations: identityMigrations },
  { table: AUTHZ_MIGRATION_TABLE, migrations: authzMigrations },
  { table: 'rampart_enroll_migration', migrations: enrollMigrations },
  { table: PUSH_MIGRATION_TABLE, migrations: pushMigrations },
  { table: GROUPS_MIGRATION_TABLE, migrations: groupMigrations },
  { table: BULK_MIGRATION_TABLE, migrations: bulkMigrations },
  { table: DIRECTORY_MIGRATION_TABLE, migrations: directoryMigrations },
  { table: EXPORT_MIGRATION_TABLE, migrations: exportMigrations },
];

export interface MigrateTarget {
  /** PostgreSQL URL (for the audit tables' own pool); undefined on SQLite. */
  databaseUrl: string | undefined;
  /** SQLite audit log file (audit.db in the data directory); unused on PostgreSQL. */
  auditSqlitePath: string;
}

export interface MigrateReport {
  backend: StorageBackend;
  schema: string | undefined;
  modules: string[];
}

export async function migrateInstallation(
  opened: OpenedStorage,
  target: MigrateTarget,
  modules: readonly ModuleMigrations[] = MODULE_MIGRATIONS,
): Promise<MigrateReport> {
  return withClusterLock(opened, 'migrate', async () => {
    await opened.migrate();
    for (const m of modules) await opened.migrateModule(m.table, m.migrations(opened.backend));
    if (opened.backend === 'postgres') {
      if (target.databaseUrl === undefined) throw new Error('PostgreSQL URL missing');
      const pool = new pg.Pool({ connectionString: target.databaseUrl, max: 1 });
      pool.on('error', () => undefined);
      try {
        await new PgAuditStore(pool, { schema: opened.schema ?? 'public' }).init();
      } finally {
        await pool.end();
      }
    } else {
      const db = new DatabaseSync(target.auditSqlitePath);
      try {
        await new SqliteAuditStore(db).init();
      } finally {
        db.close();
      }
    }
    return { backend: opened.backend, schema: opened.schema, modules: ['rampart_storage_migration', ...modules.map((m) => m.table), 'audit'] };
  });
}

/** Where an installation's SQLite audit log lives, next to its main database. */
export function auditPathFor(sqliteMainPath: string): string {
  return path.join(path.dirname(sqliteMainPath), 'audit.db');
}
