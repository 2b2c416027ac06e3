// Storage schema migrations, defined in code (no directory is read at run
// time), for both backends. Column types follow the backend: PostgreSQL gets
// timestamptz, bytea, boolean and identity columns; SQLite gets STRICT tables
// with ISO-8601 text times, blobs and 0/1 integers. Names are append-only:
// never edit a migration that has shipped, add a new one.
//
// runMigrations() is exported for other modules (the audit log, ...) that keep
// their own tables on the same database with their own migration table.

import { sql } from 'kysely';
import type { ColumnDataType, CreateTableBuilder, Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import type { Migration, MigrationProvider } from 'kysely/migration';
import type { NoTables } from './schema.ts';

export type StorageBackend = 'sqlite' | 'postgres';

/** Backend-specific column types for migrations. */
export interface ColumnTypes {
  time: ColumnDataType;
  blob: ColumnDataType;
  bool: ColumnDataType;
  int: ColumnDataType;
  bigint: ColumnDataType;
  text: ColumnDataType;
}

export function columnTypes(backend: StorageBackend): ColumnTypes {
  return backend === 'postgres'
    ? { time: 'timestamptz', blob: 'bytea', bool: 'boolean', int: 'integer', bigint: 'bigint', text: 'text' }
    : { time: 'text', blob: 'blob', bool: 'integer', int: 'integer', bigint: 'integer', text: 'text' };
}

/** STRICT on SQLite (type-checked columns); nothing on PostgreSQL. */
export function strict<T extends string, C extends string>(
  backend: StorageBackend,
  t: CreateTableBuilder<T, C>,
): CreateTableBuilder<T, C> {
  return backend === 'sqlite' ? t.modifyEnd(sql`strict`) : t;
}

const QUEUE_STATUSES = ['pending', 'acknowledged', 'error', 'not_now', 'cancelled'];
const DEVICE_STATUSES = ['authenticated', 'enrolled', 'checked_out'];

function inList(values: string[]): ReturnType<typeof sql> {
  return sql.join(values.map((v) => sql.lit(v)));
}

export function storageMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_initial': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('devices')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('status', 'text', (c) => c.notNull().check(sql`status in (${inList(DEVICE_STATUSES)})`))
          .addColumn('serial_number', 'text')
          .addColumn('model', 'text')
          .addColumn('model_name', 'text')
          .addColumn('product_name', 'text')
          .addColumn('device_name', 'text')
          .addColumn('os_version', 'text')
          .addColumn('build_version', 'text')
          .addColumn('imei', 'text')
          .addColumn('meid', 'text')
          .addColumn('is_supervised', t.bool)
          .addColumn('is_encrypted', t.bool)
          .addColumn('passcode_present', t.bool)
          .addColumn('passcode_compliant', t.bool)
          .addColumn('identity_cert_sha256', 'text')
          .addColumn('topic', 'text')
          .addColumn('push_token', 'text')
          .addColumn('push_magic', 'text')
          .addColumn('unlock_token_sealed', t.blob)
          .addColumn('bootstrap_token_sealed', t.blob)
          .addColumn('device_info_json', 'text')
          .addColumn('security_info_json', 'text')
          .addColumn('enrolled_at', t.time)
          .addColumn('last_seen_at', t.time)
          .addColumn('checked_out_at', t.time)
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())).execute();
        await db.schema.createIndex('devices_serial_number_idx').on('devices').column('serial_number').execute();
        await db.schema.createIndex('devices_status_id_idx').on('devices').columns(['status', 'id']).execute();
        await db.schema.createIndex('devices_last_seen_at_idx').on('devices').column('last_seen_at').execute();

        await strict(backend, db.schema.createTable('device_apps')
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('identifier', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('version', 'text')
          .addColumn('short_version', 'text')
          .addColumn('bundle_size', t.bigint)
          .addColumn('is_managed', t.bool)
          .addColumn('updated_at', t.time, (c) => c.notNull())
          .addPrimaryKeyConstraint('device_apps_pk', ['device_id', 'identifier'])).execute();

        await strict(backend, db.schema.createTable('commands')
          .addColumn('uuid', 'text', (c) => c.primaryKey())
          .addColumn('request_type', 'text', (c) => c.notNull())
          .addColumn('payload', t.blob, (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())).execute();

        await strict(backend, db.schema.createTable('command_queue')
          .addColumn('seq', t.bigint, (c) =>
            backend === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('command_uuid', 'text', (c) => c.notNull().references('commands.uuid').onDelete('cascade'))
          .addColumn('status', 'text', (c) => c.notNull().check(sql`status in (${inList(QUEUE_STATUSES)})`))
          .addColumn('queued_at', t.time, (c) => c.notNull())
          .addColumn('deliveries', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('last_delivered_at', t.time)
          .addColumn('result_at', t.time)
          .addColumn('result_raw', t.blob)
          .addColumn('result_json', 'text')
          .addColumn('error_json', 'text')
          .addColumn('not_now_count', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', t.time, (c) => c.notNull())
          .addUniqueConstraint('command_queue_uuid_device_uq', ['command_uuid', 'device_id'])).execute();
        // Delivery: oldest deliverable entry of one device.
        await db.schema.createIndex('command_queue_device_status_seq_idx').on('command_queue')
          .columns(['device_id', 'status', 'seq']).execute();
        // A device's history, newest first.
        await db.schema.createIndex('command_queue_device_seq_idx').on('command_queue')
          .columns(['device_id', 'seq']).execute();

        await strict(backend, db.schema.createTable('admins')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('disabled_at', t.time)).execute();

        await strict(backend, db.schema.createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('principal_id', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('expires_at', t.time)
          .addColumn('last_used_at', t.time)
          .addColumn('revoked_at', t.time)).execute();
        await db.schema.createIndex('api_tokens_principal_idx').on('api_tokens').column('principal_id').execute();

        await strict(backend, db.schema.createTable('issued_certificates')
          .addColumn('serial', 'text', (c) => c.primaryKey())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('not_before', t.time, (c) => c.notNull())
          .addColumn('not_after', t.time, (c) => c.notNull())
          .addColumn('device_id', 'text')
          .addColumn('der', t.blob, (c) => c.notNull())
          .addColumn('revoked_at', t.time)
          .addColumn('revocation_reason', 'text')).execute();
        await db.schema.createIndex('issued_certificates_sha256_idx').on('issued_certificates').column('sha256').execute();
        await db.schema.createIndex('issued_certificates_revoked_idx').on('issued_certificates').column('revoked_at').execute();

        await strict(backend, db.schema.createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())).execute();
      },
    },
    '0002_command_progress_idx': {
      async up(db: Kysely<NoTables>): Promise<void> {
        // Progress of a fleet-wide command (counts by status, not yet
        // delivered) read from the index alone: without it, each progress read
        // of a 100,000-device command visited every queue row (~250 ms CPU).
        await db.schema.createIndex('command_queue_command_status_idx').on('command_queue')
          .columns(['command_uuid', 'status', 'deliveries']).execute();
      },
    },
  };
}

class InCodeProvider implements MigrationProvider {
  readonly #migrations: Record<string, Migration>;
  constructor(migrations: Record<string, Migration>) {
    this.#migrations = migrations;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.#migrations;
  }
}

export interface RunMigrationsOptions {
  /** Name of the table recording applied migrations; one per module, e.g. "rampart_audit_migration". */
  tableName: string;
  /** PostgreSQL schema holding the migration tables (the storage's schema); omit on SQLite. */
  schema?: string;
}

/**
 * Applies pending migrations in name order. Throws (with the failing
 * migration's error) when one fails; on both backends the failed run is rolled
 * back as a whole (DDL is transactional in SQLite and PostgreSQL).
 */
export async function runMigrations(
  db: Kysely<NoTables>,
  migrations: Record<string, Migration>,
  opts: RunMigrationsOptions,
): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(opts.tableName)) throw new Error('invalid migration table name');
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(migrations),
    migrationTableName: opts.tableName,
    migrationLockTableName: `${opts.tableName}_lock`,
    ...(opts.schema !== undefined ? { migrationTableSchema: opts.schema } : {}),
  });
  for (let attempt = 0; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (error === undefined) return;
    // Kysely's table introspection reads the catalog of every schema; another
    // schema dropped at that moment (another installation, a test) fails it
    // with invalid_schema_name naming THAT schema. Nothing was applied: retry.
    const other = (error as { code?: unknown }).code === '3F000' && opts.schema !== undefined &&
      !String((error as { message?: unknown }).message).includes(`"${opts.schema}"`);
    if (other && attempt < 5) {
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
      continue;
    }
    throw error instanceof Error ? error : new Error('migration failed');
  }
}

export const STORAGE_MIGRATION_TABLE = 'rampart_storage_migration';

export async function migrateStorage(db: Kysely<NoTables>, backend: StorageBackend, schema?: string): Promise<void> {
  await runMigrations(db, storageMigrations(backend), {
    tableName: STORAGE_MIGRATION_TABLE,
    ...(schema !== undefined ? { schema } : {}),
  });
}
