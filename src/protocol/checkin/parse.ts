// Typed MDM check-in messages, validated against the generated check-in
// schema tables (lenient: devices add keys; known keys must have their type;
// keys Apple marks required on every platform and channel must be present).
//
// The device channel is the UDID (device enrollment) or the EnrollmentID
// (user enrollment); one of them must be present in every message and is
// exposed as `channelId`. A message carrying UserID / EnrollmentUserID /
// UserShortName is on the user channel of that device.

import { badRequest } from '../../lib/errors.ts';
import { isPlistDict } from '../plist/types.ts';
import type { PlistDict, PlistValue } from '../plist/types.ts';
import { CHECKIN_SCHEMAS } from '../commands/generated/checkin.ts';
import { validateKeys } from '../commands/validate.ts';

export interface CheckinBase {
  /** UDID, or EnrollmentID for user enrollment. */
  channelId: string;
  udid?: string;
  enrollmentId?: string;
  userId?: string;
  enrollmentUserId?: string;
  userShortName?: string;
  userLongName?: string;
  /** True when the message comes from a user channel (UserID, EnrollmentUserID or UserShortName present). */
  userChannel: boolean;
  topic?: string;
  /** The whole validated message. */
  body: PlistDict;
}

export interface AuthenticateMessage extends CheckinBase {
  messageType: 'Authenticate';
  topic: string;
  serialNumber?: string;
  model?: string;
  modelName?: string;
  deviceName?: string;
  productName?: string;
  osVersion?: string;
  buildVersion?: string;
}

export interface TokenUpdateMessage extends CheckinBase {
  messageType: 'TokenUpdate';
  topic: string;
  token: Uint8Array;
  pushMagic: string;
  unlockToken?: Uint8Array;
  awaitingConfiguration: boolean;
  notOnConsole?: boolean;
}

export interface CheckOutMessage extends CheckinBase {
  messageType: 'CheckOut';
  topic: string;
}

export interface UserAuthenticateMessage extends CheckinBase {
  messageType: 'UserAuthenticate';
  /** Absent on the first request, then the device's answer to the digest challenge. */
  digestResponse?: string;
}

export interface SetBootstrapTokenMessage extends CheckinBase {
  messageType: 'SetBootstrapToken';
  /** Absent means: clear the stored token. */
  bootstrapToken?: Uint8Array;
  awaitingConfiguration: boolean;
}

export interface GetBootstrapTokenMessage extends CheckinBase {
  messageType: 'GetBootstrapToken';
  awaitingConfiguration: boolean;
}

export interface DeclarativeManagementMessage extends CheckinBase {
  messageType: 'DeclarativeManagement';
  endpoint: string;
  data?: Uint8Array;
}

export interface GetTokenMessage extends CheckinBase {
  messageType: 'GetToken';
  tokenServiceType: string;
  tokenParameters?: PlistDict;
}

export type CheckinMessage =
  | AuthenticateMessage
  | TokenUpdateMessage
  | CheckOutMessage
  | UserAuthenticateMessage
  | SetBootstrapTokenMessage
  | GetBootstrapTokenMessage
  | DeclarativeManagementMessage
  | GetTokenMessage;

export type CheckinMessageType = CheckinMessage['messageType'];

export const SUPPORTED_CHECKIN_TYPES: readonly CheckinMessageType[] = [
  'Authenticate',
  'TokenUpdate',
  'CheckOut',
  'UserAuthenticate',
  'SetBootstrapToken',
  'GetBootstrapToken',
  'DeclarativeManagement',
  'GetToken',
];

/** Identifiers used as storage keys: printable ASCII, bounded. */
const IDENTIFIER = /^[\x21-\x7e]{1,128}$/;

// Keys validated here by hand for every message type (some schemas omit them).
const CHANNEL_KEYS = ['UDID', 'EnrollmentID', 'UserID', 'EnrollmentUserID', 'UserShortName', 'UserLongName', 'Topic'] as const;

function str(d: PlistDict, key: string): string | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest('invalid check-in message');
  return v;
}

function ident(d: PlistDict, key: string): string | undefined {
  const v = str(d, key);
  if (v !== undefined && !IDENTIFIER.test(v)) throw badRequest('invalid check-in message');
  return v;
}

const data = (d: PlistDict, k: string): Uint8Array | undefined => d[k] as Uint8Array | undefined;
const bool = (d: PlistDict, k: string): boolean | undefined => d[k] as boolean | undefined;
// After schema validation these keys are known to be strings when present.
const s = (d: PlistDict, k: string): string => d[k] as string;

