// Tables of the authorization module, run with
//   opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations(opened.backend))
// Append-only: never edit a migration that has shipped.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { sql } from 'kysely';
import { columnTypes, strict } from '../storage/open.ts';
import type { NoTables, StorageBackend } from '../storage/open.ts';
import { OWNER_ROLE } from './catalogue.ts';

export const AUTHZ_MIGRATION_TABLE = 'rampart_authz_migration';

export const APPROVAL_STATUSES = ['pending', 'executing', 'executed', 'failed', 'denied', 'interrupted'] as const;

export function authzMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_authz': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('authz_roles')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('permissions', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())).execute();

        await strict(backend, db.schema.createTable('authz_role_assignments')
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('device_groups', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('local', 'idp')`))
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('authz_role_assignments_pk', ['admin_id', 'role'])).execute();
        await db.schema.createIndex('authz_role_assignments_role_idx').on('authz_role_assignments').column('role').execute();

        await strict(backend, db.schema.createTable('authz_token_networks')
          .addColumn('token_id', 'text', (c) => c.primaryKey())
          .addColumn('networks', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())).execute();

        await strict(backend, db.schema.createTable('authz_approvals')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('params', 'text', (c) => c.notNull())
          .addColumn('params_hash', 'text', (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('units', t.int, (c) => c.notNull())
          .addColumn('target_type', 'text')
          .addColumn('target_id', 'text')
          .addColumn('approver_permission', 'text')
          .addColumn('requester_type', 'text', (c) => c.notNull())
          .addColumn('requester_id', 'text', (c) => c.notNull())
          .addColumn('requester_principal', 'text', (c) => c.notNull())
          .addColumn('requester_permissions', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull().check(sql`status in (${sql.join(APPROVAL_STATUSES.map((s) => sql.lit(s)))})`))
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('expires_at', t.time, (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', t.time)
          .addColumn('reason', 'text')
          .addColumn('claimed_at', t.time)
          .addColumn('finished_at', t.time)
          .addColumn('result', 'text')).execute();
        await db.schema.createIndex('authz_approvals_status_idx').on('authz_approvals').columns(['status', 'created_at']).execute();

        await strict(backend, db.schema.createTable('authz_rate_events')
          .addColumn('id', t.bigint, (c) => (backend === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement()))
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('units', t.int, (c) => c.notNull())
          .addColumn('at', t.time, (c) => c.notNull())).execute();
        await db.schema.createIndex('authz_rate_events_idx').on('authz_rate_events').columns(['principal', 'action', 'at']).execute();

        // Before roles existed every administrator could use whatever its
        // tokens carried; keep that for administrators present at upgrade.
        const now = new Date().toISOString();
        const admins = await sql<{ id: string }>`select id from admins`.execute(db);
        for (const a of admins.rows) {
          await sql`insert into authz_role_assignments (admin_id, role, device_groups, source, created_at, created_by)
            values (${a.id}, ${OWNER_ROLE}, '[]', 'local', ${now}, 'migration')`.execute(db);
        }
      },
    },
  };
}
