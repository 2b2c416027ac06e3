// One Storage implementation over Kysely for both backends; the differences
// live in a Backend (src/storage/sqlite/backend.ts, src/storage/postgres/backend.ts).

import type { Storage } from '../types.ts';
import { SqlAdminStore, SqlCertificateStore, SqlSettingsStore, SqlTokenStore } from './accounts.ts';
import type { Backend, Db, FastPath } from './backend.ts';
import { SqlDeviceStore } from './devices.ts';
import { SqlQueueStore } from './queue.ts';

export function createSqlStorage(db: Db, backend: Backend, close: () => Promise<void>, fast?: FastPath): Storage {
  let closing: Promise<void> | undefined;
  return Object.freeze({
    backend: backend.kind,
    devices: new SqlDeviceStore(db, backend, fast),
    queue: new SqlQueueStore(db, backend, fast),
    admins: new SqlAdminStore(db),
    tokens: new SqlTokenStore(db),
    certificates: new SqlCertificateStore(db),
    settings: new SqlSettingsStore(db),
    close: () => (closing ??= close()),
  });
}
