// The real admin stack for tests: SQLite storage in memory, the real
// tamper-evident audit log (its own in-memory SQLite store), the real
// services, command builder, authenticator and server. Used by the admin,
// services and CLI tests.
import { randomBytes, randomUUID } from 'node:crypto';
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
import { openAuthz, type Authz } from '../authz/index.ts';
import { parseAuthzConfig } from '../authz/config.ts';
import { registerCommandExecutors } from '../authz/executors.ts';
import { openFleet, type OpenedFleet } from '../core/fleet.ts';
import pino from 'pino';
import type { GroupMembership } from '../authz/types.ts';
import { openIdentity } from '../identity/index.ts';
import type { Identity } from '../identity/index.ts';
import { parseIdentityConfig } from '../identity/config.ts';
import type { IdentityConfig } from '../identity/config.ts';
import type { ThrottlePolicy } from '../identity/throttle.ts';
import type { IdpRoleSync } from '../identity/types.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { createCertificateAuthority } from '../pki/authority.ts';
import { registerEnrollmentExecutors, setupEnrollment, type Enrollment } from '../enroll/setup.ts';
import type { InvitationReferences } from '../enroll/invitations.ts';
import { createAuditReadService } from '../audit/service.ts';
import type { StaffDirectory } from '../directory/staff.ts';
import { openTestDirectory } from '../directory/test-directory.ts';
import { runExportJob } from '../directory/export.ts';
import { fourEyesExportGate, openExportDownloads, type ExportRun } from '../directory/export-approval.ts';

/** The real audit log; `events` lists what it acknowledged, in order, for assertions. */
export interface CollectedAudit extends AuditRecorder {
  log: AuditLog;
  events: AuditEvent[];
  /** Verifier key of the log's checkpoints. */
  verifierKey: string;
}

