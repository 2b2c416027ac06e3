// `rampart serve`: the core process. Opens storage and keys, ensures the CA
// and TLS material exist, starts the admin listener, then has the supervisor
// fork the sandboxed device gateway and wires its IPC link to the services.
import { mkdirSync, readFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../config/config.ts';
import { openStorage, type OpenedStorage } from '../storage/open.ts';
import { createDeviceService } from '../services/devices.ts';
import { createCommandService } from '../services/commands.ts';
import { createAdminServer } from '../admin/server.ts';
import type { HealthReport } from '../admin/types.ts';
import { createAuthenticator, createFirstAdmin } from '../admin/tokens.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { createDevelopmentTls } from './tls.ts';
import { loadOrCreateCa } from './ca.ts';
import { registerEnrollmentExecutors, setupEnrollment } from '../enroll/setup.ts';
import { applyPendingRotation } from '../enroll/ca-admin.ts';
import type { InvitationReferences } from '../enroll/invitations.ts';
import { openKeys } from './keys.ts';
import { openAudit, type OpenedAudit } from './audit.ts';
import { openPush } from './push.ts';
import { registerPushExecutors } from '../push/cert-service.ts';
import { openFleet } from './fleet.ts';
import { createAuditReadService } from '../audit/service.ts';
import { createDevicePlane } from './device-plane.ts';
import { createRateCounter } from './rate-counter.ts';
import { createMetrics, instrumentAudit, type MetricsSources } from './metrics.ts';
import { superviseGateway, type GatewaySupervisor } from '../supervisor/gateway-process.ts';
import type { InitMessage } from '../ipc/messages.ts';
import { toPem } from '../pki/pem.ts';
import { openAuthz } from '../authz/index.ts';
import type { GroupMembership } from '../authz/types.ts';
import { registerCommandExecutors } from '../authz/executors.ts';
import { openIdentity } from '../identity/index.ts';
import { openStaffDirectory } from '../directory/open.ts';
import { runExportJob } from '../directory/export.ts';
import { fourEyesExportGate, openExportDownloads, type ExportRun } from '../directory/export-approval.ts';
import { createGroupService } from '../directory/groups.ts';
import { holdClusterLock } from '../cluster/locks.ts';
import { migrateInstallation } from '../cluster/migrate.ts';
import { startClusterNode, type ClusterNode } from '../cluster/node.ts';
import { localSerializer, pgSerializer } from '../cluster/device-lock.ts';

export interface RunningServer {
  config: Config;
  deviceUrl: string;
  adminUrl: string;
  devicePort: number;
  adminPort: number;
  caCertPem: string;
  tlsCaPem: string;
  topic: string;
  /** Verifier key of the audit log's checkpoints (public; keep a copy off this machine). */
  auditVerifierKey: string;
  /** Printed once at first start; undefined afterwards. */
  firstAdminToken: string | undefined;
  /** Leader election and periodic jobs of this node (see src/cluster/). */
  cluster: ClusterNode;
  stop(): Promise<void>;
}

export const DEV_TOPIC = 'com.apple.mgmt.External.rampart-development';

export async function startServer(config: Config, opts: { logger?: Logger } = {}): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const opened: OpenedStorage = await openStorage({
    databaseUrl: config.databaseUrl,
    sqlitePath: path.join(config.dataDir, 'rampart.db'),
    postgres: { schema: config.databaseSchema },
  });
  // Nodes starting at once on one database take turns from here to the first
  // administrator: migrations, key file, audit signer key, CA, TLS material.
  const releaseStartup = await holdClusterLock(opened, 'startup');
  // What a failed start must close (newest first), so the process can exit.
  const undo: (() => Promise<void>)[] = [];
  try {
    return await startNode(config, opts, opened, releaseStartup, undo);
  } catch (e) {
    await releaseStartup();
    for (const u of undo.reverse()) await u().catch(() => undefined);
    await opened.close().catch(() => undefined);
    throw e;
  }
}

