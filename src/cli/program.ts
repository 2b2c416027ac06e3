// The `rampart` command line. API commands talk to the admin listener with a
// bearer token (--token or RAMPART_TOKEN, --token-file); `serve` and
// `admin create` act on the local installation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { CommandResult, CommandStatus, DeviceDetail, DeviceView, EnqueueResult, QueueEntryView } from '../services/types.ts';
import type { Page } from '../storage/types.ts';
import { CliError, createApiClient, DEFAULT_ADMIN_URL, sanitize } from './client.ts';
import type { ApiClient, FetchLike } from './client.ts';
import { fields, table } from './format.ts';
import { isApproval, registerAuthzCommands } from './authz.ts';
import { registerLoginCommands, savedSessionToken } from './login.ts';
import type { Prompt } from './login.ts';
import { registerPushCommands } from './push.ts';
import { registerFleetCommands } from './fleet.ts';
import { registerEnrollmentCommands } from './enroll.ts';
import { registerAuditApiCommands } from './audit.ts';
import { registerStaffCommands } from './staff.ts';
import { registerDbCommands } from './db.ts';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
  fetch?: FetchLike;
  /** Runs `serve`; default imports src/core/serve.ts. */
  serve?: (opts: { config?: string; dev: boolean }) => Promise<void>;
  /** Runs `admin create`; default opens the local storage from the configuration. */
  createAdmin?: (opts: { config?: string; username: string; dev: boolean }) => Promise<{ token: string; adminId: string }>;
  /** Asks for input (`rampart login`); default reads the terminal, secrets without echo. */
  prompt?: Prompt;
}

