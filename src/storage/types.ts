// Storage interfaces. Services depend on these, never on a backend. Every
// backend (SQLite via node:sqlite, PostgreSQL via pg; both through Kysely)
// passes the one conformance suite in src/storage/conformance/.
//
// Conventions: times are ISO-8601 UTC strings; binary values are Uint8Array;
// stores normalise times to Date#toISOString() form (UTC, millisecond
// precision) and reject unparseable ones with RampartError('bad_request'), as
// they do out-of-range limits, unknown statuses and text containing NUL;
// secrets (unlock token, bootstrap token) arrive here already sealed by
// src/keys and are stored as opaque bytes.

export type DeviceStatus = 'authenticated' | 'enrolled' | 'checked_out';

export interface Device {
  /** UDID (device channel enrollment id). */
  id: string;
  status: DeviceStatus;
  serialNumber: string | null;
  model: string | null;
  modelName: string | null;
  productName: string | null;
  deviceName: string | null;
  osVersion: string | null;
  buildVersion: string | null;
  imei: string | null;
  meid: string | null;
  isSupervised: boolean | null;
  isEncrypted: boolean | null;
  passcodePresent: boolean | null;
  passcodeCompliant: boolean | null;
  /** SHA-256 (hex, lower case) of the identity certificate bound at Authenticate. */
  identityCertSha256: string | null;
  topic: string | null;
  /** APNs device token, hex. */
  pushToken: string | null;
  pushMagic: string | null;
  unlockTokenSealed: Uint8Array | null;
  bootstrapTokenSealed: Uint8Array | null;
  /** Last DeviceInformation QueryResponses / SecurityInfo, as JSON text. */
  deviceInfoJson: string | null;
  securityInfoJson: string | null;
  enrolledAt: string | null;
  lastSeenAt: string | null;
  checkedOutAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Fields a caller may set; id, createdAt and updatedAt are managed by the store. */
export type DevicePatch = Partial<Omit<Device, 'id' | 'createdAt' | 'updatedAt'>>;

export interface DeviceQuery {
  status?: DeviceStatus;
  serialNumber?: string;
  model?: string;
  osVersion?: string;
  /** Case-insensitive substring of device name, serial number or model name. */
  search?: string;
  /** Devices with lastSeenAt before this time (or never seen). */
  notSeenSince?: string;
  /** Return devices whose id sorts after this (cursor pagination by id). */
  after?: string;
  /** 1..1000 */
  limit: number;
}

export interface Page<T> {
  items: T[];
  /** Pass as `after` to get the next page; absent on the last page. */
  next?: string;
}

export interface InstalledApp {
  identifier: string;
  name: string | null;
  version: string | null;
  shortVersion: string | null;
  bundleSize: number | null;
  isManaged: boolean | null;
}

export interface DeviceStore {
  get(id: string): Promise<Device | undefined>;
  /**
   * Inserts a new device. Throws RampartError('conflict') if it exists.
   * status defaults to 'authenticated'. Patch keys that are not device fields are ignored.
   */
  create(id: string, fields: DevicePatch, now: string): Promise<Device>;
  /** Returns false when no such device. */
  update(id: string, patch: DevicePatch, now: string): Promise<boolean>;
  list(q: DeviceQuery): Promise<Page<Device>>;
  /** The ids list() would return, in the same order, with pages of up to 10,000 (fleet-wide selections). */
  listIds(q: DeviceQuery): Promise<Page<string>>;
  count(q?: Omit<DeviceQuery, 'after' | 'limit'>): Promise<number>;
  /**
   * Replaces the device's app inventory atomically. A repeated identifier keeps
   * its first entry. Throws RampartError('not_found') when no such device.
   */
  replaceApps(id: string, apps: InstalledApp[], now: string): Promise<void>;
  /** Sorted by identifier. */
  listApps(id: string): Promise<InstalledApp[]>;
}

export type QueueStatus = 'pending' | 'acknowledged' | 'error' | 'not_now' | 'cancelled';
export type ResultStatus = 'Acknowledged' | 'Error' | 'NotNow' | 'CommandFormatError';

export interface NewCommand {
  uuid: string;
  requestType: string;
  /** The full command plist (XML) exactly as it will be sent to the device. */
  payload: Uint8Array;
  /** Who queued it (admin id, token id, "system"). */
  createdBy: string;
}

export interface CommandRecord {
  uuid: string;
  requestType: string;
  payload: Uint8Array;
  createdBy: string;
  createdAt: string;
}

export interface QueueEntry {
  deviceId: string;
  commandUuid: string;
  requestType: string;
  status: QueueStatus;
  /** Monotonic order of enqueue; delivery is in this order. */
  seq: number;
  queuedAt: string;
  /** Times the command was handed to the device (a crash between send and result re-sends). */
  deliveries: number;
  lastDeliveredAt: string | null;
  resultAt: string | null;
  /** Raw result plist as the device sent it. */
  resultRaw: Uint8Array | null;
  /** Parsed result as JSON text (binary values base64). */
  resultJson: string | null;
  /** ErrorChain as JSON text when status is error. */
  errorJson: string | null;
  notNowCount: number;
}

export interface DeliverableCommand {
  entry: QueueEntry;
  command: CommandRecord;
}

export type RecordOutcome = 'recorded' | 'duplicate' | 'unknown';

export interface EnqueueOptions {
  /**
   * Runs inside the enqueue transaction, after the queue rows are inserted
   * (the push outbox uses it so queue rows and push intents commit together).
   * The argument is the backend's transaction handle (a Kysely Transaction).
   */
  inTransaction?: (trx: unknown) => Promise<void>;
}

export interface CommandQueueStore {
  /**
   * Stores the command and a queue row for each device in one transaction.
   * Throws RampartError('conflict') if the uuid exists; nothing is stored then.
   * Throws RampartError('not_found') if any device does not exist; nothing is
   * stored then either. A device listed twice is queued once. Concurrent
   * enqueues have no defined order relative to each other.
   */
  enqueue(cmd: NewCommand, deviceIds: string[], now: string, opts?: EnqueueOptions): Promise<void>;
  getCommand(uuid: string): Promise<CommandRecord | undefined>;
  /**
   * Oldest deliverable entry for the device (by seq): status 'pending', or
   * 'not_now' unless skipNotNow. Increments deliveries and sets
   * lastDeliveredAt in the same transaction. Undefined when nothing is due.
   * Concurrent calls for one device (several nodes on PostgreSQL) are
   * serialised: the second waits for the first and, since the first command is
   * still unanswered, gets that same command again (deliveries + 1). A command
   * is never handed out ahead of an earlier pending one, nor after its final
   * result was recorded. Calls for different devices do not wait on each other.
   */
  next(deviceId: string, opts: { skipNotNow: boolean }, now: string): Promise<DeliverableCommand | undefined>;
  /**
   * Records the device's answer. Acknowledged/Error/CommandFormatError are
   * final: a second report for a final entry returns 'duplicate' and changes
   * nothing. NotNow moves a pending entry to 'not_now' (re-delivered later).
   * 'unknown' when no such (device, uuid) entry exists, or when it was never
   * handed to the device by next() (a device cannot answer what it was not sent).
   * A cancelled entry that had been delivered records a final result (the
   * device did act on it); NotNow for a cancelled entry is 'duplicate'.
   * resultAt is set by every recorded report, NotNow included.
   */
  recordResult(
    deviceId: string,
    uuid: string,
    status: ResultStatus,
    result: { raw: Uint8Array; json: string; errorJson: string | null },
    now: string,
  ): Promise<RecordOutcome>;
  /**
   * recordResult() then next(), in ONE transaction: a connect request costs
   * one durable commit instead of two. Same semantics as the two calls in turn.
   */
  recordResultAndNext(
    deviceId: string,
    uuid: string,
    status: ResultStatus,
    result: { raw: Uint8Array; json: string; errorJson: string | null },
    opts: { skipNotNow: boolean },
    now: string,
  ): Promise<{ outcome: RecordOutcome; next: DeliverableCommand | undefined }>;
  /** Cancels a pending/not_now entry; false if it was already final or absent. */
  cancel(deviceId: string, uuid: string, now: string): Promise<boolean>;
  entry(deviceId: string, uuid: string): Promise<QueueEntry | undefined>;
  /** All entries of one command (fleet-wide commands have many), ordered by device id; `after` is a device id. */
  entriesForCommand(uuid: string, q: { after?: string; limit: number }): Promise<Page<QueueEntry>>;
  /** A device's entries, newest first (by seq); beforeSeq pages backwards. */
  entriesForDevice(deviceId: string, q: { status?: QueueStatus; limit: number; beforeSeq?: number }): Promise<QueueEntry[]>;
  /** Counts by status for one command; all zero for an unknown uuid. */
  summary(uuid: string): Promise<Record<QueueStatus, number>>;
}

export interface ApiToken {
  id: string;
  name: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  secretHash: string;
  principalId: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface Admin {
  id: string;
  username: string;
  createdAt: string;
  disabledAt: string | null;
}

export interface AdminStore {
  create(a: { id: string; username: string }, now: string): Promise<Admin>;
  get(id: string): Promise<Admin | undefined>;
  getByUsername(username: string): Promise<Admin | undefined>;
  list(): Promise<Admin[]>;
  count(): Promise<number>;
}

export interface ApiTokenStore {
  create(t: Omit<ApiToken, 'createdAt' | 'lastUsedAt' | 'revokedAt'>, now: string): Promise<ApiToken>;
  /** Returns revoked and expired tokens too: the caller decides. Hashes are compared lower-cased. */
  getBySecretHash(hash: string): Promise<ApiToken | undefined>;
  touch(id: string, now: string): Promise<void>;
  revoke(id: string, now: string): Promise<boolean>;
  listForPrincipal(principalId: string): Promise<ApiToken[]>;
}

export interface IssuedCertificate {
  /** Hex serial number, lower case, no leading zeros stripped. */
  serial: string;
  subject: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
  /** Device the certificate was issued to, when known. */
  deviceId: string | null;
  der: Uint8Array;
  revokedAt: string | null;
  revocationReason: string | null;
}

export interface CertificateStore {
  add(c: Omit<IssuedCertificate, 'revokedAt' | 'revocationReason'>): Promise<void>;
  getBySerial(serial: string): Promise<IssuedCertificate | undefined>;
  getBySha256(sha256: string): Promise<IssuedCertificate | undefined>;
  revoke(serial: string, reason: string, now: string): Promise<boolean>;
  listRevoked(): Promise<IssuedCertificate[]>;
}

/** Small durable key/value settings (CA metadata, push topic, schema facts). */
export interface SettingsStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, now: string): Promise<void>;
}

export interface Storage {
  readonly backend: 'sqlite' | 'postgres';
  devices: DeviceStore;
  queue: CommandQueueStore;
  admins: AdminStore;
  tokens: ApiTokenStore;
  certificates: CertificateStore;
  settings: SettingsStore;
  close(): Promise<void>;
}
