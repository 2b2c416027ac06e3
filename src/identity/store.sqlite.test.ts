import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage } from '../storage/open.ts';
import { createIdentityStore, migrateIdentity } from './store.ts';
import { runIdentityStoreConformance } from './store-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runIdentityStoreConformance('sqlite (temp file)', async () => {
  const opened = await openSqliteStorage(join(dir, `t${n++}.db`));
  await opened.migrate();
  await migrateIdentity(opened);
  await migrateIdentity(opened); // idempotent
  return { store: createIdentityStore(opened), storage: opened.storage, cleanup: () => opened.close() };
});
