// Test helpers: a directory on real SQLite (file) or PostgreSQL (random
// schema), the real audit log, and the master-key wrapper.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestAudit } from '../admin/testkit.ts';
import type { CollectedAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { openPostgresStorage, openSqliteStorage } from '../storage/open.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { Actor } from '../services/types.ts';
import { masterKeyWrapper } from './key-provider.ts';
import type { KeyWrapper } from './key-provider.ts';
import { DIRECTORY_MIGRATION_TABLE, directoryMigrations } from './migrations.ts';
import { openDirectory } from './staff.ts';
import type { StaffDirectory } from './staff.ts';
import { TEST_DATABASE_URL } from '../storage/postgres/testing.ts';

export interface DirectoryStack {
  backend: 'sqlite' | 'postgres';
  opened: OpenedStorage;
  dir: StaffDirectory;
  audit: CollectedAudit;
  keys: KeyWrapper;
  clock: { now: Date };
  /** SQLite file path (sqlite only). */
  file?: string;
  schema?: string;
  reopen(keys?: KeyWrapper): Promise<StaffDirectory>;
  close(): Promise<void>;
}

export function testKeys(ids: string[] = ['k1'], active = ids[0] as string, material?: Map<string, Uint8Array>): KeyWrapper {
  const m = material ?? new Map<string, Uint8Array>();
  const keys = ids.map((id) => {
    if (!m.has(id)) m.set(id, new Uint8Array(randomBytes(32)));
    return { id, key: m.get(id) as Uint8Array };
  });
  return masterKeyWrapper(createSecretBox(createKeyRing(keys, active)));
}

export async function openDirectoryStack(backend: 'sqlite' | 'postgres', keys: KeyWrapper = testKeys()): Promise<DirectoryStack> {
  let opened: OpenedStorage;
  let dirPath: string | undefined;
  let file: string | undefined;
  let schema: string | undefined;
  if (backend === 'sqlite') {
    dirPath = mkdtempSync(join(tmpdir(), 'rampart-dir-'));
    file = join(dirPath, 'rampart.db');
    opened = await openSqliteStorage(file);
  } else {
    schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 4, statementTimeoutMs: 60_000 });
  }
  await opened.migrate();
  await opened.migrateModule(DIRECTORY_MIGRATION_TABLE, directoryMigrations(backend));
  const clock = { now: new Date('2026-03-01T00:00:00.000Z') };
  const now = (): Date => new Date(clock.now);
  const audit = await openTestAudit(now);
  const mk = (k: KeyWrapper): Promise<StaffDirectory> => openDirectory({ db: opened.db, keys: k, audit, now, retentionMs: 7 * 86_400_000 });
  const stack: DirectoryStack = {
    backend,
    opened,
    dir: await mk(keys),
    audit,
    keys,
    clock,
    ...(file ? { file } : {}),
    ...(schema ? { schema } : {}),
    async reopen(k = keys) {
      stack.dir = await mk(k);
      return stack.dir;
    },
    async close() {
      await audit.close();
      if (schema) await opened.db.schema.dropSchema(schema).ifExists().cascade().execute().catch(() => {});
      await opened.close();
      if (dirPath) rmSync(dirPath, { recursive: true, force: true });
    },
  };
  return stack;
}

export function actor(permissions: string[], id = 'token-1'): Actor {
  return { type: 'token', id, permissions: new Set(permissions), source: '192.0.2.10', requestId: 'req-1' };
}

