// The identity store conformance suite on PostgreSQL, each test in a fresh
// random schema. Fails instead of skipping when RAMPART_TEST_REQUIRE_POSTGRES=1.
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { openPostgresStorage } from '../storage/open.ts';
import { createIdentityStore, migrateIdentity } from './store.ts';
import { runIdentityStoreConformance } from './store-conformance.ts';
import { postgresUnavailable, TEST_DATABASE_URL } from '../storage/postgres/testing.ts';

const reason = await postgresUnavailable();
if (reason !== undefined) {
  if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') {
    test('PostgreSQL is reachable', () => {
      throw new Error(`PostgreSQL required but unreachable: ${reason}`);
    });
  } else {
    console.log(`PostgreSQL identity suite skipped: ${reason}`);
    test('PostgreSQL identity suite', { skip: `skipped: ${reason}` }, () => {});
  }
} else {
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
}
