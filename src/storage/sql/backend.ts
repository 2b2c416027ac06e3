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

/** A row as the driver returns it (column name → value). */
export type FastRow = Record<string, unknown>;

export interface FastRecordInput {
  id: string;
  cmdUuid: string;
  t: string;
  to: 'pending' | 'acknowledged' | 'error' | 'not_now' | 'cancelled';
  raw: Uint8Array;
  json: string;
  errorJson: string | null;
}

/**
 * The device plane's hot statements, run synchronously (SQLite only; see
 * src/storage/sqlite/fast.ts). Usable only while idle() is true; the stores
 * fall back to their Kysely queries otherwise. Inputs are already validated.
 */
export interface FastPath {
  /** No transaction is open on the connection. */
  idle(): boolean;
  device(id: string): FastRow | undefined;
  /** Queue entry joined with its command's request type. */
  entry(deviceId: string, uuid: string): FastRow | undefined;
  /** Whether the device has anything deliverable (no transaction). */
  hasOpen(deviceId: string, skipNotNow: boolean): boolean;
  /** next(): the entry row with payload and command columns, delivery counted; resolves once committed. */
  next(deviceId: string, skipNotNow: boolean, t: string): Promise<FastRow | undefined>;
  /** Updates a device's columns (names from the store's fixed field map, values validated); resolves (found or not) once committed. */
  updateDevice(deviceId: string, columns: Record<string, unknown>): Promise<boolean>;
  /** Records the result and picks the next entry in one transaction; resolves once committed. */
  recordResultAndNext(input: FastRecordInput, skipNotNow: boolean): Promise<{ outcome: 'recorded' | 'duplicate' | 'unknown'; next: FastRow | undefined }>;
}
