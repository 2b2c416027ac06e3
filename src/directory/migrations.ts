// The staff directory's own tables (module migrations, table
// "rampart_directory_migration"). No column holds personal data in clear:
// personal fields are AES-256-GCM ciphertexts under a per-record data key,
// lookups go through keyed blind indexes, and the access log holds staff ids.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnTypes, strict } from '../storage/open.ts';
import type { NoTables, StorageBackend } from '../storage/open.ts';

export const DIRECTORY_MIGRATION_TABLE = 'rampart_directory_migration';

export function directoryMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_directory': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('pii_key')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('wrapped', t.blob, (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('pii_staff')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('external_id', 'text', (c) => c.unique())
          .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'suspended', 'deleted')`))
          .addColumn('user_name_bidx', t.blob, (c) => c.unique())
          .addColumn('email_bidx', t.blob)
          .addColumn('employee_bidx', t.blob)
          .addColumn('data_key', t.blob)
          .addColumn('kek_version', 'text')
          // AES-256-GCM ciphertexts, each bound to (record id, field name).
          .addColumn('user_name_ct', t.blob)
          .addColumn('display_name_ct', t.blob)
          .addColumn('given_name_ct', t.blob)
          .addColumn('family_name_ct', t.blob)
          .addColumn('email_ct', t.blob)
          .addColumn('phones_ct', t.blob)
          .addColumn('department_ct', t.blob)
          .addColumn('employee_number_ct', t.blob)
          .addColumn('version', t.int, (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())
          .addColumn('deleted_at', t.time)
          .addColumn('shred_after', t.time)
          .addColumn('shredded_at', t.time)).execute();
        await db.schema.createIndex('pii_staff_email_bidx').on('pii_staff').column('email_bidx').execute();
        await db.schema.createIndex('pii_staff_employee_bidx').on('pii_staff').column('employee_bidx').execute();
        await db.schema.createIndex('pii_staff_kek').on('pii_staff').columns(['kek_version', 'id']).execute();
        await db.schema.createIndex('pii_staff_shred').on('pii_staff').columns(['shred_after']).execute();
        await strict(backend, db.schema.createTable('pii_staff_phone')
          .addColumn('bidx', t.blob, (c) => c.notNull())
          .addColumn('staff_id', 'text', (c) => c.notNull().references('pii_staff.id').onDelete('cascade'))
          .addPrimaryKeyConstraint('pii_staff_phone_pk', ['bidx', 'staff_id'])).execute();
        await db.schema.createIndex('pii_staff_phone_staff').on('pii_staff_phone').column('staff_id').execute();
        for (const [table, col] of [['pii_staff_device', 'device_id'], ['pii_staff_invitation', 'invitation_id']] as const) {
          await strict(backend, db.schema.createTable(table)
            .addColumn('staff_id', 'text', (c) => c.notNull().references('pii_staff.id').onDelete('cascade'))
            .addColumn(col, 'text', (c) => c.notNull())
            .addPrimaryKeyConstraint(`${table}_pk`, ['staff_id', col])).execute();
          await db.schema.createIndex(`${table}_by_${col}`).on(table).column(col).execute();
        }
        await strict(backend, db.schema.createTable('pii_group')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('display_name', 'text', (c) => c.notNull().unique())
          .addColumn('external_id', 'text', (c) => c.unique())
          .addColumn('version', t.int, (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('pii_group_member')
          .addColumn('group_id', 'text', (c) => c.notNull().references('pii_group.id').onDelete('cascade'))
          .addColumn('staff_id', 'text', (c) => c.notNull().references('pii_staff.id').onDelete('cascade'))
          .addPrimaryKeyConstraint('pii_group_member_pk', ['group_id', 'staff_id'])).execute();
        await db.schema.createIndex('pii_group_member_staff').on('pii_group_member').column('staff_id').execute();

        // Access accounting: one row per data subject per response, append-only.
        await strict(backend, db.schema.createTable('pii_access')
          .addColumn('id', t.bigint, (c) => (backend === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey()))
          .addColumn('at', t.bigint, (c) => c.notNull())
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('token_id', 'text')
          .addColumn('session_id', 'text')
          .addColumn('source', 'text')
          .addColumn('request_id', 'text')
          .addColumn('purpose', 'text', (c) => c.notNull())
          .addColumn('revealed', t.int, (c) => c.notNull())
          .addColumn('staff_id', 'text', (c) => c.notNull())).execute();
        await db.schema.createIndex('pii_access_principal').on('pii_access').columns(['principal', 'at', 'staff_id']).execute();
        await db.schema.createIndex('pii_access_staff').on('pii_access').columns(['staff_id', 'at']).execute();
        // Derived from pii_access in the same transaction (rebuildable with
        // rebuildAccessSummary): one row per (principal, person) with the last
        // access, so "whom did X see since T" counts people, not reads.
        await strict(backend, db.schema.createTable('pii_access_subject')
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('staff_id', 'text', (c) => c.notNull())
          .addColumn('first_at', t.bigint, (c) => c.notNull())
          .addColumn('last_at', t.bigint, (c) => c.notNull())
          .addColumn('reads', t.bigint, (c) => c.notNull())
          .addColumn('last_revealed_at', t.bigint)
          .addPrimaryKeyConstraint('pii_access_subject_pk', ['principal', 'staff_id'])).execute();
        await db.schema.createIndex('pii_access_subject_last').on('pii_access_subject').columns(['principal', 'last_at']).execute();
        await db.schema.createIndex('pii_access_subject_revealed').on('pii_access_subject').columns(['principal', 'last_revealed_at']).execute();
        if (backend === 'sqlite') {
          await sql`create trigger pii_access_no_update before update on pii_access begin select raise(abort, 'pii_access is append-only'); end`.execute(db);
          await sql`create trigger pii_access_no_delete before delete on pii_access begin select raise(abort, 'pii_access is append-only'); end`.execute(db);
        } else {
          await sql`create function pii_access_append_only() returns trigger language plpgsql as $$ begin raise exception 'pii_access is append-only'; end $$`.execute(db);
          await sql`create trigger pii_access_no_change before update or delete or truncate on pii_access for each statement execute function pii_access_append_only()`.execute(db);
        }
      },
    },
  };
}
