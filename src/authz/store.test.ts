// The authorization store's conformance suite on SQLite (temp file) and on
// PostgreSQL (fresh random schema; fails instead of skipping when
// RAMPART_TEST_REQUIRE_POSTGRES=1).
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openPostgresStorage, openSqliteStorage } from '../storage/open.ts';
import type { OpenedStorage } from '../storage/open.ts';
import { AUTHZ_MIGRATION_TABLE, authzMigrations } from './migrations.ts';
import { runAuthzStoreConformance } from './store-conformance.ts';
import { TEST_DATABASE_URL, withPostgres } from '../storage/postgres/testing.ts';

async function prepare(opened: OpenedStorage): Promise<void> {
  await opened.migrate();
  await opened.migrateModule(AUTHZ_MIGRATION_TABLE, authzMigrations(opened.backend));
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-authz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
runAuthzStoreConformance('sqlite', async () => {
  const opened = await openSqliteStorage(join(dir, `a${n++}.db`));
  await prepare(opened);
  return { opened, cleanup: () => opened.close() };
});

await withPostgres('authz store on PostgreSQL', () => {
  runAuthzStoreConformance('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 12 });
    await prepare(opened);
    return {
      opened,
      cleanup: async () => {
        try {
          await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
        } finally {
          await opened.close();
        }
      },
    };
  });
});
