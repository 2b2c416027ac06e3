// The few places where SQLite and PostgreSQL need different SQL. Everything
// else in src/storage/sql/ is one Kysely query for both.

import type { Kysely, Transaction } from 'kysely';
import type { StorageTables } from '../schema.ts';
import type { StorageBackend } from '../migrations.ts';

export type Db = Kysely<StorageTables>;
export type Trx = Transaction<StorageTables>;

export interface Backend {
  readonly kind: StorageBackend;
  /**
   * Serialises deliveries for one device until the transaction ends. SQLite:
   * nothing to do (BEGIN IMMEDIATE already made this the only writer).
   * PostgreSQL: a FOR NO KEY UPDATE lock on the device row, which does not
   * conflict with the FOR KEY SHARE locks that foreign-key checks of enqueue
   * take, so queueing is never blocked by delivery.
   */
  lockDevice(trx: Trx, deviceId: string): Promise<void>;
  /** Inserts one pending queue row per device, in array order, in one statement. */
  insertQueueRows(trx: Trx, uuid: string, deviceIds: string[], now: string): Promise<void>;
  /** SQL function that lower-cases text for case-insensitive search. */
  readonly lowerFn: string;
}
