// Runs the conformance suite on PostgreSQL, each test in a fresh random schema
// that is dropped afterwards. Skips (with a message) when no server is
// reachable, unless RAMPART_TEST_REQUIRE_POSTGRES=1.

import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runStorageConformance } from '../conformance/suite.ts';
import { openPostgresStorage } from '../open.ts';

export const TEST_DATABASE_URL = process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await client.end().catch(() => {});
  }
}

const reason = await postgresUnavailable();
if (reason !== undefined) {
  if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') {
    test('PostgreSQL is reachable', () => {
      throw new Error(`PostgreSQL required but unreachable: ${reason}`);
    });
  } else {
    console.log(`PostgreSQL suite skipped: ${reason}`);
    test('PostgreSQL suite', { skip: `PostgreSQL suite skipped: ${reason}` }, () => {});
  }
} else {
  runStorageConformance('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 8, statementTimeoutMs: 20_000 });
    try {
      await opened.migrate();
    } catch (e) {
      await opened.db.schema.dropSchema(schema).ifExists().cascade().execute().catch(() => {});
      await opened.close();
      throw e;
    }
    return {
      storage: opened.storage,
      cleanup: async () => {
        try {
          await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
        } finally {
          await opened.close();
        }
      },
    };
  });
}
