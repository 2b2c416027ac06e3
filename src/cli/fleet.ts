// `rampart groups ...` and `rampart command bulk|bulk-status`.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './client.ts';
import { fields, table } from './format.ts';
import type { CliHelpers } from './push.ts';
import type { DeviceGroup } from '../groups/store.ts';
import type { BulkProgress } from '../bulk/service.ts';

type ApiOpts = { json?: boolean };
const enc = encodeURIComponent;

function deviceList(o: { device?: string[]; devicesFile?: string }): string[] {
  const ids = [...(o.device ?? [])];
  if (o.devicesFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.devicesFile, 'utf8');
    } catch {
      throw new CliError('cannot read --devices-file');
    }
    ids.push(...text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== ''));
  }
  if (ids.length === 0) throw new CliError('name devices with --device or --devices-file', 2);
  return ids;
}

export function registerFleetCommands<O extends ApiOpts>(program: Command, h: CliHelpers<O>): void {
  const groups = program.command('groups').description('device groups');
  h.withApi(groups.command('list').description('list groups')).action(async (o: O) => {
    const r = await h.client(o).get<{ items: DeviceGroup[] }>('/api/v1/groups', { limit: '1000' });
    if (o.json) return h.json(r);
    h.out(table(['id', 'name', 'members', 'updated'], r.items.map((g) => [g.id, g.name, g.members, g.updatedAt])));
  });
  h.withApi(groups.command('create <name>').description('create a group')).option('--description <text>', 'description')
    .action(async (name: string, o: O & { description?: string }) => {
      const body: Record<string, string> = { name };
      if (o.description !== undefined) body.description = o.description;
      const g = await h.client(o).post<DeviceGroup>('/api/v1/groups', body);
      if (o.json) return h.json(g);
      h.out(`created group ${g.id}\n`);
    });
  h.withApi(groups.command('show <id>').description('one group')).action(async (id: string, o: O) => {
    const g = await h.client(o).get<DeviceGroup>(`/api/v1/groups/${enc(id)}`);
    if (o.json) return h.json(g);
    h.out(fields([['id', g.id], ['name', g.name], ['description', g.description], ['members', g.members], ['created', `${g.createdAt} by ${g.createdBy}`], ['updated', g.updatedAt]]));
  });
  h.withApi(groups.command('delete <id>').description('delete a group (devices stay)')).action(async (id: string, o: O) => {
    await h.client(o).del(`/api/v1/groups/${enc(id)}`);
    h.out(`deleted group ${id}\n`);
  });
  for (const [verb, path, desc] of [['add', 'members', 'add devices to a group'], ['remove', 'members/remove', 'remove devices from a group']] as const) {
    h.withApi(groups.command(`${verb} <id>`).description(desc))
      .option('--device <id...>', 'device id(s)')
      .option('--devices-file <file>', 'one device id per line')
      .action(async (id: string, o: O & { device?: string[]; devicesFile?: string }) => {
        const r = await h.client(o).post<{ changed: number }>(`/api/v1/groups/${enc(id)}/${path}`, { deviceIds: deviceList(o) });
        if (o.json) return h.json(r);
        h.out(`${verb === 'add' ? 'added' : 'removed'} ${r.changed} device(s)\n`);
      });
  }
  h.withApi(groups.command('members <id>').description('device ids in a group')).option('--after <deviceId>', 'cursor')
    .action(async (id: string, o: O & { after?: string }) => {
      const r = await h.client(o).get<{ items: string[]; next?: string }>(`/api/v1/groups/${enc(id)}/members`, { limit: '1000', after: o.after });
      if (o.json) return h.json(r);
      h.out(r.items.join('\n') + (r.items.length ? '\n' : ''));
      if (r.next) h.out(`(more: --after ${r.next})\n`);
    });

  const command = program.commands.find((c) => c.name() === 'command');
  if (!command) throw new Error('the command group must be registered first');
  h.withApi(command.command('bulk <requestType>').description('queue a command for a group, a filter or a list of devices (up to 100,000)'))
    .option('--group <id>', 'every device in this group')
    .option('--all', 'every device (narrow with --model, --os-version, --status, --search, --not-seen-since)')
    .option('--model <model>').option('--os-version <v>').option('--status <s>').option('--search <text>').option('--not-seen-since <time>')
    .option('--device <id...>', 'device id(s)')
    .option('--devices-file <file>', 'one device id per line')
    .option('--payload <json>', 'command keys other than RequestType, as a JSON object')
    .option('--uuid <uuid>', 'CommandUUID (idempotency key)')
    .option('--no-push', 'queue without waking the devices through APNs')
    .action(async (requestType: string, o: O & {
      group?: string; all?: boolean; model?: string; osVersion?: string; status?: string; search?: string; notSeenSince?: string;
      device?: string[]; devicesFile?: string; payload?: string; uuid?: string; push?: boolean;
    }) => {
      const filter: Record<string, string> = {};
      for (const k of ['model', 'osVersion', 'status', 'search', 'notSeenSince'] as const) if (o[k] !== undefined) filter[k] = o[k]!;
      const kinds = [o.group !== undefined, o.all === true || Object.keys(filter).length > 0, o.device !== undefined || o.devicesFile !== undefined].filter(Boolean).length;
      if (kinds !== 1) throw new CliError('choose one selection: --group, --all/filters, or --device/--devices-file', 2);
      const selection = o.group !== undefined ? { groupId: o.group } : o.device !== undefined || o.devicesFile !== undefined ? { deviceIds: deviceList(o) } : { filter };
      let payload: unknown = {};
      if (o.payload !== undefined) {
        try {
          payload = JSON.parse(o.payload);
        } catch {
          throw new CliError('--payload is not valid JSON', 2);
        }
      }
      const body: Record<string, unknown> = { requestType, payload, selection };
      if (o.uuid !== undefined) body.commandUuid = o.uuid;
      if (o.push === false) body.push = false;
      const r = await h.client(o).post<{ jobId: string; commandUuid: string }>('/api/v1/commands/bulk', body);
      if (o.json) return h.json(r);
      h.out(`bulk job ${r.jobId} accepted (command ${r.commandUuid}); follow it with: rampart command bulk-status ${r.jobId}\n`);
    });
  h.withApi(command.command('bulk-status <jobId>').description('progress of a bulk command')).action(async (jobId: string, o: O) => {
    const p = await h.client(o).get<BulkProgress>(`/api/v1/commands/bulk/${enc(jobId)}`);
    if (o.json) return h.json(p);
    h.out(fields([
      ['job', p.jobId], ['command', `${p.commandUuid} (${p.requestType})`], ['state', p.error ? `${p.state}: ${p.error}` : p.state],
      ['devices', p.total], ['queued', p.queued], ['pushed', p.pushed], ['acknowledged', p.acknowledged], ['error', p.errors],
      ['not now', p.notNow], ['not yet seen', p.notYetSeen], ['push failed', p.pushFailed], ['no push token', p.noPushToken],
    ]));
  });
}
