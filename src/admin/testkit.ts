// The real admin stack for tests: SQLite storage in memory, the real
// tamper-evident audit log (its own in-memory SQLite store), the real
// services, command builder, authenticator and server. Used by the admin,
// services and CLI tests.
import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { AuditLog } from '../audit/log.ts';
import { SqliteAuditStore } from '../audit/store-sqlite.ts';
import { generateNoteKey, parseSignerKey } from '../audit/note.ts';
import type { FastifyInstance } from 'fastify';
import { openSqliteStorage } from '../storage/open.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { DevicePatch, Storage } from '../storage/types.ts';
import type { AuditEvent, AuditRecorder } from '../audit/types.ts';
import type { CommandService, DeviceService } from '../services/types.ts';
import { createDeviceService } from '../services/devices.ts';
import { createCommandService } from '../services/commands.ts';
import type { CommandBuilder } from '../services/commands.ts';
import { createAuthenticator, createFirstAdmin, issueApiToken } from './tokens.ts';
import { createAdminServer } from './server.ts';
import type { AdminServerDeps, Authenticator, HealthReport } from './types.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { openTestDirectory } from '../directory/test-directory.ts';

/** The real audit log; `events` lists what it acknowledged, in order, for assertions. */
export interface CollectedAudit extends AuditRecorder {
  log: AuditLog;
  events: AuditEvent[];
}

export async function openTestAudit(now: () => Date): Promise<CollectedAudit & { close(): Promise<void> }> {
  const db = new DatabaseSync(':memory:');
  const log = await AuditLog.open({
    store: new SqliteAuditStore(db),
    origin: 'rampart.test/audit',
    signer: parseSignerKey(generateNoteKey('rampart.test').signerKey),
    clock: now,
  });
  const events: AuditEvent[] = [];
  return {
    log,
    events,
    async record(e: AuditEvent): Promise<void> {
      await log.record(e);
      events.push(structuredClone(e));
    },
    async close() {
      await log.close();
      db.close();
    },
  };
}

export interface TestStack {
  opened: OpenedStorage;
  storage: Storage;
  audit: CollectedAudit;
  devices: DeviceService;
  commands: CommandService;
  auth: Authenticator;
  app: FastifyInstance;
  adminId: string;
  /** The bootstrap token ("*"). */
  rootToken: string;
  enqueued: Array<{ deviceIds: string[]; commandUuid: string }>;
  clock: { now: Date };
  tokenFor(scopes: string[], opts?: { expiresAt?: string }): Promise<string>;
  addDevice(id: string, fields?: DevicePatch): Promise<void>;
  close(): Promise<void>;
}

export async function createTestStack(opts: {
  limits?: AdminServerDeps['limits'];
  health?: () => Promise<HealthReport>;
  build?: CommandBuilder;
} = {}): Promise<TestStack> {
  const opened = await openSqliteStorage(':memory:');
  await opened.migrate();
  const storage = opened.storage;
  const clock = { now: new Date('2026-01-01T00:00:00.000Z') };
  const now = (): Date => new Date(clock.now);
  const audit = await openTestAudit(now);
  const enqueued: TestStack['enqueued'] = [];
  const devices = createDeviceService({ devices: storage.devices, audit });
  const commands = createCommandService({
    queue: storage.queue,
    devices: storage.devices,
    audit,
    build: opts.build ?? ((input) => buildCommand(input)),
    now,
    newUuid: randomUUID,
    onEnqueued: (deviceIds, commandUuid) => enqueued.push({ deviceIds, commandUuid }),
  });
  const auth = createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now });
  const directory = await openTestDirectory(opened, audit, now);
  const app = await createAdminServer({
    devices,
    commands,
    auth,
    audit,
    directory,
    health: opts.health ?? (async () => ({ status: 'ok' })),
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const first = await createFirstAdmin(storage, 'root', { now });
  let n = 0;
  return {
    opened,
    storage,
    audit,
    devices,
    commands,
    auth,
    app,
    adminId: first.admin.id,
    rootToken: first.token,
    enqueued,
    clock,
    async tokenFor(scopes, o = {}) {
      const input: Parameters<typeof issueApiToken>[1] = { principalId: first.admin.id, name: `test ${++n}`, scopes };
      if (o.expiresAt !== undefined) input.expiresAt = o.expiresAt;
      return (await issueApiToken({ tokens: storage.tokens, now }, input)).token;
    },
    async addDevice(id, fields = {}) {
      await storage.devices.create(id, { status: 'enrolled', ...fields }, now().toISOString());
    },
    async close() {
      await app.close();
      await audit.close();
      await opened.close();
    },
  };
}
