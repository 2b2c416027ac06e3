// Test environments for the module stores: SQLite in a temp file and
// PostgreSQL in a fresh random schema. A PostgreSQL run fails instead of
// skipping when RAMPART_TEST_REQUIRE_POSTGRES=1.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStorage, openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { postgresUnavailable, TEST_DATABASE_URL } from '../storage/postgres/testing.ts';

export interface TestDb {
  opened: OpenedStorage;
  cleanup(): Promise<void>;
}

export async function openSqliteTestDb(): Promise<TestDb> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-mod-'));
  const opened = await openSqliteStorage(join(dir, 'db.sqlite'));
  await opened.migrate();
  return { opened, cleanup: async () => { await opened.close(); rmSync(dir, { recursive: true, force: true }); } };
}

export async function openPostgresTestDb(schema = `rampart_test_${randomBytes(6).toString('hex')}`): Promise<TestDb> {
  const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 6, statementTimeoutMs: 30_000 });
  await opened.migrate();
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
}

/** The backends to run a suite on: sqlite always, postgres when reachable (or required). */
export async function testBackends(): Promise<{ name: string; open: () => Promise<TestDb> }[]> {
  const out = [{ name: 'sqlite', open: openSqliteTestDb }];
  const reason = await postgresUnavailable();
  if (reason === undefined) out.push({ name: 'postgres', open: () => openPostgresTestDb() });
  else if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') out.push({ name: 'postgres', open: () => Promise.reject(new Error(`PostgreSQL required but unreachable: ${reason}`)) });
  else console.log(`PostgreSQL suite skipped: ${reason}`);
  return out;
}
