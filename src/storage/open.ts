// Storage factories. The core opens storage once, runs migrate(), and hands
// `storage` to the services. Other core modules that keep their own tables
// (the audit log, ...) use `db` with their own migrations:
//
//   const opened = await openStorage(config);
//   await opened.migrate();
//   await opened.migrateModule('rampart_audit_migration', auditMigrations(opened.backend));
//   const auditDb = opened.db.withTables<AuditTables>();
//
// `db` shares the connection (SQLite) or pool (PostgreSQL) with the storage;
// on SQLite, transactions are BEGIN IMMEDIATE and serialised with the
// storage's own, so a module can use db.transaction() freely. Do not open the
// same SQLite file a second time in one process: it is refused.

import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateStorage, runMigrations } from './migrations.ts';
import type { StorageBackend } from './migrations.ts';
import { postgresBackend } from './postgres/backend.ts';
import { openPostgresDatabase } from './postgres/open.ts';
import type { PostgresOptions } from './postgres/open.ts';
import type { NoTables, StorageTables } from './schema.ts';
import { sqliteBackend } from './sqlite/backend.ts';
import { openSqliteDatabase } from './sqlite/open.ts';
import { createSqliteFastPath } from './sqlite/fast.ts';
import { createSqlStorage } from './sql/storage.ts';
import type { Storage } from './types.ts';

export type { StorageBackend } from './migrations.ts';
export type { PostgresOptions } from './postgres/open.ts';
export { columnTypes, strict, runMigrations } from './migrations.ts';
export type { ColumnTypes } from './migrations.ts';
export { dbErrorKind } from './errors.ts';
export type { DbErrorKind } from './errors.ts';
export type { NoTables } from './schema.ts';

export interface OpenedStorage {
  readonly backend: StorageBackend;
  readonly storage: Storage;
  /** Kysely on the same database, knowing none of the storage tables; add yours with withTables<T>(). */
  readonly db: Kysely<NoTables>;
  /** PostgreSQL schema holding the tables (search_path); undefined on SQLite. */
  readonly schema: string | undefined;
  /** Creates or upgrades the storage tables. Safe to run from several nodes at once. */
  migrate(): Promise<void>;
  /** Runs another module's migrations, recorded in its own table (e.g. "rampart_audit_migration"). */
  migrateModule(tableName: string, migrations: Record<string, Migration>): Promise<void>;
  /** Closes the database (same as storage.close()). */
  close(): Promise<void>;
}

export async function openSqliteStorage(path: string): Promise<OpenedStorage> {
  const { db, raw, group, close } = openSqliteDatabase<StorageTables>(path);
  const storage = createSqlStorage(db, sqliteBackend, close, createSqliteFastPath(raw, group));
  const plain = db as unknown as Kysely<NoTables>;
  return Object.freeze({
    backend: 'sqlite' as const,
    storage,
    db: plain,
    schema: undefined,
    migrate: () => migrateStorage(plain, 'sqlite'),
    migrateModule: (tableName: string, migrations: Record<string, Migration>) =>
      runMigrations(plain, migrations, { tableName }),
    close: () => storage.close(),
  });
}

export async function openPostgresStorage(url: string, opts: PostgresOptions = {}): Promise<OpenedStorage> {
  const { db, schema, close } = openPostgresDatabase<StorageTables>(url, opts);
  const storage = createSqlStorage(db, postgresBackend, close);
  const plain = db as unknown as Kysely<NoTables>;
  return Object.freeze({
    backend: 'postgres' as const,
    storage,
    db: plain,
    schema,
    migrate: () => migrateStorage(plain, 'postgres', schema),
    migrateModule: (tableName: string, migrations: Record<string, Migration>) =>
      runMigrations(plain, migrations, { tableName, schema }),
    close: () => storage.close(),
  });
}

export interface StorageConfig {
  /** postgres:// or postgresql:// URL; when set, PostgreSQL is used. */
  databaseUrl?: string;
  /** SQLite file used when databaseUrl is absent. */
  sqlitePath: string;
  postgres?: PostgresOptions;
}

export async function openStorage(config: StorageConfig): Promise<OpenedStorage> {
  const url = config.databaseUrl;
  if (url !== undefined && url !== '') {
    if (!/^postgres(ql)?:\/\//i.test(url)) throw new Error('databaseUrl must be a postgres:// URL');
    return openPostgresStorage(url, config.postgres ?? {});
  }
  return openSqliteStorage(config.sqlitePath);
}
