// For tests that need PostgreSQL: the test server's URL, a reachability probe,
// and the skip-or-fail rule (a skip in development, a failure when CI sets
// RAMPART_TEST_REQUIRE_POSTGRES=1).
import { test } from 'node:test';
import pg from 'pg';

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

/**
 * Registers the suite when PostgreSQL is reachable; otherwise one skipped test
 * saying so, or one failing test when RAMPART_TEST_REQUIRE_POSTGRES=1.
 */
export async function withPostgres(name: string, register: () => void): Promise<void> {
  const reason = await postgresUnavailable();
  if (reason === undefined) {
    register();
  } else if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') {
    test(`${name}: PostgreSQL is reachable`, () => {
      throw new Error(`PostgreSQL required but unreachable: ${reason}`);
    });
  } else {
    console.log(`${name} skipped: ${reason}`);
    test(name, { skip: `PostgreSQL suite skipped: ${reason}` }, () => {});
  }
}
