// Who may do what. Permissions are dotted scope strings held by an Actor; a
// scope grants itself and everything below it ("commands.send" grants
// "commands.send.lock"), and "*" grants everything. Sending a command needs
// the scope of the command's class; the class of each RequestType is fixed
// here, and anything not listed is "manage".
import type { Actor } from './types.ts';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { forbidden } from '../lib/errors.ts';

export const PERMISSIONS = {
  all: '*',
  devicesRead: 'devices.read',
  commandsRead: 'commands.read',
  commandsSend: 'commands.send',
  commandsCancel: 'commands.cancel',
  auditRead: 'audit.read',
} as const;

export type CommandClass = 'query' | 'lock' | 'manage' | 'erase';
export const COMMAND_CLASSES: readonly CommandClass[] = ['query', 'lock', 'manage', 'erase'];

const QUERY: readonly string[] = [
  'DeviceInformation',
  'SecurityInfo',
  'InstalledApplicationList',
  'ManagedApplicationList',
  'ProfileList',
  'ProvisioningProfileList',
  'CertificateList',
  'Restrictions',
  'AvailableOSUpdates',
  'OSUpdateStatus',
  'UserList',
  'ActiveNSExtensions',
  'NSExtensionMappings',
  'DeviceConfigured',
  'ManagedMediaList',
];
const LOCK: readonly string[] = ['DeviceLock', 'EnableLostMode', 'DisableLostMode', 'DeviceLocation', 'PlayLostModeSound'];
const ERASE: readonly string[] = ['EraseDevice'];

const CLASS_OF: ReadonlyMap<string, CommandClass> = new Map<string, CommandClass>([
  ...QUERY.map((t) => [t, 'query'] as const),
  ...LOCK.map((t) => [t, 'lock'] as const),
  ...ERASE.map((t) => [t, 'erase'] as const),
]);

/** The class of a RequestType; anything not listed (InstallProfile, Settings, ...) is "manage". */
export function commandClass(requestType: string): CommandClass {
  return CLASS_OF.get(requestType) ?? 'manage';
}

/** The permission needed to send a command of this RequestType. */
export function sendPermission(requestType: string): string {
  return `${PERMISSIONS.commandsSend}.${commandClass(requestType)}`;
}

/** Every scope a token may carry. */
export const KNOWN_SCOPES: readonly string[] = [
  PERMISSIONS.all,
  PERMISSIONS.devicesRead,
  PERMISSIONS.commandsRead,
  PERMISSIONS.commandsSend,
  ...COMMAND_CLASSES.map((c) => `${PERMISSIONS.commandsSend}.${c}`),
  PERMISSIONS.commandsCancel,
  'commands.bulk',
  'audit.read',
  'enroll.invite',
  'ca.read',
  'ca.manage',
  'push.manage',
  'groups.read',
  'groups.manage',
  'staff.read',
  'staff.write',
  'pii.reveal',
  'pii.access.read',
  'pii.export',
  'scim.provision',
  'admins.read',
  'admins.manage',
  'roles.manage',
  'tokens.manage',
  'sessions.manage',
  'approvals.decide',
  'metrics.read',
];

export function isKnownScope(scope: string): boolean {
  return KNOWN_SCOPES.includes(scope);
}

/** True when the actor holds the permission, "*", or a scope above it. */
export function hasPermission(actor: Pick<Actor, 'permissions'>, permission: string): boolean {
  if (permission === '' || permission === PERMISSIONS.all) return actor.permissions.has(PERMISSIONS.all);
  if (actor.permissions.has(PERMISSIONS.all)) return true;
  const parts = permission.split('.');
  for (let i = parts.length; i > 0; i--) {
    if (actor.permissions.has(parts.slice(0, i).join('.'))) return true;
  }
  return false;
}

/**
 * True when the actor could hold this permission or one below it (a coarse
 * gate before the request body is read: "commands.send.lock" passes the gate
 * for "commands.send"; the service then checks the exact class).
 */
export function mayHoldUnder(actor: Pick<Actor, 'permissions'>, permission: string): boolean {
  if (hasPermission(actor, permission)) return true;
  const prefix = `${permission}.`;
  for (const p of actor.permissions) if (p.startsWith(prefix)) return true;
  return false;
}

export interface DenialContext {
  /** Audit action of the refused operation, e.g. "command.enqueue". */
  action: string;
  target?: { type: string; id: string };
  details?: { [k: string]: JsonValue };
}

/**
 * Throws forbidden (after recording a "denied" audit event) unless the actor
 * holds the permission.
 */
export async function authorize(audit: AuditRecorder, actor: Actor, permission: string, ctx: DenialContext): Promise<void> {
  if (hasPermission(actor, permission)) return;
  await audit.record({
    action: ctx.action,
    actor: { type: actor.type, id: actor.id },
    ...(actor.source !== undefined ? { source: actor.source } : {}),
    ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
    ...(ctx.target ? { target: ctx.target } : {}),
    outcome: 'denied',
    details: { ...ctx.details, permission },
  });
  throw forbidden('forbidden', `missing permission ${permission}`);
}
