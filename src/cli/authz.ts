// `rampart admins|roles|token|approvals ...`: administrators, roles, API
// tokens and four-eyes approvals over the admin API. Registered from
// program.ts with one line.
import type { Command } from 'commander';
import { Option } from 'commander';
import { CliError, sanitize } from './client.ts';
import type { ApiClient } from './client.ts';
import { fields, table } from './format.ts';
import type { AdminView } from '../authz/admins.ts';
import type { RoleView, AssignmentView } from '../authz/roles.ts';
import type { TokenView } from '../authz/tokens.ts';
import type { ApprovalView } from '../authz/views.ts';

interface ApiOpts {
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

export interface AuthzCliContext {
  withApi(cmd: Command): Command;
  client(o: ApiOpts): ApiClient;
  out(s: string): void;
  err(s: string): void;
  json(v: unknown): void;
}

const enc = encodeURIComponent;
const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((x) => x.trim()).filter((x) => x !== '')];

/** A held action answers with its approval instead of a result. */
export function isApproval(v: unknown): v is ApprovalView {
  return typeof v === 'object' && v !== null && 'paramsHash' in v && 'status' in v && 'action' in v;
}

export function registerAuthzCommands(program: Command, ctx: AuthzCliContext): void {
  const { withApi, client, out, err, json } = ctx;

  const showApproval = (a: ApprovalView): void =>
    out(fields([
      ['approval', a.id],
      ['action', a.action],
      ['status', a.status],
      ['summary', a.summary],
      ['units', a.units],
      ['requested by', a.requester.principalId],
      ['created', a.createdAt],
      ['expires', a.expiresAt],
      ['decided by', a.decidedBy],
      ['reason', a.reason],
      ['params sha256', a.paramsHash],
      ['result', a.result === null ? null : JSON.stringify(a.result)],
    ]));

  const held = (r: unknown): boolean => {
    if (!isApproval(r)) return false;
    out(`held for approval by a second administrator: rampart approvals approve ${sanitize(r.id)}\n`);
    showApproval(r);
    return true;
  };

  const assignments = (items: AssignmentView[]): string =>
    table(['ROLE', 'GROUPS', 'SOURCE', 'SINCE'], items.map((a) => [a.role, a.groups.length === 0 ? 'all devices' : a.groups.join(','), a.source, a.createdAt]));

  // --- administrators
  const admins = program.command('admins').description('administrators and their roles');
  withApi(admins.command('list').description('list administrators')).action(async (o: ApiOpts) => {
    const r = await client(o).get<{ items: AdminView[] }>('/api/v1/admins');
    if (o.json) return json(r);
    out(table(['ID', 'USERNAME', 'ROLES', 'DISABLED'], r.items.map((a) => [a.id, a.username, a.roles.map((x) => x.groups.length ? `${x.role}(${x.groups.join(',')})` : x.role).join(' '), a.disabledAt])));
  });
  withApi(admins.command('show <id>').description('one administrator')).action(async (id: string, o: ApiOpts) => {
    const a = await client(o).get<AdminView>(`/api/v1/admins/${enc(id)}`);
    if (o.json) return json(a);
    out(fields([['id', a.id], ['username', a.username], ['created', a.createdAt], ['disabled', a.disabledAt]]));
    out('\n' + assignments(a.roles));
  });
  withApi(admins.command('create <username>').description('create an administrator (may wait for approval)'))
    .option('--role <name...>', 'roles to give (comma-separated or repeated)', list)
    .action(async (username: string, o: ApiOpts & { role?: string[] }) => {
      const r = await client(o).post<AdminView | ApprovalView>('/api/v1/admins', { username, ...(o.role ? { roles: o.role } : {}) });
      if (o.json) return json(r);
      if (held(r)) return;
      out(`created administrator ${sanitize((r as AdminView).id)}\n`);
    });
  withApi(admins.command('disable <id>').description('disable an administrator (its tokens stop working)')).action(async (id: string, o: ApiOpts) => {
    const r = await client(o).post<AdminView>(`/api/v1/admins/${enc(id)}/disable`, undefined);
    if (o.json) return json(r);
    out(`disabled ${sanitize(r.id)}\n`);
  });

  // --- roles
  const roles = program.command('roles').description('roles and role assignments');
  withApi(roles.command('list').description('built-in and custom roles')).action(async (o: ApiOpts) => {
    const r = await client(o).get<{ items: RoleView[] }>('/api/v1/roles');
    if (o.json) return json(r);
    out(table(['NAME', 'BUILT-IN', 'PERMISSIONS'], r.items.map((x) => [x.name, x.builtIn, x.permissions.join(' ')]), 120));
  });
  withApi(roles.command('permissions').description('every permission, with what it allows')).action(async (o: ApiOpts) => {
    const r = await client(o).get<{ items: Array<{ name: string; description: string }> }>('/api/v1/permissions');
    if (o.json) return json(r);
    out(table(['PERMISSION', 'ALLOWS'], r.items.map((x) => [x.name, x.description]), 100));
  });
  withApi(roles.command('create <name>').description('create a custom role'))
    .requiredOption('--permission <name...>', 'permissions (comma-separated or repeated)', list)
    .option('--description <text>', 'what the role is for', '')
    .action(async (name: string, o: ApiOpts & { permission: string[]; description: string }) => {
      const r = await client(o).post<RoleView>('/api/v1/roles', { name, description: o.description, permissions: o.permission });
      if (o.json) return json(r);
      out(`created role ${sanitize(r.name)}\n`);
    });
  withApi(roles.command('update <name>').description('change a custom role (adding permissions to a role in use may wait for approval)'))
    .requiredOption('--permission <name...>', 'the full new permission list', list)
    .option('--description <text>', 'what the role is for', '')
    .action(async (name: string, o: ApiOpts & { permission: string[]; description: string }) => {
      const r = await client(o).put<RoleView | ApprovalView>(`/api/v1/roles/${enc(name)}`, { description: o.description, permissions: o.permission });
      if (o.json) return json(r);
      if (held(r)) return;
      out(`updated role ${sanitize(name)}\n`);
    });
  withApi(roles.command('delete <name>').description('delete a custom role nobody holds')).action(async (name: string, o: ApiOpts) => {
    const r = await client(o).del<{ deleted: boolean }>(`/api/v1/roles/${enc(name)}`);
    if (o.json) return json(r);
    out(`deleted role ${sanitize(name)}\n`);
  });
  withApi(roles.command('assign <adminId> <role>').description('give a role, optionally limited to device groups (may wait for approval)'))
    .option('--group <id...>', 'device group ids (comma-separated or repeated)', list)
    .action(async (adminId: string, role: string, o: ApiOpts & { group?: string[] }) => {
      const r = await client(o).post<{ items: AssignmentView[] } | ApprovalView>(`/api/v1/admins/${enc(adminId)}/roles`, { role, ...(o.group ? { groups: o.group } : {}) });
      if (o.json) return json(r);
      if (held(r)) return;
      out(assignments((r as { items: AssignmentView[] }).items));
    });
  withApi(roles.command('unassign <adminId> <role>').description('remove a role from an administrator')).action(async (adminId: string, role: string, o: ApiOpts) => {
    const r = await client(o).del<{ items: AssignmentView[] }>(`/api/v1/admins/${enc(adminId)}/roles/${enc(role)}`);
    if (o.json) return json(r);
    out(assignments(r.items));
  });

  // --- API tokens
  const token = program.command('token').description('API tokens for automation');
  withApi(token.command('create <name>').description('create a token (printed once on stdout; only its hash is stored)'))
    .requiredOption('--scope <permission...>', 'permissions (comma-separated or repeated; never more than yours)', list)
    .option('--expires <time>', 'ISO-8601 expiry (default and maximum: the configured lifetime)')
    .option('--network <cidr...>', 'accept the token only from these networks (IPv4/IPv6 CIDR)', list)
    .action(async (name: string, o: ApiOpts & { scope: string[]; expires?: string; network?: string[] }) => {
      const body: Record<string, unknown> = { name, scopes: o.scope };
      if (o.expires !== undefined) body.expiresAt = o.expires;
      if (o.network !== undefined) body.networks = o.network;
      const r = await client(o).post<{ token: string; record: TokenView }>('/api/v1/tokens', body);
      if (o.json) return json(r);
      err(`token ${sanitize(r.record.id)} expires ${sanitize(r.record.expiresAt ?? 'never')}; it is shown once:\n`);
      out(`${r.token}\n`);
    });
  withApi(token.command('list').description('your tokens (--principal <id|*> with tokens.manage)'))
    .option('--principal <id>', "another administrator's id, or * for all")
    .action(async (o: ApiOpts & { principal?: string }) => {
      const r = await client(o).get<{ items: TokenView[] }>('/api/v1/tokens', { principal: o.principal });
      if (o.json) return json(r);
      out(table(['ID', 'NAME', 'OWNER', 'SCOPES', 'NETWORKS', 'EXPIRES', 'LAST USED', 'REVOKED'], r.items.map((t) => [t.id, t.name, t.principalId, t.scopes.join(' '), t.networks.join(' ') || 'any', t.expiresAt, t.lastUsedAt, t.revokedAt])));
    });
  withApi(token.command('revoke <id>').description('revoke a token')).action(async (id: string, o: ApiOpts) => {
    const r = await client(o).del<TokenView>(`/api/v1/tokens/${enc(id)}`);
    if (o.json) return json(r);
    out(`revoked ${sanitize(r.id)}\n`);
  });

  // --- approvals
  const approvals = program.command('approvals').description('four-eyes approvals');
  withApi(approvals.command('list').description('approvals, newest first (all with approvals.decide, else your own requests)'))
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'executing', 'executed', 'failed', 'denied', 'interrupted']))
    .option('--limit <n>', 'how many (1..1000)')
    .action(async (o: ApiOpts & { status?: string; limit?: string }) => {
      if (o.limit !== undefined && !/^(?:[1-9][0-9]{0,2}|1000)$/.test(o.limit)) throw new CliError('--limit must be 1..1000', 2);
      const r = await client(o).get<{ items: ApprovalView[] }>('/api/v1/approvals', { status: o.status, limit: o.limit });
      if (o.json) return json(r);
      out(table(['ID', 'ACTION', 'STATUS', 'REQUESTED BY', 'EXPIRES', 'SUMMARY'], r.items.map((a) => [a.id, a.action, a.status, a.requester.principalId, a.expiresAt, a.summary]), 60));
    });
  withApi(approvals.command('show <id>').description('one approval with its parameters')).action(async (id: string, o: ApiOpts) => {
    const a = await client(o).get<ApprovalView>(`/api/v1/approvals/${enc(id)}`);
    if (o.json) return json(a);
    showApproval(a);
    out(`params:\n${JSON.stringify(a.params, null, 2).split('\n').map(sanitize).join('\n')}\n`);
  });
  withApi(approvals.command('approve <id>').description('approve (not your own request); the action runs now, once')).action(async (id: string, o: ApiOpts) => {
    const a = await client(o).post<ApprovalView>(`/api/v1/approvals/${enc(id)}/approve`, undefined);
    if (o.json) return json(a);
    showApproval(a);
    if (a.status !== 'executed') throw new CliError(`approved, but the action ${a.status === 'failed' ? `failed (${sanitize(a.reason ?? 'unknown')})` : a.status}`);
  });
  withApi(approvals.command('deny <id>').description('deny a pending approval'))
    .option('--reason <text>', 'why (shown to the requester)')
    .action(async (id: string, o: ApiOpts & { reason?: string }) => {
      const a = await client(o).post<ApprovalView>(`/api/v1/approvals/${enc(id)}/deny`, o.reason !== undefined ? { reason: o.reason } : {});
      if (o.json) return json(a);
      showApproval(a);
    });
}
