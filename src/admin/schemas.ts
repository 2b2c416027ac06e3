// TypeBox schemas shared by the admin routes. Every object is closed
// (additionalProperties: false); query-string values are strings with
// patterns (no type coercion happens anywhere).
import { Type } from 'typebox';
import type { TSchema } from 'typebox';
import { COMMAND_UUID_PATTERN, MAX_DEVICES_PER_COMMAND, REQUEST_TYPE_PATTERN } from '../services/commands.ts';
import { DEVICE_ID_PATTERN } from '../services/devices.ts';

const closed = { additionalProperties: false } as const;

export const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

export const ErrorBody = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    issues: Type.Optional(Type.Array(Type.String())),
  },
  closed,
);

export const DeviceId = Type.String({ pattern: DEVICE_ID_PATTERN, maxLength: 128 });
export const CommandUuid = Type.String({ pattern: COMMAND_UUID_PATTERN, maxLength: 36 });
export const RequestType = Type.String({ pattern: REQUEST_TYPE_PATTERN, maxLength: 64 });
/** Page size in a query string: "1".."1000". */
export const LimitString = Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$' });
export const IsoTimeString = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})$',
  maxLength: 40,
});
/** Free text in a query string: printable, bounded. */
export const SearchString = Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]{1,128}$', maxLength: 128 });
export const DeviceStatus = Type.Union([Type.Literal('authenticated'), Type.Literal('enrolled'), Type.Literal('checked_out')]);
export const QueueStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('acknowledged'),
  Type.Literal('error'),
  Type.Literal('not_now'),
  Type.Literal('cancelled'),
]);

const deviceViewProps = {
  id: Type.String(),
  status: DeviceStatus,
  serialNumber: Nullable(Type.String()),
  model: Nullable(Type.String()),
  modelName: Nullable(Type.String()),
  productName: Nullable(Type.String()),
  deviceName: Nullable(Type.String()),
  osVersion: Nullable(Type.String()),
  buildVersion: Nullable(Type.String()),
  isSupervised: Nullable(Type.Boolean()),
  isEncrypted: Nullable(Type.Boolean()),
  passcodePresent: Nullable(Type.Boolean()),
  passcodeCompliant: Nullable(Type.Boolean()),
  hasPushToken: Type.Boolean(),
  enrolledAt: Nullable(Type.String()),
  lastSeenAt: Nullable(Type.String()),
  checkedOutAt: Nullable(Type.String()),
};

export const DeviceView = Type.Object(deviceViewProps, closed);

export const InstalledApp = Type.Object(
  {
    identifier: Type.String(),
    name: Nullable(Type.String()),
    version: Nullable(Type.String()),
    shortVersion: Nullable(Type.String()),
    bundleSize: Nullable(Type.Number()),
    isManaged: Nullable(Type.Boolean()),
  },
  closed,
);

/** Any JSON value (parsed device reports and results). */
export const JsonAny = Type.Unknown({ description: 'any JSON value' });

export const DeviceDetail = Type.Object(
  {
    ...deviceViewProps,
    apps: Type.Array(InstalledApp),
    deviceInfo: JsonAny,
    securityInfo: JsonAny,
  },
  closed,
);

export const DevicePage = Type.Object(
  { items: Type.Array(DeviceView), next: Type.Optional(Type.String()) },
  closed,
);

const queueEntryProps = {
  deviceId: Type.String(),
  commandUuid: Type.String(),
  requestType: Type.String(),
  status: QueueStatus,
  queuedAt: Type.String(),
  deliveries: Type.Integer(),
  lastDeliveredAt: Nullable(Type.String()),
  resultAt: Nullable(Type.String()),
  notNowCount: Type.Integer(),
};

export const QueueEntryView = Type.Object(queueEntryProps, closed);

export const CommandStatus = Type.Object(
  {
    commandUuid: Type.String(),
    requestType: Type.String(),
    createdBy: Type.String(),
    createdAt: Type.String(),
    summary: Type.Object(
      {
        pending: Type.Integer(),
        acknowledged: Type.Integer(),
        error: Type.Integer(),
        not_now: Type.Integer(),
        cancelled: Type.Integer(),
      },
      closed,
    ),
    entries: Type.Object({ items: Type.Array(QueueEntryView), next: Type.Optional(Type.String()) }, closed),
  },
  closed,
);

export const CommandResult = Type.Object(
  {
    ...queueEntryProps,
    result: JsonAny,
    resultRaw: Nullable(Type.String({ description: 'raw result plist, base64' })),
    errorChain: JsonAny,
  },
  closed,
);

/** Keys of a command payload: Apple's key names (RequestType is not a payload key). */
export const PAYLOAD_KEY_PATTERN = '^(?!RequestType$)[A-Za-z][A-Za-z0-9_]{0,63}$';

export const EnqueueBody = Type.Object(
  {
    deviceIds: Type.Array(DeviceId, { minItems: 1, maxItems: MAX_DEVICES_PER_COMMAND }),
    requestType: RequestType,
    payload: Type.Optional(
      Type.Object({}, { patternProperties: { [PAYLOAD_KEY_PATTERN]: JsonAny }, additionalProperties: false, maxProperties: 64 }),
    ),
    commandUuid: Type.Optional(CommandUuid),
    /** Wake the devices through APNs (default true when push is configured). */
    push: Type.Optional(Type.Boolean()),
  },
  closed,
);

export const EnqueueResult = Type.Object(
  { commandUuid: Type.String(), requestType: Type.String(), queued: Type.Integer() },
  closed,
);

export const CancelResult = Type.Object({ cancelled: Type.Boolean() }, closed);

export const Health = Type.Object(
  { status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')]) },
  closed,
);
