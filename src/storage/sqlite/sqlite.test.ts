import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageConformance } from '../conformance/suite.ts';
import { openSqliteStorage } from '../open.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runStorageConformance('sqlite (temp file)', async () => {
  const opened = await openSqliteStorage(join(dir, `t${n++}.db`));
  await opened.migrate();
  return { storage: opened.storage, cleanup: () => opened.close() };
});
