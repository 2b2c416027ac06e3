// The push module's own tables, run with
// opened.migrateModule(PUSH_MIGRATION_TABLE, pushMigrations(backend)).
// Append-only: never edit a migration that has shipped.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnTypes, strict, type StorageBackend } from '../storage/open.ts';
import type { NoTables } from '../storage/open.ts';

export const PUSH_MIGRATION_TABLE = 'rampart_push_migration';
export const OUTBOX_STATES = ['pending', 'claimed', 'sent', 'no_token', 'invalid_token', 'failed'] as const;

export function pushMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_push_outbox': {
      async up(db: Kysely<NoTables>): Promise<void> {
        // One row per (command, device) queued with push. Inserted in the
        // enqueue transaction; claimed by dispatchers under a lease.
        await strict(backend, db.schema.createTable('push_outbox')
          .addColumn('id', t.bigint, (c) =>
            backend === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('command_uuid', 'text', (c) => c.notNull().references('commands.uuid').onDelete('cascade'))
          .addColumn('state', 'text', (c) => c.notNull().check(sql`state in (${sql.join(OUTBOX_STATES.map((s) => sql.lit(s)))})`))
          .addColumn('round', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('attempts', t.int, (c) => c.notNull().defaultTo(0))
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', t.time)
          .addColumn('reason', 'text')
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('pushed_at', t.time)
          .addColumn('last_push_at', t.time)
          .addColumn('updated_at', t.time, (c) => c.notNull())
          .addUniqueConstraint('push_outbox_command_device_uq', ['command_uuid', 'device_id'])).execute();
        await db.schema.createIndex('push_outbox_state_id_idx').on('push_outbox').columns(['state', 'id']).execute();
        await db.schema.createIndex('push_outbox_state_lease_idx').on('push_outbox').columns(['state', 'lease_until']).execute();
        await db.schema.createIndex('push_outbox_state_last_push_idx').on('push_outbox').columns(['state', 'last_push_at']).execute();
      },
    },
    '0002_outbox_progress_idx': {
      async up(db: Kysely<NoTables>): Promise<void> {
        // Push counts of one command (by state, pushed at least once) from the index alone.
        await db.schema.createIndex('push_outbox_command_state_idx').on('push_outbox')
          .columns(['command_uuid', 'state', 'pushed_at']).execute();
      },
    },
  };
}
