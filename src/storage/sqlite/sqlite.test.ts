import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageConformance } from '../conformance/suite.ts';
import type { Kysely } from 'kysely';
import { openSqliteStorage } from '../open.ts';
import { migrateStorage } from '../migrations.ts';
import type { NoTables, StorageTables } from '../schema.ts';
import { createSqlStorage } from '../sql/storage.ts';
import { sqliteBackend } from './backend.ts';
import { openSqliteDatabase } from './open.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runStorageConformance('sqlite (temp file)', async () => {
  const opened = await openSqliteStorage(join(dir, `t${n++}.db`));
  await opened.migrate();
  return { storage: opened.storage, cleanup: () => opened.close() };
});

// The same suite through Kysely alone: the path the stores take whenever a
// transaction is open on the connection (see src/storage/sqlite/fast.ts).
runStorageConformance('sqlite (temp file, Kysely path only)', async () => {
  const { db, close } = openSqliteDatabase<StorageTables>(join(dir, `k${n++}.db`));
  await migrateStorage(db as unknown as Kysely<NoTables>, 'sqlite');
  return { storage: createSqlStorage(db, sqliteBackend, close), cleanup: close };
});
