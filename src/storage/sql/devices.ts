import { sql } from 'kysely';
import type { ExpressionBuilder, Insertable, Selectable, Updateable } from 'kysely';
import { badRequest, conflict, notFound } from '../../lib/errors.ts';
import { dbErrorKind } from '../errors.ts';
import type { DeviceAppsTable, DevicesTable, StorageTables } from '../schema.ts';
import type { Device, DevicePatch, DeviceQuery, DeviceStatus, DeviceStore, InstalledApp, Page } from '../types.ts';
import type { Backend, Db, FastPath } from './backend.ts';
import {
  boolOutOrNull,
  bytesInOrNull,
  bytesOutOrNull,
  isoIn,
  isoInOrNull,
  isoOut,
  isoOutOrNull,
  limitIn,
  numOutOrNull,
  textIn,
} from './map.ts';

const DEVICE_STATUSES: ReadonlySet<string> = new Set<DeviceStatus>(['authenticated', 'enrolled', 'checked_out']);
const ID_MAX = 256;
const TEXT_MAX = 4096;
const JSON_MAX = 4 * 1024 * 1024;

type Col = keyof DevicesTable;
type Kind = 'text' | 'json' | 'bool' | 'time' | 'bytes' | 'status';

/** The only fields a patch may touch: field name -> column and value kind. Unknown keys are ignored. */
const FIELDS: Record<keyof DevicePatch, [Col, Kind]> = {
  status: ['status', 'status'],
  serialNumber: ['serial_number', 'text'],
  model: ['model', 'text'],
  modelName: ['model_name', 'text'],
  productName: ['product_name', 'text'],
  deviceName: ['device_name', 'text'],
  osVersion: ['os_version', 'text'],
  buildVersion: ['build_version', 'text'],
  imei: ['imei', 'text'],
  meid: ['meid', 'text'],
  isSupervised: ['is_supervised', 'bool'],
  isEncrypted: ['is_encrypted', 'bool'],
  passcodePresent: ['passcode_present', 'bool'],
  passcodeCompliant: ['passcode_compliant', 'bool'],
  identityCertSha256: ['identity_cert_sha256', 'text'],
  topic: ['topic', 'text'],
  pushToken: ['push_token', 'text'],
  pushMagic: ['push_magic', 'text'],
  unlockTokenSealed: ['unlock_token_sealed', 'bytes'],
  bootstrapTokenSealed: ['bootstrap_token_sealed', 'bytes'],
  deviceInfoJson: ['device_info_json', 'json'],
  securityInfoJson: ['security_info_json', 'json'],
  enrolledAt: ['enrolled_at', 'time'],
  lastSeenAt: ['last_seen_at', 'time'],
  checkedOutAt: ['checked_out_at', 'time'],
};
const FIELD_NAMES = Object.keys(FIELDS) as (keyof DevicePatch)[];

function statusIn(v: unknown): DeviceStatus {
  if (typeof v !== 'string' || !DEVICE_STATUSES.has(v)) throw badRequest('invalid device status');
  return v as DeviceStatus;
}

function valueIn(kind: Kind, v: unknown): unknown {
  if (kind === 'status') return statusIn(v);
  if (v === null) return null;
  switch (kind) {
    case 'text':
      return textIn(v as string, TEXT_MAX);
    case 'json':
      return textIn(v as string, JSON_MAX);
    case 'bool':
      if (typeof v !== 'boolean') throw badRequest('invalid value');
      return v;
    case 'time':
      return isoInOrNull(v as string);
    case 'bytes':
      return bytesInOrNull(v as Uint8Array);
  }
}

/** Column values of a patch; booleans are written as the backend's own type by the driver. */
function patchColumns(patch: DevicePatch): Updateable<DevicesTable> {
  const out: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) {
    if (!Object.prototype.hasOwnProperty.call(patch, name)) continue;
    const v = patch[name];
    if (v === undefined) continue;
    const [col, kind] = FIELDS[name];
    out[col] = valueIn(kind, v);
  }
  return out as Updateable<DevicesTable>;
}

