import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStorage } from '../storage/open.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from './migrations.ts';
import { createAuthzStore } from './store.ts';

describe('authz migrations', () => {
  it('administrators present at upgrade become owners (tokens kept their power); later ones get nothing', async () => {
    const opened = await openSqliteStorage(':memory:');
    try {
      await opened.migrate();
      await opened.storage.admins.create({ id: 'old-admin', username: 'old' }, '2026-01-01T00:00:00.000Z');
      await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations('sqlite'));
      await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations('sqlite'));
      await opened.storage.admins.create({ id: 'new-admin', username: 'new' }, '2026-01-02T00:00:00.000Z');
      const store = createAuthzStore(opened.db, 'sqlite');
      assert.deepEqual((await store.assignmentsOf('old-admin')).map((a) => [a.role, a.groups, a.createdBy]), [['owner', [], 'migration']]);
      assert.deepEqual(await store.assignmentsOf('new-admin'), []);
    } finally {
      await opened.close();
    }
  });
});
