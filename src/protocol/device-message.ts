// One parse of a device-plane body, shared by the gateway and the core so both
// derive exactly the same message from the same bytes. Pure: no I/O.
import { badRequest } from '../lib/errors.ts';
import { parsePlistDict, type PlistDict, type PlistLimits } from './plist/index.ts';
import { parseCheckin } from './checkin/parse.ts';
import { parseCommandReport, plistToJson } from './commands/results.ts';
import type { JsonValue } from '../audit/types.ts';

export type DeviceEndpointName = 'checkin' | 'connect' | 'mdm';

export type DeviceMessage =
  | { kind: 'checkin'; messageType: string; dict: PlistDict; json: JsonValue }
  | { kind: 'report'; status: string; dict: PlistDict; json: JsonValue };

const CHECKIN_TYPES = new Set([
  'Authenticate',
  'TokenUpdate',
  'CheckOut',
  'UserAuthenticate',
  'SetBootstrapToken',
  'GetBootstrapToken',
  'DeclarativeManagement',
  'GetToken',
]);
const REPORT_STATUSES = new Set(['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow']);

export function parseDeviceMessage(endpoint: DeviceEndpointName, body: Uint8Array, limits: Partial<PlistLimits>): DeviceMessage {
  const dict = parsePlistDict(body, limits);
  const isCheckin = endpoint === 'checkin' || (endpoint === 'mdm' && 'MessageType' in dict);
  if (isCheckin) {
    const t = dict.MessageType;
    if (typeof t !== 'string') throw badRequest('missing MessageType');
    if (!CHECKIN_TYPES.has(t)) throw badRequest('unsupported check-in message');
    // Validates every key against Apple's check-in schema (generated tables).
    parseCheckin(dict);
    return { kind: 'checkin', messageType: t, dict, json: plistToJson(dict) };
  }
  if ('MessageType' in dict) throw badRequest('check-in message sent to the connect endpoint');
  const s = dict.Status;
  if (typeof s !== 'string' || !REPORT_STATUSES.has(s)) throw badRequest('invalid Status');
  parseCommandReport(dict);
  return { kind: 'report', status: s, dict, json: plistToJson(dict) };
}
