// One parse of a device-plane body, shared by the gateway and the core so both
// derive exactly the same message from the same bytes. Pure: no I/O.
import { badRequest } from '../lib/errors.ts';
import { parsePlistDict, type PlistDict, type PlistLimits } from './plist/index.ts';
import { parseCheckin, type CheckinMessageType } from './checkin/parse.ts';
import { parseCommandReport, plistToJson, type CommandStatus } from './commands/results.ts';
import type { JsonValue } from '../audit/types.ts';

export type DeviceEndpointName = 'checkin' | 'connect' | 'mdm';

export type DeviceMessage =
  | { kind: 'checkin'; messageType: CheckinMessageType; dict: PlistDict; json: JsonValue }
  | { kind: 'report'; status: CommandStatus; dict: PlistDict; json: JsonValue };

export function parseDeviceMessage(endpoint: DeviceEndpointName, body: Uint8Array, limits: Partial<PlistLimits>): DeviceMessage {
  const dict = parsePlistDict(body, limits);
  const isCheckin = endpoint === 'checkin' || (endpoint === 'mdm' && 'MessageType' in dict);
  if (isCheckin) {
    // Checks the MessageType and every key against Apple's check-in schema (generated tables).
    const { messageType } = parseCheckin(dict);
    return { kind: 'checkin', messageType, dict, json: plistToJson(dict) };
  }
  if ('MessageType' in dict) throw badRequest('check-in message sent to the connect endpoint');
  const { status } = parseCommandReport(dict);
  return { kind: 'report', status, dict, json: plistToJson(dict) };
}
