// TEMPORARY stand-in for the protocol's generated command builder
// (src/protocol/commands, being written): a handful of RequestTypes with their
// keys, built with the real plist builder. Replaced by a re-export of
// buildCommand as soon as that lands.
import { buildPlist } from '../protocol/plist/index.ts';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';
import type { JsonValue } from '../audit/types.ts';
import { badRequest } from '../lib/errors.ts';
import type { CommandBuilder } from '../services/commands.ts';

type KeyType = 'string' | 'integer' | 'boolean' | 'data' | 'string[]';
const KNOWN: Record<string, { required: Record<string, KeyType>; optional: Record<string, KeyType> }> = {
  DeviceInformation: { required: { Queries: 'string[]' }, optional: {} },
  SecurityInfo: { required: {}, optional: {} },
  ProfileList: { required: {}, optional: {} },
  CertificateList: { required: {}, optional: {} },
  InstalledApplicationList: { required: {}, optional: { ManagedAppsOnly: 'boolean', Identifiers: 'string[]' } },
  DeviceLock: { required: {}, optional: { PIN: 'string', Message: 'string', PhoneNumber: 'string' } },
  EnableLostMode: { required: {}, optional: { Message: 'string', PhoneNumber: 'string', Footnote: 'string' } },
  DisableLostMode: { required: {}, optional: {} },
  EraseDevice: { required: {}, optional: { PIN: 'string', PreserveDataPlan: 'boolean' } },
  RestartDevice: { required: {}, optional: { NotifyUser: 'boolean' } },
  InstallProfile: { required: { Payload: 'data' }, optional: {} },
  RemoveProfile: { required: { Identifier: 'string' }, optional: {} },
};

function convert(value: JsonValue, type: KeyType): PlistValue {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'data':
      if (typeof value === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0) {
        return new Uint8Array(Buffer.from(value, 'base64'));
      }
      break;
    case 'string[]':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
      break;
  }
  throw badRequest('invalid command');
}

export const commandBuilder: CommandBuilder = ({ uuid, requestType, payload }) => {
  const schema = KNOWN[requestType];
  if (!schema) throw badRequest('unknown request type');
  const command: PlistDict = { RequestType: requestType };
  for (const [key, value] of Object.entries(payload)) {
    const type = schema.required[key] ?? schema.optional[key];
    if (type === undefined) throw badRequest('invalid command');
    command[key] = convert(value, type);
  }
  for (const key of Object.keys(schema.required)) if (!(key in payload)) throw badRequest('invalid command');
  return { plist: buildPlist({ Command: command, CommandUUID: uuid }) };
};