export async function openTestAudit(now: () => Date): Promise<CollectedAudit & { close(): Promise<void> }> {
  const db = new DatabaseSync(':memory:');
  const key = generateNoteKey('rampart.test');
  const log = await AuditLog.open({
    store: new SqliteAuditStore(db),
    origin: 'rampart.test/audit',
    signer: parseSignerKey(key.signerKey),
    clock: now,
  });
  const events: AuditEvent[] = [];
  return {
    log,
    events,
    verifierKey: key.verifierKey,
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
  /** What the stack's admin server was built with; tests that build their own server add to it. */
  adminDeps: AdminServerDeps;
  directory: StaffDirectory;
  /** Invitations, device enrollment and the enrollment CA (src/enroll). */
  enrollment: Enrollment;
  /** With `fleet: true`: device groups and bulk actions. */
  fleet?: OpenedFleet;
  opened: OpenedStorage;
  storage: Storage;
  audit: CollectedAudit;
  devices: DeviceService;
  commands: CommandService;
  auth: Authenticator;
  /** Sign-in, MFA and sessions; permissions come from the authz module (root is an owner). */
  identity: Identity;
  app: FastifyInstance;
  authz: Authz;
  adminId: string;
  /** The bootstrap token ("*"). */
  rootToken: string;
  enqueued: Array<{ deviceIds: string[]; commandUuid: string }>;
  clock: { now: Date };
  tokenFor(scopes: string[], opts?: { expiresAt?: string }): Promise<string>;
  /** A new administrator holding `roles` (no approval asked) and a token for it with `scopes`. */
  adminWithToken(username: string, roles: string[], scopes?: string[]): Promise<{ adminId: string; token: string }>;
  addDevice(id: string, fields?: DevicePatch): Promise<void>;
  close(): Promise<void>;
}

export async function createTestStack(opts: {
  limits?: AdminServerDeps['limits'];
  health?: () => Promise<HealthReport>;
  build?: CommandBuilder;
  /** The "authz" setting (four-eyes policy, rate limits, token lifetime). */
  authz?: unknown;
  groups?: GroupMembership;
  identity?: Partial<IdentityConfig>;
  throttle?: ThrottlePolicy;
  roleSync?: IdpRoleSync;
  /** Also open device groups and fleet-wide actions (src/core/fleet.ts), gated like serve.ts does. */
  fleet?: boolean;
  /** RAMPART_TRUST_PROXY: reverse proxies whose X-Forwarded-For is believed. */
  trustProxy?: string[];
} = {}): Promise<TestStack> {
  const opened = await openSqliteStorage(':memory:');
  await opened.migrate();
  const storage = opened.storage;
  const clock = { now: new Date('2026-01-01T00:00:00.000Z') };
  const now = (): Date => new Date(clock.now);
  const audit = await openTestAudit(now);
  const enqueued: TestStack['enqueued'] = [];
  const authz = await openAuthz({ opened, storage, audit, config: parseAuthzConfig(opts.authz), now, ...(opts.groups ? { groups: opts.groups } : {}) });
  const devices = createDeviceService({ devices: storage.devices, audit, scope: authz.scope });
  const commands = createCommandService({
    queue: storage.queue,
    devices: storage.devices,
    audit,
    build: opts.build ?? ((input) => buildCommand(input)),
    now,
    newUuid: randomUUID,
    onEnqueued: (deviceIds, commandUuid) => enqueued.push({ deviceIds, commandUuid }),
    scope: authz.scope,
    gate: authz.gate,
  });
  let fleet: OpenedFleet | undefined;
  if (opts.fleet) {
    const jobCommands = createCommandService({ queue: storage.queue, devices: storage.devices, audit, build: opts.build ?? ((input) => buildCommand(input)), now, newUuid: randomUUID });
    fleet = await openFleet({ opened, audit, commands: jobCommands, gate: authz.gate, build: (input) => buildCommand(input), log: pino({ level: 'silent' }), now });
  }
  registerCommandExecutors(authz.gate, commands, fleet?.bulk);
  const tokenAuth = createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now, toActor: authz.tokenActor });
  const identity = await openIdentity({
    opened,
    storage,
    tokenAuthenticator: tokenAuth,
    sealer: createSecretBox(createKeyRing([{ id: 'test', key: randomBytes(32) }], 'test')),
    audit,
    permissions: { permissionsFor: (adminId) => authz.resolver.permissionsFor(adminId), adminActor: (adminId, base) => authz.adminActor(adminId, base) },
    config: {
      ...parseIdentityConfig({ argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } }, { adminOrigin: 'https://admin.rampart.test' }),
      ...opts.identity,
    },
    now,
    ...(opts.throttle ? { throttle: opts.throttle } : {}),
    roleSync: opts.roleSync ?? authz.idpSync,
    gate: authz.gate,
    ...(opts.roleSync ? { oidcAllowHttpForTests: true } : {}),
  });
  const auth = identity.authenticator;
  const ca = await createCertificateAuthority({ commonName: 'Test Enrollment CA', validityDays: 365, now: now(), keyAlgorithm: 'rsa-2048' });
  const references: InvitationReferences = {};
  const enrollment = await setupEnrollment({
    opened, ca, references, sealer: createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1')),
    audit, lookup: audit.log, now, baseUrl: () => 'https://mdm.test', topic: () => 'com.apple.mgmt.External.test',
    log: { warn: () => {}, error: () => {} },
    gate: authz.gate,
  });
  registerEnrollmentExecutors(authz.gate, enrollment);
  audit.events.length = 0; // set-up events (the SCEP RA's creation) are not what tests assert on
  const directory = await openTestDirectory(opened, audit, now);
  references.staffExists = (id) => directory.exists(id);
  if (fleet) references.groupExists = (id) => fleet.groupExists(id);
  const exportGate = fourEyesExportGate(authz.gate, audit);
  const runExport: ExportRun = (actor, recipient) => runExportJob({ directory, gate: exportGate, audit }, actor, recipient);
  const exportDownloads = await openExportDownloads({ opened, run: runExport, audit, now });
  authz.gate.register('pii.export', (params, ctx) => exportDownloads.runApproved(params, ctx.actor));
  const adminDeps: AdminServerDeps = {
    devices,
    commands,
    identity: identity.service,
    sessions: identity.sessions,
    auth,
    audit,
    authz: { admins: authz.admins, roles: authz.roles, tokens: authz.tokens, approvals: authz.gate },
    ...(fleet ? { groups: fleet.groups, bulk: fleet.bulk } : {}),
    enrollment: { invitations: enrollment.invitations, ca: enrollment.ca, revocation: enrollment.revocation },
    directory,
    exportJob: runExport,
    exportDownload: (actor, id) => exportDownloads.download(actor, id),
    health: opts.health ?? (async () => ({ status: 'ok' })),
    auditLog: createAuditReadService({ store: audit.log.store, audit }),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
  };
  const app = await createAdminServer(adminDeps);
  const first = await createFirstAdmin(storage, 'root', { now });
  await authz.roles.bootstrapOwner(first.admin.id);
  let n = 0;
  return {
    adminDeps,
    directory,
    enrollment,
    opened,
    storage,
    audit,
    devices,
    commands,
    auth,
    identity,
    app,
    authz,
    adminId: first.admin.id,
    rootToken: first.token,
    enqueued,
    clock,
    async tokenFor(scopes, o = {}) {
      const input: Parameters<typeof issueApiToken>[1] = { principalId: first.admin.id, name: `test ${++n}`, scopes };
      if (o.expiresAt !== undefined) input.expiresAt = o.expiresAt;
      return (await issueApiToken({ tokens: storage.tokens, now }, input)).token;
    },
    async adminWithToken(username, roles, scopes = ['*']) {
      const a = await storage.admins.create({ id: randomUUID(), username }, now().toISOString());
      for (const role of roles) await authz.store.assign({ adminId: a.id, role, groups: [], source: 'local', createdBy: 'test' }, now().toISOString());
      const { token } = await issueApiToken({ tokens: storage.tokens, now }, { principalId: a.id, name: `${username} test`, scopes });
      return { adminId: a.id, token };
    },
    async addDevice(id, fields = {}) {
      await storage.devices.create(id, { status: 'enrolled', ...fields }, now().toISOString());
    },
    ...(fleet ? { fleet } : {}),
    async close() {
      await app.close();
      await fleet?.stop();
      await audit.close();
      await opened.close();
    },
  };
}

/** A JSON request to the stack's admin server with a bearer token. */
export function callApi(st: Pick<TestStack, 'app'>, token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, remoteAddress = '127.0.0.1') {
  return st.app.inject({
    method,
    url,
    remoteAddress,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
}