interface ApiOpts {
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

const enc = encodeURIComponent;

function withApi(cmd: Command): Command {
  return cmd
    .option('--url <url>', `admin API URL (env RAMPART_URL, default ${DEFAULT_ADMIN_URL})`)
    .option('--token <token>', 'API token (prefer RAMPART_TOKEN or --token-file: arguments are visible to other users)')
    .option('--token-file <path>', 'read the API token from a file')
    .option('--json', 'print JSON');
}

function parseLimit(v: string): string {
  if (!/^(?:[1-9][0-9]{0,2}|1000)$/.test(v)) throw new CliError('--limit must be 1..1000', 2);
  return v;
}

export function createProgram(io: CliIo): Command {
  const out = (s: string): void => void io.stdout.write(s);
  const json = (v: unknown): void => out(JSON.stringify(v, null, 2) + '\n');

  function client(o: ApiOpts): ApiClient {
    let token = o.token ?? io.env.RAMPART_TOKEN;
    if (o.tokenFile !== undefined) {
      try {
        token = readFileSync(o.tokenFile, 'utf8').trim();
      } catch {
        throw new CliError('cannot read --token-file');
      }
    }
    const url = o.url ?? io.env.RAMPART_URL ?? DEFAULT_ADMIN_URL;
    token ??= savedSessionToken(io.env, url);
    return createApiClient({ url, token, ...(io.fetch ? { fetch: io.fetch } : {}) });
  }

  const program = new Command('rampart')
    .description('Rampart MDM server')
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `rampart: ${s.slice(7)}` : s),
    });

  program
    .command('serve')
    .description('run the server (core, admin API and sandboxed device gateway)')
    .option('--config <file>', 'configuration file (JSON; env RAMPART_CONFIG)')
    .option('--dev', 'development mode: generated CA and TLS certificate', false)
    .action(async (o: { config?: string; dev: boolean }) => {
      const opts: { config?: string; dev: boolean } = { dev: o.dev === true };
      if (o.config !== undefined) opts.config = o.config;
      if (io.serve) return io.serve(opts);
      const mod = await import('../core/serve.ts');
      await mod.serve(opts);
    });

  registerLoginCommands(program, io);

  const admin = program.command('admin').description('administrators of the local installation');
  admin
    .command('create <username>')
    .description('create an administrator and print its full-access token (shown once)')
    .option('--config <file>', 'configuration file (JSON; env RAMPART_CONFIG)')
    .option('--dev', 'the installation runs in development mode (serve --dev)', false)
    .action(async (username: string, o: { config?: string; dev: boolean }) => {
      const opts: { config?: string; username: string; dev: boolean } = { username, dev: o.dev === true };
      if (o.config !== undefined) opts.config = o.config;
      const created = await (io.createAdmin ?? ((x) => createAdminLocally(x, io.env)))(opts);
      io.stderr.write(`administrator ${sanitize(username)} created; its token is shown once:\n`);
      out(`${created.token}\n`);
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('verify the log (export file or database) against a trusted checkpoint; see docs/audit.md')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      const { runAuditVerifyCli } = await import('../audit/cli.ts');
      let last = '\n';
      const code = await runAuditVerifyCli(args, (s) => {
        if (s.length > 0) last = s;
        io.stdout.write(s);
      });
      if (!last.endsWith('\n')) io.stdout.write('\n');
      if (code !== 0) throw new CliError(code === 1 ? 'the audit log did not verify' : 'audit verify could not run', code);
    });

  registerAuditApiCommands(audit, { withApi, client, out, json });
  registerDbCommands(program, io);

  const devices = program.command('devices').description('enrolled devices');
  withApi(devices.command('list').description('list devices'))
    .addOption(new Option('--status <status>', 'enrollment status').choices(['authenticated', 'enrolled', 'checked_out']))
    .option('--serial <serial>', 'serial number')
    .option('--model <model>', 'model identifier')
    .option('--os <version>', 'OS version')
    .option('--search <text>', 'substring of name, serial number or model name')
    .option('--not-seen-since <time>', 'ISO-8601 time: devices not seen since')
    .option('--after <id>', 'cursor: list devices after this id')
    .option('--limit <n>', 'page size (1..1000)', parseLimit)
    .action(async (o: ApiOpts & { status?: string; serial?: string; model?: string; os?: string; search?: string; notSeenSince?: string; after?: string; limit?: string }) => {
      const page = await client(o).get<Page<DeviceView>>('/api/v1/devices', {
        status: o.status,
        serialNumber: o.serial,
        model: o.model,
        osVersion: o.os,
        search: o.search,
        notSeenSince: o.notSeenSince,
        after: o.after,
        limit: o.limit,
      });
      if (o.json) return json(page);
      out(table(
        ['ID', 'STATUS', 'SERIAL', 'NAME', 'MODEL', 'OS', 'LAST SEEN'],
        page.items.map((d) => [d.id, d.status, d.serialNumber, d.deviceName, d.productName ?? d.model, d.osVersion, d.lastSeenAt]),
      ));
      if (page.next !== undefined) out(`more: --after ${sanitize(page.next)}\n`);
    });

  withApi(devices.command('show <id>').description('one device with its inventory')).action(async (id: string, o: ApiOpts) => {
    const d = await client(o).get<DeviceDetail>(`/api/v1/devices/${enc(id)}`);
    if (o.json) return json(d);
    out(fields([
      ['id', d.id],
      ['status', d.status],
      ['serial number', d.serialNumber],
      ['name', d.deviceName],
      ['model', d.model],
      ['model name', d.modelName],
      ['product', d.productName],
      ['OS', d.osVersion],
      ['build', d.buildVersion],
      ['supervised', d.isSupervised],
      ['encrypted', d.isEncrypted],
      ['passcode present', d.passcodePresent],
      ['passcode compliant', d.passcodeCompliant],
      ['push token', d.hasPushToken],
      ['enrolled', d.enrolledAt],
      ['last seen', d.lastSeenAt],
      ['checked out', d.checkedOutAt],
      ['apps', d.apps.length],
    ]));
  });

  const command = program.command('command').description('device commands');
  withApi(command.command('send <requestType>').description('queue a command for devices (validated by the server first)'))
    .requiredOption('--device <id...>', 'target device id(s)')
    .option('--payload <json>', 'command keys other than RequestType, as a JSON object')
    .option('--uuid <uuid>', 'CommandUUID (idempotency key); generated when absent')
    .option('--no-push', 'queue without waking the devices through APNs')
    .action(async (requestType: string, o: ApiOpts & { device: string[]; payload?: string; uuid?: string; push?: boolean }) => {
      let payload: unknown = {};
      if (o.payload !== undefined) {
        try {
          payload = JSON.parse(o.payload);
        } catch {
          throw new CliError('--payload is not valid JSON', 2);
        }
        if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new CliError('--payload must be a JSON object', 2);
      }
      const body: Record<string, unknown> = { deviceIds: o.device, requestType, payload };
      if (o.uuid !== undefined) body.commandUuid = o.uuid;
      if (o.push === false) body.push = false;
      const r = await client(o).post<EnqueueResult>('/api/v1/commands', body);
      if (o.json) return json(r);
      if (isApproval(r)) return out(`held for approval by a second administrator: rampart approvals approve ${sanitize(r.id)}\n`);
      out(`queued ${sanitize(r.requestType)} ${sanitize(r.commandUuid)} for ${r.queued} device(s)\n`);
    });

  withApi(command.command('status <uuid>').description('status of a command'))
    .option('--after <deviceId>', 'cursor: entries after this device id')
    .option('--limit <n>', 'page size (1..1000)', parseLimit)
    .action(async (uuid: string, o: ApiOpts & { after?: string; limit?: string }) => {
      const st = await client(o).get<CommandStatus>(`/api/v1/commands/${enc(uuid)}`, { after: o.after, limit: o.limit });
      if (o.json) return json(st);
      out(fields([
        ['command', st.commandUuid],
        ['type', st.requestType],
        ['created', st.createdAt],
        ['created by', st.createdBy],
        ['summary', Object.entries(st.summary).map(([k, v]) => `${k} ${v}`).join(', ')],
      ]));
      out('\n' + entriesTable(st.entries.items));
      if (st.entries.next !== undefined) out(`more: --after ${sanitize(st.entries.next)}\n`);
    });

  withApi(command.command('result <uuid> <deviceId>').description("one device's result for a command")).action(
    async (uuid: string, deviceId: string, o: ApiOpts) => {
      const r = await client(o).get<CommandResult>(`/api/v1/commands/${enc(uuid)}/devices/${enc(deviceId)}`);
      if (o.json) return json(r);
      out(fields([
        ['command', r.commandUuid],
        ['device', r.deviceId],
        ['type', r.requestType],
        ['status', r.status],
        ['queued', r.queuedAt],
        ['deliveries', r.deliveries],
        ['result at', r.resultAt],
      ]));
      if (r.result !== null) out(`result:\n${sanitizeBlock(JSON.stringify(r.result, null, 2))}\n`);
      if (r.errorChain !== null) out(`errors:\n${sanitizeBlock(JSON.stringify(r.errorChain, null, 2))}\n`);
    },
  );

  withApi(command.command('cancel <uuid> <deviceId>').description('cancel a pending command for one device')).action(
    async (uuid: string, deviceId: string, o: ApiOpts) => {
      const r = await client(o).del<{ cancelled: boolean }>(`/api/v1/commands/${enc(uuid)}/devices/${enc(deviceId)}`);
      if (o.json) return json(r);
      out('cancelled\n');
    },
  );

  withApi(command.command('list <deviceId>').description("a device's commands, newest first"))
    .addOption(new Option('--status <status>', 'only entries with this status').choices(['pending', 'acknowledged', 'error', 'not_now', 'cancelled']))
    .option('--limit <n>', 'how many (1..1000)', parseLimit)
    .action(async (deviceId: string, o: ApiOpts & { status?: string; limit?: string }) => {
      const r = await client(o).get<{ items: QueueEntryView[] }>(`/api/v1/devices/${enc(deviceId)}/commands`, { status: o.status, limit: o.limit });
      if (o.json) return json(r);
      out(entriesTable(r.items));
    });

  registerAuthzCommands(program, { withApi, client, out, err: (s) => void io.stderr.write(s), json });
  registerPushCommands(program, { withApi, client, out, json });
  registerFleetCommands(program, { withApi, client, out, json });
  registerEnrollmentCommands(program, { withApi, client, out, json });
  registerStaffCommands(program, { client, withApi, out, json });
  return program;
}

