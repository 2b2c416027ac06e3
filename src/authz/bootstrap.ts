// `rampart admin create` on the local installation (break-glass: whoever can
// run it can read the database): the new administrator is an owner.
import type { OpenedStorage } from '../storage/open.ts';
import { OWNER_ROLE } from './catalogue.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from './migrations.ts';
import { createAuthzStore } from './store.ts';

export async function grantOwnerLocally(opened: Pick<OpenedStorage, 'db' | 'backend' | 'migrateModule'>, adminId: string, now = new Date()): Promise<void> {
  await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations(opened.backend));
  await createAuthzStore(opened.db, opened.backend).assign({ adminId, role: OWNER_ROLE, groups: [], source: 'local', createdBy: 'local-cli' }, now.toISOString());
}