async function startNode(
  config: Config,
  opts: { logger?: Logger },
  opened: OpenedStorage,
  releaseStartup: () => Promise<void>,
  undo: (() => Promise<void>)[],
): Promise<RunningServer> {
  const log = (opts.logger ?? pino({ level: config.logLevel }, pino.destination(2))).child({ node: config.nodeId });
  const now = (): Date => new Date();
  await migrateInstallation(opened, { databaseUrl: config.databaseUrl, auditSqlitePath: path.join(config.dataDir, 'audit.db') });
  const keys = await openKeys(config);
  const { storage } = opened;
  // Gauges read their values at scrape time from the modules opened below.
  const sources: MetricsSources = {};
  const metrics = createMetrics({ nodeId: config.nodeId, sources, now });
  const openedAudit: OpenedAudit = await openAudit(config, opened, keys.sealer, log);
  undo.push(() => openedAudit.close());
  // Every service records through the instrumented recorder (appends and security events are counted).
  const audit: OpenedAudit = { ...openedAudit, recorder: instrumentAudit(openedAudit.recorder, metrics) };
  sources.auditSize = () => audit.log.store.size();
  sources.lastCheckpointAt = async () => (await audit.log.store.latestCheckpoint())?.createdAt ?? null;

  if (await applyPendingRotation(storage.settings, now)) {
    await audit.recorder.record({ action: 'ca.rotate.applied', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'ca', id: 'enrollment' } });
  }
  const { ca, created } = await loadOrCreateCa(
    { settings: storage.settings, sealer: keys.sealer, now },
    { commonName: config.dev ? 'Rampart Development Enrollment CA' : 'Rampart Enrollment CA', validityDays: 3650 },
  );
  if (created) {
    await audit.recorder.record({ action: 'ca.create', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'ca', id: 'enrollment' } });
  }
  const tls = config.tlsCertFile
    ? { certPem: readFileSync(config.tlsCertFile, 'utf8'), keyPem: readFileSync(config.tlsKeyFile!, 'utf8'), caPem: readFileSync(config.tlsCertFile, 'utf8') }
    : await createDevelopmentTls(config.dataDir, ca, now());
  const topic = (await storage.settings.get('push.topic')) ?? DEV_TOPIC;
  // Device groups open after the command service; role assignments limited to groups ask them lazily.
  const membership: { groups?: GroupMembership } = {};
  const authz = await openAuthz({
    opened, storage, audit: audit.recorder, config: config.authz, now,
    groups: { groupsOf: (deviceId) => (membership.groups ? membership.groups.groupsOf(deviceId) : Promise.resolve([])) },
  });
  const push = await openPush({ opened, sealer: keys.sealer, audit: audit.recorder, log, now, repushElsewhere: opened.backend === 'postgres', gate: authz.gate, metrics });
  sources.outboxDepth = () => push.outbox.backlog();
  sources.pushCertificate = async () => {
    const c = await push.certs.status();
    return c.notAfter === null ? null : { notAfter: c.notAfter, state: c.state };
  };
  registerPushExecutors(authz.gate, push.certs);

  const rejections = createRateCounter(20, 60_000);
  let deviceBaseUrl = config.publicUrl;
  // Invitations may name a staff member and a device group: looked up once those modules are open.
  const references: InvitationReferences = {};
  const enrollment = await setupEnrollment({
    opened, ca, sealer: keys.sealer, audit: audit.recorder, lookup: audit.log, now, log, rejections, references,
    baseUrl: () => deviceBaseUrl,
    topic: () => topic,
    gate: authz.gate,
  });
  registerEnrollmentExecutors(authz.gate, enrollment);

  const devices = createDeviceService({ devices: storage.devices, audit: audit.recorder, scope: authz.scope });
  const staff = await openStaffDirectory({ storage: opened, sealer: keys.sealer, audit: audit.recorder, log });
  const commandDeps = {
    queue: storage.queue,
    devices: storage.devices,
    audit: audit.recorder,
    build: (input: Parameters<typeof buildCommand>[0]) => buildCommand(input),
    now,
    newUuid: () => randomUUID(),
    pushOutbox: push.outbox,
    onPushQueued: () => push.wake(),
    onEnqueued: (deviceIds: string[]) => metrics.commands('queued', deviceIds.length),
  };
  const commands = createCommandService({ ...commandDeps, scope: authz.scope, gate: authz.gate });
  // The bulk worker queues jobs already decided (permissions, four-eyes, rate
  // limits) when they were requested: it uses a command service without the gate.
  const jobCommands = createCommandService(commandDeps);
  const fleet = await openFleet({ opened, audit: audit.recorder, commands: jobCommands, gate: authz.gate, build: (input) => buildCommand(input), outbox: push.outbox, log, now });
  membership.groups = fleet.membership;
  references.staffExists = (id) => staff.directory.exists(id);
  references.groupExists = (id) => fleet.groupExists(id);
  registerCommandExecutors(authz.gate, commands, fleet.bulk);
  // Personal-data export: four-eyes approved, sealed to the requester's key, downloaded once.
  const exportGate = fourEyesExportGate(authz.gate, audit.recorder);
  const runExport: ExportRun = (actor, recipient) => runExportJob({ directory: staff.directory, gate: exportGate, audit: audit.recorder }, actor, recipient);
  const exportDownloads = await openExportDownloads({ opened, run: runExport, audit: audit.recorder, now });
  authz.gate.register('pii.export', (params, ctx) => exportDownloads.runApproved(params, ctx.actor));

  // Sign-in, MFA and sessions (src/identity).
  const BOOTSTRAP_KEY = 'identity.bootstrap_admin';
  const identity = await openIdentity({
    opened,
    storage,
    tokenAuthenticator: createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now, toActor: authz.tokenActor }),
    sealer: keys.sealer,
    audit: audit.recorder,
    // Roles (src/authz): the whole actor, including device-group limits.
    permissions: { permissionsFor: (adminId) => authz.resolver.permissionsFor(adminId), adminActor: (adminId, base) => authz.adminActor(adminId, base) },
    roleSync: authz.idpSync,
    gate: authz.gate,
    config: config.identity,
    now,
  });
  // Approved actions left mid-run by a crash (every executor is registered by now).
  await authz.gate.resume();
  const purge = setInterval(() => {
    void identity.store.purgeExpired(now().toISOString()).catch(() => {});
    void exportDownloads.purgeExpired().catch(() => {});
  }, 10 * 60_000);
  purge.unref();

  // First start: one administrator, whose full-access token is shown once. It
  // keeps working for the command line; in a browser it is the first
  // password, after which a real password and a second factor are mandatory.
  let firstAdminToken: string | undefined;
  if ((await storage.admins.count()) === 0) {
    const first = await createFirstAdmin(storage, 'admin', { now });
    firstAdminToken = first.token;
    await authz.roles.bootstrapOwner(first.admin.id);
    await audit.recorder.record({ action: 'admin.create', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'admin', id: first.admin.id }, details: { bootstrap: true } });
    await storage.settings.set(BOOTSTRAP_KEY, first.admin.id, now().toISOString());
    await identity.store.putAccount({ adminId: first.admin.id, passwordHash: null, passwordChangedAt: null, breakGlass: true, oidcIssuer: null, oidcSubject: null }, now().toISOString());
  }
  await releaseStartup();
  const cluster = startClusterNode(config, opened, log);
  // Modules register their periodic work with cluster.jobs (runs on the leader only).
  if (opened.backend === 'postgres') {
    // Several nodes: the leader forwards the audit log to the SIEMs, from each forwarder's saved cursor.
    audit.siem.forEach((f, i) => cluster.jobs.register({ name: `audit.siem.${i}`, intervalMs: 1000, run: async () => void (await f.forwardOnce()) }));
    // and re-pushes devices that have not answered (pushes themselves are claimed per row by any node's dispatcher).
    if (push.config.repushAfterMs > 0) {
      cluster.jobs.register({
        name: 'push.repush',
        intervalMs: Math.min(60_000, push.config.repushAfterMs),
        run: async () => {
          if ((await push.repush()) > 0) push.wake();
        },
      });
    }
  }
  // CRLs that are a day old are made again, by one node (on SQLite the only one).
  cluster.jobs.register({
    name: 'enroll.crl',
    intervalMs: 10 * 60_000,
    run: async () => void (await enrollment.revocation.maintain()),
  });
  cluster.jobs.start();

  const admin: FastifyInstance = await createAdminServer({
    devices,
    commands,
    identity: identity.service,
    sessions: identity.sessions,
    auth: identity.authenticator,
    audit: audit.recorder,
    authz: { admins: authz.admins, roles: authz.roles, tokens: authz.tokens, approvals: authz.gate },
    enrollment: { invitations: enrollment.invitations, ca: enrollment.ca, revocation: enrollment.revocation },
    auditLog: createAuditReadService({ store: audit.log.store, audit: audit.recorder }),
    logger: log,
    push: push.certs,
    groups: fleet.groups,
    bulk: fleet.bulk,
    directory: staff.directory,
    exportJob: runExport,
    exportDownload: (actor, id) => exportDownloads.download(actor, id),
    scimGroups: createGroupService({ db: opened.db, audit: audit.recorder }),
    metrics,
    trustProxy: config.trustProxy,
    health: async (): Promise<HealthReport> => {
      try {
        await storage.settings.get('health');
      } catch {
        return { status: 'unavailable', checks: { database: 'fail' } };
      }
      const pushHealth = await push.health().catch(() => 'degraded' as const);
      return { status: pushHealth, checks: { database: 'ok', push: pushHealth === 'ok' ? 'ok' : 'fail' } };
    },
  });
  await admin.listen({ host: config.adminListen.host, port: config.adminListen.port });
  const adminAddr = admin.server.address();
  const adminPort = typeof adminAddr === 'object' && adminAddr ? adminAddr.port : config.adminListen.port;

  // One device's result reports are recorded one at a time, on every node.
  const deviceLock = config.databaseUrl && opened.backend === 'postgres'
    ? pgSerializer({ connectionString: config.databaseUrl, schema: config.databaseSchema })
    : { run: localSerializer(), close: async () => undefined };
  // The core verifies every device request again with its own verifier.
  const link = createDevicePlane({
    serialize: deviceLock.run,
    storage,
    audit: audit.recorder,
    lookup: audit.log,
    sealer: keys.sealer,
    trust: () => {
      const p = enrollment.pki.current();
      return { version: p.version, anchors: p.trust.anchors, intermediates: p.trust.intermediates };
    },
    limits: { maxBodyBytes: config.maxBodyBytes, maxPlistDepth: config.maxPlistDepth },
    log,
    now,
    topic: () => topic,
    identities: enrollment.device,
    metrics,
    revoked: (sha) => enrollment.revocation.isRevoked(sha),
    rejections,
  });
  const init: InitMessage = {
    t: 'init',
    listen: config.deviceListen,
    tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    trustAnchors: enrollment.pki.current().trust.anchors.map((c) => Buffer.from(c).toString('base64')),
    intermediates: enrollment.pki.current().trust.intermediates.map((c) => Buffer.from(c).toString('base64')),
    limits: { maxBodyBytes: config.maxBodyBytes, maxPlistDepth: config.maxPlistDepth },
    proxy: { clientCertHeader: config.proxyClientCertHeader ?? null, trusted: config.trustedProxies },
    coreTimeoutMs: 25_000,
  };
  let readyResolve: (port: number) => void = () => {};
  let readyReject: (e: Error) => void = () => {};
  const ready = new Promise<number>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  let everReady = false;
  const gateway: GatewaySupervisor = superviseGateway({
    init,
    onMessage: (m) => {
      if (m.t === 'mdm') {
        link.handleMdm(m).then(
          (r) => gateway.send(r),
          (e: unknown) => {
            log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'device request failed');
            gateway.send({ t: 'response', id: m.id, status: 500 });
          },
        );
      } else if (m.t === 'enroll') {
        enrollment.link.handleEnroll(m).then(
          (r) => gateway.send(r),
          () => gateway.send({ t: 'response', id: m.id, status: 500 }),
        );
      } else if (m.t === 'rejected') {
        link.handleRejection(m, rejections).catch(() => {});
      }
    },
    onInvalidMessage: () => {
      log.error({}, 'invalid message from the device gateway');
      audit.recorder
        .record({ action: 'gateway.integrity_violation', actor: { type: 'gateway', id: 'device-gateway' }, outcome: 'denied', details: { reason: 'invalid_ipc_message' } })
        .catch(() => {});
    },
    onReady: (port) => {
      // A restarted gateway binds the same port (matters when configured as port 0).
      init.listen = { host: init.listen.host, port };
      everReady = true;
      readyResolve(port);
      log.info({ port }, 'device gateway ready');
    },
    onExit: ({ code, signal, restartInMs }) => {
      if (restartInMs !== null) log.warn({ code, signal, restartInMs }, 'device gateway exited; restarting');
      if (!everReady && restartInMs !== null && restartInMs >= 1600) readyReject(new Error('the device gateway failed to start'));
    },
  });
  // A CA rotation or import takes effect at once: the gateway gets the new
  // trust set (public certificates only), and a restarted gateway gets it in init.
  enrollment.pki.onChange((p) => {
    const msg = {
      t: 'trust' as const,
      trustAnchors: p.trust.anchors.map((c) => Buffer.from(c).toString('base64')),
      intermediates: p.trust.intermediates.map((c) => Buffer.from(c).toString('base64')),
    };
    init.trustAnchors = msg.trustAnchors;
    init.intermediates = msg.intermediates;
    gateway.send(msg);
    log.info({ anchors: msg.trustAnchors.length, intermediates: msg.intermediates.length }, 'enrollment CA changed; trust set sent to the device gateway');
  });
  // Other nodes' CA changes (several nodes on one database) are picked up here.
  // Likewise revocations: the revoked set is reloaded (CRLs that are due are made by the leader's job).
  const pkiRefresh = setInterval(() => {
    enrollment.pki.reload().catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'enrollment CA reload failed'));
    enrollment.revocation.maintain({ publish: false }).catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'revoked set reload failed'));
  }, 30_000);
  pkiRefresh.unref();
  /** Stops everything this node started, in reverse order of dependence. */
  const shutdown = async (): Promise<void> => {
    await cluster.stop();
    clearInterval(purge);
    clearInterval(pkiRefresh);
    await gateway.stop();
    await admin.close();
    await enrollment.revocation.flush();
    await fleet.stop();
    await push.stop();
    await staff.close();
    await deviceLock.close();
    await audit.close();
    await opened.close();
  };
  let devicePort: number;
  try {
    devicePort = await ready;
  } catch (e) {
    await shutdown();
    throw e;
  }
  const deviceHost = config.deviceListen.host.includes(':') ? `[${config.deviceListen.host}]` : config.deviceListen.host;
  // A configured port 0 (tests) is only known now.
  if (/:0$/.test(config.publicUrl)) deviceBaseUrl = `https://${deviceHost}:${devicePort}`;
  const adminHost = config.adminListen.host.includes(':') ? `[${config.adminListen.host}]` : config.adminListen.host;
  let stopped = false;
  return {
    config,
    deviceUrl: `https://${deviceHost}:${devicePort}`,
    adminUrl: `http://${adminHost}:${adminPort}`,
    devicePort,
    adminPort,
    caCertPem: toPem('CERTIFICATE', ca.certDer),
    tlsCaPem: tls.caPem,
    topic,
    auditVerifierKey: audit.verifierKey,
    firstAdminToken,
    cluster,
    async stop() {
      if (stopped) return;
      stopped = true;
      await shutdown();
    },
  };
}

