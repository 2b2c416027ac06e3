// Row types of the storage tables as Kysely sees them. Column values differ a
// little by backend (SQLite: booleans as 0/1, times as ISO text, int64 as
// number; PostgreSQL: boolean, timestamptz read back as Date, int8 as string),
// so the read side is typed loosely and normalised in src/storage/sql/map.ts.

import type { Generated } from 'kysely';

/** A time column: ISO text on SQLite, timestamptz (Date when read) on PostgreSQL. */
export type TimeCol = string | Date;
/** A 64-bit integer column: number on SQLite, string (int8) or number on PostgreSQL. */
export type IntCol = number | string | bigint;
/** A boolean column: 0/1 on SQLite, boolean on PostgreSQL. */
export type BoolCol = number | boolean;

export interface DevicesTable {
  id: string;
  status: string;
  serial_number: string | null;
  model: string | null;
  model_name: string | null;
  product_name: string | null;
  device_name: string | null;
  os_version: string | null;
  build_version: string | null;
  imei: string | null;
  meid: string | null;
  is_supervised: BoolCol | null;
  is_encrypted: BoolCol | null;
  passcode_present: BoolCol | null;
  passcode_compliant: BoolCol | null;
  identity_cert_sha256: string | null;
  topic: string | null;
  push_token: string | null;
  push_magic: string | null;
  unlock_token_sealed: Uint8Array | null;
  bootstrap_token_sealed: Uint8Array | null;
  device_info_json: string | null;
  security_info_json: string | null;
  enrolled_at: TimeCol | null;
  last_seen_at: TimeCol | null;
  checked_out_at: TimeCol | null;
  created_at: TimeCol;
  updated_at: TimeCol;
}

export interface DeviceAppsTable {
  device_id: string;
  identifier: string;
  name: string | null;
  version: string | null;
  short_version: string | null;
  bundle_size: IntCol | null;
  is_managed: BoolCol | null;
  updated_at: TimeCol;
}

export interface CommandsTable {
  uuid: string;
  request_type: string;
  payload: Uint8Array;
  created_by: string;
  created_at: TimeCol;
}

export interface CommandQueueTable {
  seq: Generated<IntCol>;
  device_id: string;
  command_uuid: string;
  status: string;
  queued_at: TimeCol;
  deliveries: Generated<IntCol>;
  last_delivered_at: TimeCol | null;
  result_at: TimeCol | null;
  result_raw: Uint8Array | null;
  result_json: string | null;
  error_json: string | null;
  not_now_count: Generated<IntCol>;
  updated_at: TimeCol;
}

export interface AdminsTable {
  id: string;
  username: string;
  created_at: TimeCol;
  disabled_at: TimeCol | null;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  secret_hash: string;
  principal_id: string;
  /** JSON array of strings. */
  scopes: string;
  created_at: TimeCol;
  expires_at: TimeCol | null;
  last_used_at: TimeCol | null;
  revoked_at: TimeCol | null;
}

export interface IssuedCertificatesTable {
  serial: string;
  subject: string;
  sha256: string;
  not_before: TimeCol;
  not_after: TimeCol;
  device_id: string | null;
  der: Uint8Array;
  revoked_at: TimeCol | null;
  revocation_reason: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: TimeCol;
}

export interface StorageTables {
  devices: DevicesTable;
  device_apps: DeviceAppsTable;
  commands: CommandsTable;
  command_queue: CommandQueueTable;
  admins: AdminsTable;
  api_tokens: ApiTokensTable;
  issued_certificates: IssuedCertificatesTable;
  settings: SettingsTable;
}

/** What other modules get: a Kysely handle that knows none of the storage tables. */
export type NoTables = Record<never, never>;
