// Command reports: what a device PUTs on the connect endpoint, and a JSON
// projection of plist values for storage.

import { Buffer } from 'node:buffer';
import { badRequest } from '../../lib/errors.ts';
import { isPlistDict } from '../plist/types.ts';
import type { PlistDict, PlistValue } from '../plist/types.ts';

export const COMMAND_STATUSES = ['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export interface ErrorChainItem {
  errorCode?: number | bigint;
  errorDomain?: string;
  localizedDescription?: string;
  usEnglishDescription?: string;
}

export interface CommandReport {
  /** UDID (device enrollment) or EnrollmentID (user enrollment): the device channel. */
  channelId: string;
  udid?: string;
  enrollmentId?: string;
  /** Present on a user channel report. */
  userId?: string;
  enrollmentUserId?: string;
  status: CommandStatus;
  /** Required unless status is Idle. */
  commandUuid?: string;
  errorChain?: ErrorChainItem[];
  /** The whole report, including the command-specific response keys. */
  body: PlistDict;
}

/** Identifiers used as storage keys: printable ASCII, bounded. */
const IDENTIFIER = /^[\x21-\x7e]{1,128}$/;
const MAX_ERROR_CHAIN = 32;

function optString(d: PlistDict, key: string): string | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest('invalid command report');
  return v;
}

function optIdentifier(d: PlistDict, key: string): string | undefined {
  const v = optString(d, key);
  if (v !== undefined && !IDENTIFIER.test(v)) throw badRequest('invalid command report');
  return v;
}

function errorChain(v: PlistValue | undefined): ErrorChainItem[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_ERROR_CHAIN) throw badRequest('invalid command report');
  return v.map((item) => {
    if (!isPlistDict(item)) throw badRequest('invalid command report');
    const out: ErrorChainItem = {};
    const code = item['ErrorCode'];
    if (code !== undefined) {
      if (typeof code !== 'bigint' && !(typeof code === 'number' && Number.isInteger(code))) throw badRequest('invalid command report');
      out.errorCode = code;
    }
    const domain = optString(item, 'ErrorDomain');
    if (domain !== undefined) out.errorDomain = domain;
    const loc = optString(item, 'LocalizedDescription');
    if (loc !== undefined) out.localizedDescription = loc;
    const en = optString(item, 'USEnglishDescription');
    if (en !== undefined) out.usEnglishDescription = en;
    return out;
  });
}

/** Parses a connect-endpoint report (a parsed plist dict). Throws badRequest when malformed. */
export function parseCommandReport(value: PlistValue): CommandReport {
  if (!isPlistDict(value)) throw badRequest('invalid command report');
  const status = value['Status'];
  if (typeof status !== 'string' || !(COMMAND_STATUSES as readonly string[]).includes(status)) throw badRequest('invalid command status');
  const udid = optIdentifier(value, 'UDID');
  const enrollmentId = optIdentifier(value, 'EnrollmentID');
  const channelId = udid ?? enrollmentId;
  if (channelId === undefined) throw badRequest('missing device identifier');
  const commandUuid = optIdentifier(value, 'CommandUUID');
  if (status !== 'Idle' && commandUuid === undefined) throw badRequest('missing command uuid');
  const report: CommandReport = { channelId, status: status as CommandStatus, body: value };
  if (udid !== undefined) report.udid = udid;
  if (enrollmentId !== undefined) report.enrollmentId = enrollmentId;
  const userId = optIdentifier(value, 'UserID');
  if (userId !== undefined) report.userId = userId;
  const enrollmentUserId = optIdentifier(value, 'EnrollmentUserID');
  if (enrollmentUserId !== undefined) report.enrollmentUserId = enrollmentUserId;
  if (commandUuid !== undefined) report.commandUuid = commandUuid;
  const chain = errorChain(value['ErrorChain']);
  if (chain !== undefined) report.errorChain = chain;
  return report;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * JSON projection of a plist value for storage: data becomes a base64 string,
 * a date an ISO 8601 string, a bigint a decimal string. Lossy by design (the
 * schema says which strings were data or dates). Depth is bounded by the
 * parser's limits; this function adds its own ceiling for other callers.
 */
export function plistToJson(value: PlistValue, depth = 0): JsonValue {
  if (depth > 256) throw badRequest('plist nesting too deep');
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw badRequest('value not representable in JSON');
      return value;
    case 'bigint':
      return value.toString();
    default:
      break;
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map((v) => plistToJson(v, depth + 1));
  const out: { [key: string]: JsonValue } = {};
  for (const k of Object.keys(value)) {
    const v = value[k];
    if (v === undefined) continue;
    Object.defineProperty(out, k, { value: plistToJson(v, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