/** The `rampart serve` command. */
export async function serve(opts: { config?: string | undefined; dev: boolean }): Promise<void> {
  const config = loadConfig({ file: opts.config, dev: opts.dev });
  const server = await startServer(config);
  // One write: whoever reads the banner (a person, a supervisor, the e2e harness) gets it whole.
  const lines = [
    `Rampart is running${config.dev ? ' (development mode)' : ''}.`,
    `  Device plane (public):  ${server.deviceUrl}   MDM ${server.deviceUrl}/mdm`,
    `  Admin API (loopback):   ${server.adminUrl}/api/v1   health ${server.adminUrl}/api/v1/health`,
    `  Data directory:         ${config.dataDir}`,
    `  Node:                   ${config.nodeId}${config.databaseUrl ? ` (PostgreSQL schema ${config.databaseSchema})` : ''}`,
    `  Audit verifier key:     ${server.auditVerifierKey}`,
    `  Audit checkpoints:      ${config.audit.checkpointFile}${config.audit.checkpointSyslog || config.audit.checkpointWebhook ? ' (+ syslog/webhook)' : ' (keep it on another mount, or configure RAMPART_AUDIT_CHECKPOINT_SYSLOG/_WEBHOOK)'}`,
  ];
  if (server.firstAdminToken) {
    lines.push(
      '',
      '  First administrator: admin',
      '  One-time credential (shown once, store it now):',
      `    ${server.firstAdminToken}`,
      `  Try: RAMPART_TOKEN=<credential> npm run rampart -- devices list --url ${server.adminUrl}`,
      '  First sign-in (browser or `rampart login`): user admin, the credential as password; you then set a password and enrol MFA.',
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');
  const shutdown = (): void => {
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