export function idIn(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw badRequest('invalid id');
  return textIn(id, ID_MAX);
}

function toDevice(r: Selectable<DevicesTable>): Device {
  return {
    id: r.id,
    status: r.status as DeviceStatus,
    serialNumber: r.serial_number,
    model: r.model,
    modelName: r.model_name,
    productName: r.product_name,
    deviceName: r.device_name,
    osVersion: r.os_version,
    buildVersion: r.build_version,
    imei: r.imei,
    meid: r.meid,
    isSupervised: boolOutOrNull(r.is_supervised),
    isEncrypted: boolOutOrNull(r.is_encrypted),
    passcodePresent: boolOutOrNull(r.passcode_present),
    passcodeCompliant: boolOutOrNull(r.passcode_compliant),
    identityCertSha256: r.identity_cert_sha256,
    topic: r.topic,
    pushToken: r.push_token,
    pushMagic: r.push_magic,
    unlockTokenSealed: bytesOutOrNull(r.unlock_token_sealed),
    bootstrapTokenSealed: bytesOutOrNull(r.bootstrap_token_sealed),
    deviceInfoJson: r.device_info_json,
    securityInfoJson: r.security_info_json,
    enrolledAt: isoOutOrNull(r.enrolled_at),
    lastSeenAt: isoOutOrNull(r.last_seen_at),
    checkedOutAt: isoOutOrNull(r.checked_out_at),
    createdAt: isoOut(r.created_at),
    updatedAt: isoOut(r.updated_at),
  };
}

type Filter = Omit<DeviceQuery, 'after' | 'limit'>;

export class SqlDeviceStore implements DeviceStore {
  readonly #db: Db;
  readonly #backend: Backend;
  readonly #fast: FastPath | undefined;

  constructor(db: Db, backend: Backend, fast?: FastPath) {
    this.#db = db;
    this.#backend = backend;
    this.#fast = fast;
  }

  async get(id: string): Promise<Device | undefined> {
    const key = idIn(id);
    if (this.#fast?.idle()) {
      const r = this.#fast.device(key) as Selectable<DevicesTable> | undefined;
      return r ? toDevice(r) : undefined;
    }
    const r = await this.#db.selectFrom('devices').selectAll().where('id', '=', key).executeTakeFirst();
    return r ? toDevice(r) : undefined;
  }

