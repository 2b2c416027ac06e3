// A staff directory on an already opened (test) storage with a random
// master key, for the shared admin test stack.
import { randomBytes } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import type { OpenedStorage } from '../storage/open.ts';
import { masterKeyWrapper } from './key-provider.ts';
import { DIRECTORY_MIGRATION_TABLE, directoryMigrations } from './migrations.ts';
import { openDirectory } from './staff.ts';
import type { StaffDirectory } from './staff.ts';

export async function openTestDirectory(opened: OpenedStorage, audit: AuditRecorder, now: () => Date): Promise<StaffDirectory> {
  await opened.migrateModule(DIRECTORY_MIGRATION_TABLE, directoryMigrations(opened.backend));
  const keys = masterKeyWrapper(createSecretBox(createKeyRing([{ id: 'test', key: new Uint8Array(randomBytes(32)) }], 'test')));
  return openDirectory({ db: opened.db, keys, audit, now });
}