function entriesTable(items: QueueEntryView[]): string {
  return table(
    ['DEVICE', 'COMMAND', 'TYPE', 'STATUS', 'QUEUED', 'DELIVERIES', 'RESULT AT'],
    items.map((e) => [e.deviceId, e.commandUuid, e.requestType, e.status, e.queuedAt, e.deliveries, e.resultAt]),
  );
}

function sanitizeBlock(s: string): string {
  return s.split('\n').map(sanitize).join('\n');
}

/** `admin create` on the local installation: storage from the configuration. */
async function createAdminLocally(opts: { config?: string; username: string; dev: boolean }, env: CliIo['env']): Promise<{ token: string; adminId: string }> {
  const { loadConfig } = await import('../config/config.ts');
  const { openStorage } = await import('../storage/open.ts');
  const { createFirstAdmin } = await import('../admin/tokens.ts');
  const config = loadConfig({ env, dev: opts.dev, ...(opts.config !== undefined ? { file: opts.config } : {}) });
  const opened = await openStorage({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, 'rampart.db'), postgres: { schema: config.databaseSchema } });
  try {
    await opened.migrate();
    const created = await createFirstAdmin(opened.storage, opts.username);
    await (await import('../authz/bootstrap.ts')).grantOwnerLocally(opened, created.admin.id);
    return { token: created.token, adminId: created.admin.id };
  } finally {
    await opened.close();
  }
}

/** Runs the CLI; resolves to the exit code. Errors print one line on stderr. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (help and version exit 0).
      return e.exitCode;
    }
    if (e instanceof CliError) {
      io.stderr.write(`rampart: ${sanitize(e.message)}\n`);
      return e.exitCode;
    }
    const rampart = e as { name?: string; code?: string; message?: string; setting?: string };
    if (rampart?.name === 'RampartError' || rampart?.name === 'ConfigError') {
      io.stderr.write(`rampart: ${sanitize(String(rampart.message))}\n`);
      return 1;
    }
    io.stderr.write(`rampart: ${sanitize(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  }
}
