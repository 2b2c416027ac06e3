// Shapes other parts depend on. Services take these narrow interfaces; the
// implementations live in this folder.
import type { JsonValue } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';

/** Identity asks this for the permissions of a signed-in administrator (unscoped grants only). */
export interface PermissionResolver {
  permissionsFor(adminId: string): Promise<ReadonlySet<string>>;
}

/** Identity calls this after an OIDC sign-in with the roles its group mapping produced. */
export interface IdpRoleSync {
  syncRoles(adminId: string, roleNames: string[]): Promise<void>;
}

/** Device groups (built by the groups module); a role assignment may be limited to some. */
export interface GroupMembership {
  groupsOf(deviceId: string): Promise<string[]>;
}

/** Permissions held only for devices in some groups. */
export interface ScopedGrant {
  permissions: ReadonlySet<string>;
  groups: ReadonlySet<string>;
}

/** What src/authz adds to an Actor. */
export interface AuthzContext {
  /** The administrator acting (for a token: its owner). */
  principalId: string;
  /** Permissions held for every device. */
  unscoped: ReadonlySet<string>;
  /** Device permissions held for some groups only. */
  scoped: readonly ScopedGrant[];
  /** Set while an approved action runs: the approval it runs under. */
  approvalId?: string;
}

/** Device-level authorization, for services that read or command devices. */
export interface DeviceScope {
  /** Throws forbidden (recorded) unless the actor holds `permission` for every device. */
  check(actor: Actor, permission: string, deviceIds: readonly string[], action: string): Promise<void>;
  /** The ids among `deviceIds` the actor holds `permission` for. */
  visible(actor: Actor, permission: string, deviceIds: readonly string[]): Promise<Set<string>>;
}

export interface GuardRequest {
  /** Action name, e.g. "command.erase"; the policy and rate limits are keyed by it. */
  action: string;
  /** Exactly what will run; hashed canonically (RFC 8785) and shown to the approver. No personal data. */
  params: { [k: string]: JsonValue };
  /** One line for the approver; no personal data. */
  summary: string;
  /** How many units the action affects (devices), for thresholds and rate limits; default 1. */
  units?: number;
  target?: { type: string; id: string };
  /** Permission the approver must also hold (e.g. commands.send.erase). */
  approverPermission?: string;
}

/**
 * The four-eyes gate as services use it: resolves when the action may run now
 * (and counts it against the rate limit), throws ApprovalPending (answered
 * 202 with the approval) when a second administrator must approve first, and
 * RampartError('rate_limited') when the principal's limit is used up.
 */
export interface ApprovalGuard {
  guard(actor: Actor, req: GuardRequest): Promise<void>;
}
