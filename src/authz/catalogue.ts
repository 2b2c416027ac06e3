// The one list of permissions, with what each allows, and the built-in roles.
// Permission names are dotted scopes: a scope grants itself and everything
// below it, "*" grants everything (src/services/command-policy.ts,
// hasPermission). Custom roles are made from the same names.

export const PERMISSION_CATALOGUE: Readonly<Record<string, string>> = Object.freeze({
  '*': 'Everything, including permissions added later (owner)',
  'devices.read': 'List devices and read their inventory',
  'commands.read': 'Read queued commands and their results',
  'commands.send': 'Send commands of every class to devices',
  'commands.send.query': 'Send inventory queries (DeviceInformation, InstalledApplicationList, ...)',
  'commands.send.lock': 'Lock, lost mode, locate, play sound',
  'commands.send.manage': 'Install and remove profiles and apps, settings, everything not listed elsewhere',
  'commands.send.erase': 'Erase devices (four-eyes approval by default)',
  'commands.cancel': 'Cancel pending commands (and re-queue them)',
  'commands.bulk': 'Fleet and group actions, in addition to commands.send.<class>',
  'audit.read': 'Read and verify the audit log',
  'enroll.invite': 'Create, list and revoke enrollment invitations',
  'ca.read': 'Read the enrollment CA and issued certificates',
  'ca.manage': 'Rotate the CA and revoke certificates',
  'push.manage': 'Replace the APNs push certificate',
  'groups.read': 'Read device groups',
  'groups.manage': 'Create and change device groups',
  'staff.read': 'Read staff records, personal data masked',
  'staff.write': 'Create and change staff records',
  'pii.reveal': 'Reveal personal data in clear (recorded per record)',
  'pii.access.read': 'Read the accounting of who saw which personal data',
  'pii.export': 'Export personal data',
  'scim.provision': 'Issue SCIM provisioning bearer tokens',
  'admins.read': 'List administrators, their roles, and the roles',
  'admins.manage': 'Create and disable administrators',
  'roles.manage': 'Create, change and delete custom roles; assign and remove roles',
  'tokens.manage': 'Create API tokens; list and revoke the tokens of other administrators',
  'sessions.manage': 'List and revoke the sessions of other administrators',
  'approvals.decide': 'Approve or deny actions waiting for a second administrator',
  'metrics.read': 'Scrape the Prometheus metrics (GET /metrics on the admin listener)',
});

export const PERMISSION_NAMES: readonly string[] = Object.freeze(Object.keys(PERMISSION_CATALOGUE));

export function isCatalogued(permission: string): boolean {
  return Object.hasOwn(PERMISSION_CATALOGUE, permission);
}

export interface RoleDefinition {
  name: string;
  description: string;
  permissions: readonly string[];
  builtIn: boolean;
}

export const OWNER_ROLE = 'owner';

export const BUILT_IN_ROLES: readonly RoleDefinition[] = Object.freeze([
  {
    name: 'viewer',
    description: 'Read devices, commands and groups; personal data masked',
    permissions: ['devices.read', 'commands.read', 'groups.read', 'staff.read'],
    builtIn: true,
  },
  {
    name: 'helpdesk',
    description: 'Lock, lost mode, locate, re-send queries and cancel stuck commands',
    permissions: ['devices.read', 'commands.read', 'commands.send.query', 'commands.send.lock', 'commands.cancel', 'groups.read', 'staff.read'],
    builtIn: true,
  },
  {
    name: 'device-admin',
    description: 'Profiles, apps, wipe, groups and enrollment invitations',
    permissions: ['devices.read', 'commands.read', 'commands.send', 'commands.cancel', 'commands.bulk', 'groups.read', 'groups.manage', 'enroll.invite', 'ca.read', 'staff.read', 'metrics.read'],
    builtIn: true,
  },
  {
    name: 'security-officer',
    description: 'Audit log, alerts and incidents, access accounting, approvals',
    permissions: ['audit.read', 'devices.read', 'commands.read', 'ca.read', 'pii.access.read', 'admins.read', 'approvals.decide', 'staff.read', 'metrics.read'],
    builtIn: true,
  },
  {
    name: 'monitoring',
    description: 'Scrape the Prometheus metrics (for the API token of a scraper)',
    permissions: ['metrics.read'],
    builtIn: true,
  },
  {
    name: 'pii-reader',
    description: 'May reveal personal data in clear (each reveal recorded)',
    permissions: ['staff.read', 'pii.reveal'],
    builtIn: true,
  },
  {
    name: OWNER_ROLE,
    description: 'Everything; the last owner cannot be removed',
    permissions: ['*'],
    builtIn: true,
  },
].map((r) => Object.freeze({ ...r, permissions: Object.freeze([...r.permissions]) })));

export function builtInRole(name: string): RoleDefinition | undefined {
  return BUILT_IN_ROLES.find((r) => r.name === name);
}

/** Role names: lower case, digits and dashes. */
export const ROLE_NAME_PATTERN = '^[a-z][a-z0-9-]{1,63}$';
const ROLE_NAME = new RegExp(ROLE_NAME_PATTERN);
export function isRoleName(name: string): boolean {
  return typeof name === 'string' && ROLE_NAME.test(name);
}