function assign<T extends object>(target: T, fields: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) (target as Record<string, unknown>)[k] = v;
  return target;
}

/** Parses a check-in request body (already parsed from plist). Throws badRequest when invalid. */
export function parseCheckin(value: PlistValue): CheckinMessage {
  if (!isPlistDict(value)) throw badRequest('invalid check-in message');
  const messageType = value['MessageType'];
  if (typeof messageType !== 'string') throw badRequest('invalid check-in message');
  if (!(SUPPORTED_CHECKIN_TYPES as readonly string[]).includes(messageType) || !Object.hasOwn(CHECKIN_SCHEMAS, messageType)) {
    throw badRequest('unsupported check-in message');
  }
  const schema = CHECKIN_SCHEMAS[messageType];
  if (schema === undefined) throw badRequest('unsupported check-in message');
  // The first UserAuthenticate carries no DigestResponse (the server answers
  // with a DigestChallenge), although the schema marks it required.
  const issues = validateKeys(schema.payloadKeys, value, 'lenient').filter(
    (i) => !(messageType === 'UserAuthenticate' && i.code === 'missing' && i.path === '/DigestResponse'),
  );
  if (issues.length > 0) throw badRequest('invalid check-in message');
  for (const k of CHANNEL_KEYS) str(value, k);

  const udid = ident(value, 'UDID');
  const enrollmentId = ident(value, 'EnrollmentID');
  const channelId = udid ?? enrollmentId;
  if (channelId === undefined) throw badRequest('missing device identifier');
  const userId = ident(value, 'UserID');
  const enrollmentUserId = ident(value, 'EnrollmentUserID');
  const userShortName = str(value, 'UserShortName');
  const base: CheckinBase = assign(
    { channelId, userChannel: userId !== undefined || enrollmentUserId !== undefined || userShortName !== undefined, body: value },
    { udid, enrollmentId, userId, enrollmentUserId, userShortName, userLongName: str(value, 'UserLongName'), topic: str(value, 'Topic') },
  );

  const needTopic = (): string => {
    const t = base.topic;
    if (t === undefined || t.length === 0) throw badRequest('invalid check-in message');
    return t;
  };

  switch (messageType as CheckinMessageType) {
    case 'Authenticate':
      return assign<AuthenticateMessage>(
        { ...base, messageType: 'Authenticate', topic: needTopic() },
        {
          serialNumber: str(value, 'SerialNumber'),
          model: str(value, 'Model'),
          modelName: str(value, 'ModelName'),
          deviceName: str(value, 'DeviceName'),
          productName: str(value, 'ProductName'),
          osVersion: str(value, 'OSVersion'),
          buildVersion: str(value, 'BuildVersion'),
        },
      );
    case 'TokenUpdate':
      return assign<TokenUpdateMessage>(
        {
          ...base,
          messageType: 'TokenUpdate',
          topic: needTopic(),
          token: data(value, 'Token') as Uint8Array,
          pushMagic: s(value, 'PushMagic'),
          awaitingConfiguration: bool(value, 'AwaitingConfiguration') ?? false,
        },
        { unlockToken: data(value, 'UnlockToken'), notOnConsole: bool(value, 'NotOnConsole') },
      );
    case 'CheckOut':
      return { ...base, messageType: 'CheckOut', topic: needTopic() };
    case 'UserAuthenticate':
      return assign<UserAuthenticateMessage>({ ...base, messageType: 'UserAuthenticate' }, { digestResponse: str(value, 'DigestResponse') });
    case 'SetBootstrapToken':
      return assign<SetBootstrapTokenMessage>(
        { ...base, messageType: 'SetBootstrapToken', awaitingConfiguration: bool(value, 'AwaitingConfiguration') ?? false },
        { bootstrapToken: data(value, 'BootstrapToken') },
      );
    case 'GetBootstrapToken':
      return { ...base, messageType: 'GetBootstrapToken', awaitingConfiguration: bool(value, 'AwaitingConfiguration') ?? false };
    case 'DeclarativeManagement':
      return assign<DeclarativeManagementMessage>(
        { ...base, messageType: 'DeclarativeManagement', endpoint: s(value, 'Endpoint') },
        { data: data(value, 'Data') },
      );
    case 'GetToken': {
      const params = value['TokenParameters'];
      return assign<GetTokenMessage>(
        { ...base, messageType: 'GetToken', tokenServiceType: s(value, 'TokenServiceType') },
        { tokenParameters: isPlistDict(params) ? params : undefined },
      );
    }
  }
}
