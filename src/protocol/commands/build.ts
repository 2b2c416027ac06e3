// Command builder: validates a payload against the generated schema and
// produces the command plist {CommandUUID, Command: {RequestType, ...payload}}.
//
// Payloads may arrive as JSON from the admin API: where the schema says
// <data>, a base64 string is decoded; where it says <date>, an ISO 8601 string
// (with a Z or ±hh:mm offset) becomes a Date; where it says <real>/<integer>,
// a number stays a number. Everything is then validated strictly (unknown
// keys refused) before a byte is built.

import { Buffer } from 'node:buffer';
import { badRequest } from '../../lib/errors.ts';
import { buildPlist } from '../plist/build.ts';
import { isPlistDict } from '../plist/types.ts';
import type { PlistDict } from '../plist/types.ts';
import type { CommandPayloads, CommandType } from './generated/types.ts';
import type { KeySchema } from './schema.ts';
import { commandSchema, pickVariant, summarizeIssues, validateCommandPayload } from './validate.ts';

export interface CommandInput {
  uuid: string;
  requestType: string;
  payload: Record<string, unknown>;
}

export interface BuiltCommand {
  uuid: string;
  requestType: string;
  plist: Uint8Array;
}

/** Command UUIDs: what devices echo back; kept to a conservative charset. */
const COMMAND_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

function fromBase64(s: string): Uint8Array | undefined {
  const t = s.replace(/\s+/g, '');
  if (!BASE64.test(t)) return undefined;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

function fromIso(s: string): Date | undefined {
  if (!ISO_DATE.test(s)) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * Converts JSON-shaped input to plist values following the schema. Values
 * that cannot be converted are left as they are so the validator reports them.
 */
export function coerceFromJson(schema: KeySchema, v: unknown, depth = 0): unknown {
  if (depth > 32) return v;
  switch (schema.type) {
    case 'data':
      return typeof v === 'string' ? (fromBase64(v) ?? v) : v;
    case 'date':
      return typeof v === 'string' ? (fromIso(v) ?? v) : v;
    case 'array': {
      const items = schema.subkeys ?? [];
      if (!Array.isArray(v) || items.length === 0) return v;
      if (items.length === 1) {
        const item = items[0] as KeySchema;
        return v.map((x) => coerceFromJson(item, x, depth + 1));
      }
      return v.map((x) => {
        const variant = pickVariant(items, x);
        return variant === undefined ? x : coerceFromJson(variant, x, depth + 1);
      });
    }
    case 'dictionary':
      return isPlistDict(v) ? coerceDict(schema.subkeys ?? [], v as Record<string, unknown>, depth + 1) : v;
    default:
      return v;
  }
}

function coerceDict(keys: readonly KeySchema[], dict: Record<string, unknown>, depth: number): Record<string, unknown> {
  if (keys.length === 0) return dict;
  const wildcard = keys.find((k) => k.wildcard === true);
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(dict)) {
    const k = keys.find((x) => x.wildcard !== true && x.key === name) ?? wildcard;
    const v = dict[name];
    // defineProperty: a JSON "__proto__" key stays an own property (and is then refused as unknown).
    Object.defineProperty(out, name, { value: k === undefined ? v : coerceFromJson(k, v, depth), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Builds a command plist, or throws badRequest naming (briefly) what is wrong. */
export function buildCommand(input: CommandInput): BuiltCommand {
  const { uuid, requestType } = input;
  if (typeof uuid !== 'string' || !COMMAND_UUID.test(uuid)) throw badRequest('invalid command uuid');
  const schema = typeof requestType === 'string' ? commandSchema(requestType) : undefined;
  if (schema === undefined) throw badRequest('unknown request type');
  if (!isPlistDict(input.payload)) throw badRequest('invalid command: /: expected a dictionary');
  const payload = coerceDict(schema.payloadKeys, input.payload, 0);
  const issues = validateCommandPayload(requestType, payload);
  if (issues.length > 0) throw badRequest(`invalid command: ${summarizeIssues(issues)}`);
  const command: PlistDict = { ...(payload as PlistDict), RequestType: requestType };
  return { uuid, requestType, plist: buildPlist({ CommandUUID: uuid, Command: command }) };
}

/** Typed front end of buildCommand for any RequestType in the schema. */
export function buildTypedCommand<K extends CommandType>(requestType: K, uuid: string, payload: CommandPayloads[K]): BuiltCommand {
  return buildCommand({ uuid, requestType, payload: payload as unknown as Record<string, unknown> });
}

type P<K extends CommandType> = CommandPayloads[K];

/** Helpers for the daily commands. Each takes the command UUID (the caller's randomness) first. */
export const commands = {
  deviceInformation: (uuid: string, payload: P<'DeviceInformation'>) => buildTypedCommand('DeviceInformation', uuid, payload),
  securityInfo: (uuid: string) => buildTypedCommand('SecurityInfo', uuid, {}),
  installedApplicationList: (uuid: string, payload: P<'InstalledApplicationList'> = {}) => buildTypedCommand('InstalledApplicationList', uuid, payload),
  profileList: (uuid: string, payload: P<'ProfileList'> = {}) => buildTypedCommand('ProfileList', uuid, payload),
  installProfile: (uuid: string, payload: P<'InstallProfile'>) => buildTypedCommand('InstallProfile', uuid, payload),
  removeProfile: (uuid: string, payload: P<'RemoveProfile'>) => buildTypedCommand('RemoveProfile', uuid, payload),
  certificateList: (uuid: string, payload: P<'CertificateList'> = {}) => buildTypedCommand('CertificateList', uuid, payload),
  deviceLock: (uuid: string, payload: P<'DeviceLock'> = {}) => buildTypedCommand('DeviceLock', uuid, payload),
  enableLostMode: (uuid: string, payload: P<'EnableLostMode'>) => buildTypedCommand('EnableLostMode', uuid, payload),
  disableLostMode: (uuid: string) => buildTypedCommand('DisableLostMode', uuid, {}),
  deviceLocation: (uuid: string) => buildTypedCommand('DeviceLocation', uuid, {}),
  playLostModeSound: (uuid: string) => buildTypedCommand('PlayLostModeSound', uuid, {}),
  eraseDevice: (uuid: string, payload: P<'EraseDevice'> = {}) => buildTypedCommand('EraseDevice', uuid, payload),
  clearPasscode: (uuid: string, payload: P<'ClearPasscode'>) => buildTypedCommand('ClearPasscode', uuid, payload),
  restartDevice: (uuid: string, payload: P<'RestartDevice'> = {}) => buildTypedCommand('RestartDevice', uuid, payload),
  shutDownDevice: (uuid: string) => buildTypedCommand('ShutDownDevice', uuid, {}),
  installApplication: (uuid: string, payload: P<'InstallApplication'>) => buildTypedCommand('InstallApplication', uuid, payload),
  removeApplication: (uuid: string, payload: P<'RemoveApplication'>) => buildTypedCommand('RemoveApplication', uuid, payload),
  settings: (uuid: string, payload: P<'Settings'>) => buildTypedCommand('Settings', uuid, payload),
} as const;