  async create(id: string, fields: DevicePatch, now: string): Promise<Device> {
    const t = isoIn(now);
    const cols = patchColumns(fields);
    const row = {
      ...cols,
      id: idIn(id),
      status: cols.status ?? 'authenticated',
      created_at: t,
      updated_at: t,
    };
    const r = await this.#db.insertInto('devices').values(row as never)
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!r) throw conflict('device exists');
    return toDevice(r);
  }

  async update(id: string, patch: DevicePatch, now: string): Promise<boolean> {
    const cols = patchColumns(patch);
    const key = idIn(id);
    const t = isoIn(now);
    // Device-plane updates (last seen, tokens, inventory) join the group commit.
    if (this.#fast?.idle()) return this.#fast.updateDevice(key, { ...cols, updated_at: t });
    const r = await this.#db.updateTable('devices')
      .set({ ...cols, updated_at: t })
      .where('id', '=', key)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  #filter(q: Filter) {
    const lower = this.#backend.lowerFn;
    return (eb: ExpressionBuilder<StorageTables, 'devices'>) => {
      const and = [];
      if (q.status !== undefined) and.push(eb('status', '=', statusIn(q.status)));
      if (q.serialNumber !== undefined) and.push(eb('serial_number', '=', textIn(q.serialNumber, TEXT_MAX)));
      if (q.model !== undefined) and.push(eb('model', '=', textIn(q.model, TEXT_MAX)));
      if (q.osVersion !== undefined) and.push(eb('os_version', '=', textIn(q.osVersion, TEXT_MAX)));
      if (q.search !== undefined && q.search !== '') {
        const needle = textIn(q.search, 256).toLowerCase();
        const has = (col: 'device_name' | 'serial_number' | 'model_name') =>
          containsExpr(lower, col, needle, this.#backend.kind);
        and.push(eb.or([has('device_name'), has('serial_number'), has('model_name')]));
      }
      if (q.notSeenSince !== undefined) {
        and.push(eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', isoIn(q.notSeenSince))]));
      }
      return eb.and(and);
    };
  }

  async list(q: DeviceQuery): Promise<Page<Device>> {
    const limit = limitIn(q.limit);
    let query = this.#db.selectFrom('devices').selectAll().where(this.#filter(q));
    if (q.after !== undefined) query = query.where('id', '>', textIn(q.after, ID_MAX));
    const rows = await query.orderBy('id').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(toDevice);
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, next: last.id } : { items };
  }

  async listIds(q: DeviceQuery): Promise<Page<string>> {
    const limit = limitIn(q.limit, 10_000);
    let query = this.#db.selectFrom('devices').select('id').where(this.#filter(q));
    if (q.after !== undefined) query = query.where('id', '>', textIn(q.after, ID_MAX));
    const rows = await query.orderBy('id').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map((r) => r.id);
    const last = items[items.length - 1];
    return rows.length > limit && last !== undefined ? { items, next: last } : { items };
  }

  async count(q: Filter = {}): Promise<number> {
    const r = await this.#db.selectFrom('devices')
      .select((eb) => eb.fn.countAll().as('n'))
      .where(this.#filter(q))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async replaceApps(id: string, apps: InstalledApp[], now: string): Promise<void> {
    const deviceId = idIn(id);
    const t = isoIn(now);
    if (!Array.isArray(apps) || apps.length > 100_000) throw badRequest('invalid app list');
    // One row per identifier; a repeated identifier keeps its first entry.
    const seen = new Set<string>();
    const rows: Insertable<DeviceAppsTable>[] = [];
    for (const a of apps) {
      const identifier = textIn(a.identifier, TEXT_MAX);
      if (seen.has(identifier)) continue;
      seen.add(identifier);
      if (a.bundleSize !== null && !Number.isSafeInteger(a.bundleSize)) throw badRequest('invalid value');
      rows.push({
        device_id: deviceId,
        identifier,
        name: a.name === null ? null : textIn(a.name, TEXT_MAX),
        version: a.version === null ? null : textIn(a.version, TEXT_MAX),
        short_version: a.shortVersion === null ? null : textIn(a.shortVersion, TEXT_MAX),
        bundle_size: a.bundleSize,
        is_managed: a.isManaged === null ? null : Boolean(a.isManaged),
        updated_at: t,
      });
    }
    await this.#db.transaction().execute(async (trx) => {
      const exists = await trx.selectFrom('devices').select('id').where('id', '=', deviceId).executeTakeFirst();
      if (!exists) throw notFound('no such device');
      await trx.deleteFrom('device_apps').where('device_id', '=', deviceId).execute();
      // 8 parameters a row: stay well under both backends' parameter limits.
      for (let i = 0; i < rows.length; i += 1000) {
        await trx.insertInto('device_apps').values(rows.slice(i, i + 1000)).execute();
      }
    }).catch((e: unknown) => {
      if (dbErrorKind(e) === 'foreign_key') throw notFound('no such device');
      throw e;
    });
  }

  async listApps(id: string): Promise<InstalledApp[]> {
    const rows = await this.#db.selectFrom('device_apps').selectAll()
      .where('device_id', '=', idIn(id))
      .orderBy('identifier')
      .execute();
    return rows.map((r) => ({
      identifier: r.identifier,
      name: r.name,
      version: r.version,
      shortVersion: r.short_version,
      bundleSize: numOutOrNull(r.bundle_size),
      isManaged: boolOutOrNull(r.is_managed),
    }));
  }
}

function containsExpr(lower: string, col: string, needle: string, kind: Backend['kind']) {
  const fn = sql.raw(lower);
  const c = sql.ref(col);
  return kind === 'postgres'
    ? sql<boolean>`strpos(${fn}(${c}), ${needle}) > 0`
    : sql<boolean>`instr(${fn}(${c}), ${needle}) > 0`;
}
