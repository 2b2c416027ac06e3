// What the admin plane and the core's IPC handler may call. Each service is a
// factory with narrow typed dependencies (see the service files); these are
// the shapes the routes depend on.
import type { Device, DeviceQuery, InstalledApp, Page, QueueEntry, QueueStatus } from '../storage/types.ts';
import type { JsonValue } from '../audit/types.ts';
import type { AuthzContext } from '../authz/types.ts';

/** Who is acting, and from where; passed to every state-changing call. */
export interface Actor {
  type: 'admin' | 'token' | 'system';
  id: string;
  /** Permissions the actor holds (checked in the service layer). */
  permissions: ReadonlySet<string>;
  source?: string;
  requestId?: string;
  /** Roles behind the permissions (set by src/authz): principal, device-group limits, approval being run. */
  authz?: AuthzContext;
  /** Set for signed-in administrators (src/identity): session handle and time of the last MFA (for step-up). */
  session?: { handle: string; mfaAt: string };
}

/** Device as shown to administrators: no push secrets, no sealed tokens. */
export interface DeviceView {
  id: string;
  status: Device['status'];
  serialNumber: string | null;
  model: string | null;
  modelName: string | null;
  productName: string | null;
  deviceName: string | null;
  osVersion: string | null;
  buildVersion: string | null;
  isSupervised: boolean | null;
  isEncrypted: boolean | null;
  passcodePresent: boolean | null;
  passcodeCompliant: boolean | null;
  hasPushToken: boolean;
  enrolledAt: string | null;
  lastSeenAt: string | null;
  checkedOutAt: string | null;
}

export interface DeviceDetail extends DeviceView {
  apps: InstalledApp[];
  deviceInfo: JsonValue | null;
  securityInfo: JsonValue | null;
}

export interface DeviceService {
  list(actor: Actor, q: DeviceQuery): Promise<Page<DeviceView>>;
  /** Throws RampartError('not_found'). */
  get(actor: Actor, id: string): Promise<DeviceDetail>;
}

export interface EnqueueInput {
  deviceIds: string[];
  requestType: string;
  /** Command keys other than RequestType, validated against Apple's schema. */
  payload: { [k: string]: JsonValue };
  /** Optional caller-chosen CommandUUID (idempotency key); generated when absent. */
  commandUuid?: string;
  /** Wake the devices through APNs in the same transaction (default true when push is configured). */
  push?: boolean;
}

export interface EnqueueResult {
  commandUuid: string;
  requestType: string;
  queued: number;
}

export interface QueueEntryView {
  deviceId: string;
  commandUuid: string;
  requestType: string;
  status: QueueStatus;
  queuedAt: string;
  deliveries: number;
  lastDeliveredAt: string | null;
  resultAt: string | null;
  notNowCount: number;
}

export interface CommandStatus {
  commandUuid: string;
  requestType: string;
  createdBy: string;
  createdAt: string;
  summary: Record<QueueStatus, number>;
  entries: Page<QueueEntryView>;
}

export interface CommandResult extends QueueEntryView {
  /** Parsed result (binary values as base64 strings). */
  result: JsonValue | null;
  /** Raw result plist, base64. */
  resultRaw: string | null;
  errorChain: JsonValue | null;
}

export interface CommandService {
  /** Validates against Apple's schema before anything is queued; throws RampartError('bad_request'). */
  enqueue(actor: Actor, input: EnqueueInput): Promise<EnqueueResult>;
  status(actor: Actor, commandUuid: string, page: { after?: string; limit: number }): Promise<CommandStatus>;
  result(actor: Actor, commandUuid: string, deviceId: string): Promise<CommandResult>;
  forDevice(actor: Actor, deviceId: string, q: { status?: QueueStatus; limit: number }): Promise<QueueEntryView[]>;
  cancel(actor: Actor, commandUuid: string, deviceId: string): Promise<boolean>;
}

export type { QueueEntry };
