// One Storage implementation over Kysely for both backends; the differences
// live in a Backend (src/storage/sqlite/backend.ts, src/storage/postgres/backend.ts).

import type { Storage } from '../types.ts';
import { SqlAdminStore, SqlCertificateStore, SqlSettingsStore, SqlTokenStore } from './accounts.ts';
import type { Backend, Db } from './backend.ts';
import { SqlDeviceStore } from './devices.ts';
import { SqlQueueStore } from './queue.ts';

export function createSqlStorage(db: Db, backend: Backend, close: () => Promise<void>): Storage {
  let closing: Promise<void> | undefined;
  return Object.freeze({
    backend: backend.kind,
    devices: new SqlDeviceStore(db, backend),
    queue: new SqlQueueStore(db, backend),
    admins: new SqlAdminStore(db),
    tokens: new SqlTokenStore(db),
    certificates: new SqlCertificateStore(db),
    settings: new SqlSettingsStore(db),
    close: () => (closing ??= close()),
  });
}
