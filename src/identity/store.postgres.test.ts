// The identity store conformance suite on PostgreSQL, each test in a fresh
// random schema. Fails instead of skipping when RAMPART_TEST_REQUIRE_POSTGRES=1.
import { randomBytes } from 'node:crypto';
import { openPostgresStorage } from '../storage/open.ts';
import { createIdentityStore, migrateIdentity } from './store.ts';
import { runIdentityStoreConformance } from './store-conformance.ts';
import { TEST_DATABASE_URL, withPostgres } from '../storage/postgres/testing.ts';

await withPostgres('PostgreSQL identity suite', () => {
  runIdentityStoreConformance('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 8, statementTimeoutMs: 20_000 });
    const drop = async () => {
      try {
        await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
      } finally {
        await opened.close();
      }
    };
    try {
      await opened.migrate();
      await migrateIdentity(opened);
    } catch (e) {
      await drop();
      throw e;
    }
    return { store: createIdentityStore(opened), storage: opened.storage, cleanup: drop };
  });
});
