// Maps a parsed device message (Apple's key names) to the services' typed
// inputs, checking the type of every key it takes. Anything missing or of the
// wrong type is a bad request.
import { badRequest } from '../lib/errors.ts';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';
import type { CheckinInput } from '../services/checkin.ts';
import type { ConnectInput } from '../services/connect.ts';

const MAX_ID = 128;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function reqString(d: PlistDict, k: string, max = 256): string {
  const v = d[k];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw badRequest(`invalid ${k}`);
  return v;
}
function optString(d: PlistDict, k: string, max = 256): string | undefined {
  const v = d[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) throw badRequest(`invalid ${k}`);
  return v;
}
function reqData(d: PlistDict, k: string, max: number): Uint8Array {
  const v = d[k];
  if (!(v instanceof Uint8Array) || v.length === 0 || v.length > max) throw badRequest(`invalid ${k}`);
  return v;
}
function optData(d: PlistDict, k: string, max: number): Uint8Array | undefined {
  return d[k] === undefined ? undefined : reqData(d, k, max);
}

/** The device channel id: UDID for device enrollments, EnrollmentID for user enrollments. */
export function channelId(d: PlistDict): string {
  const id = d.UDID ?? d.EnrollmentID;
  if (typeof id !== 'string' || id.length > MAX_ID || !ID_RE.test(id)) throw badRequest('invalid device identifier');
  if (d.UserID !== undefined || d.EnrollmentUserID !== undefined) throw badRequest('user channels are not supported');
  return id;
}

export function toCheckinInput(m: { messageType: string; dict: PlistDict }): CheckinInput {
  const d = m.dict;
  if (m.messageType === 'UserAuthenticate') {
    const id = d.UDID ?? d.EnrollmentID;
    if (typeof id !== 'string' || !ID_RE.test(id)) throw badRequest('invalid device identifier');
    return { type: 'UserAuthenticate', deviceId: id };
  }
  const deviceId = channelId(d);
  switch (m.messageType) {
    case 'Authenticate': {
      const input: CheckinInput = { type: 'Authenticate', deviceId, topic: reqString(d, 'Topic') };
      const opt: [keyof typeof input, string][] = [
        ['serialNumber', 'SerialNumber'],
        ['model', 'Model'],
        ['modelName', 'ModelName'],
        ['productName', 'ProductName'],
        ['osVersion', 'OSVersion'],
        ['buildVersion', 'BuildVersion'],
        ['deviceName', 'DeviceName'],
        ['imei', 'IMEI'],
        ['meid', 'MEID'],
      ];
      for (const [field, key] of opt) {
        const v = optString(d, key);
        if (v !== undefined) (input as Record<string, unknown>)[field] = v;
      }
      return input;
    }
    case 'TokenUpdate': {
      const input: CheckinInput = {
        type: 'TokenUpdate',
        deviceId,
        topic: reqString(d, 'Topic'),
        token: reqData(d, 'Token', 256),
        pushMagic: reqString(d, 'PushMagic', 128),
      };
      const unlock = optData(d, 'UnlockToken', 16 * 1024);
      if (unlock) input.unlockToken = unlock;
      if (typeof d.AwaitingConfiguration === 'boolean') input.awaitingConfiguration = d.AwaitingConfiguration;
      return input;
    }
    case 'CheckOut':
      return { type: 'CheckOut', deviceId };
    case 'SetBootstrapToken': {
      const token = d.BootstrapToken;
      if (token !== undefined && (!(token instanceof Uint8Array) || token.length > 16 * 1024)) throw badRequest('invalid BootstrapToken');
      return token ? { type: 'SetBootstrapToken', deviceId, bootstrapToken: token } : { type: 'SetBootstrapToken', deviceId };
    }
    case 'GetBootstrapToken':
      return { type: 'GetBootstrapToken', deviceId };
    case 'DeclarativeManagement':
      return { type: 'DeclarativeManagement', deviceId };
    case 'GetToken':
      return { type: 'GetToken', deviceId };
    default:
      throw badRequest('unsupported check-in message');
  }
}

const UUID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function toConnectInput(m: { status: string; dict: PlistDict }, raw: Uint8Array): ConnectInput {
  const d = m.dict;
  const deviceId = channelId(d);
  const status = m.status as ConnectInput['status'];
  const input: ConnectInput = { deviceId, status, body: d, raw };
  if (status !== 'Idle') {
    const uuid = d.CommandUUID;
    if (typeof uuid !== 'string' || !UUID_RE.test(uuid)) throw badRequest('invalid CommandUUID');
    input.commandUuid = uuid;
  }
  const chain: PlistValue | undefined = d.ErrorChain;
  if (chain !== undefined) input.errorChain = chain;
  return input;
}
