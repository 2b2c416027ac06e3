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
import { createAuthenticator, createFirstAdmin } from '../admin/tokens.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { createDevelopmentTls } from './tls.ts';
import { loadOrCreateCa } from './ca.ts';
import { openKeys } from './keys.ts';
import { openAudit, type OpenedAudit } from './audit.ts';
import { createDevicePlane } from './device-plane.ts';
import { createRateCounter } from './rate-counter.ts';
import { superviseGateway, type GatewaySupervisor } from '../supervisor/gateway-process.ts';
import type { InitMessage } from '../ipc/messages.ts';
import { toPem } from '../pki/pem.ts';
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
  const audit: OpenedAudit = await openAudit(config, opened, keys.sealer, log);
  undo.push(() => audit.close());

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

  const devices = createDeviceService({ devices: storage.devices, audit: audit.recorder });
  const commands = createCommandService({
    queue: storage.queue,
    devices: storage.devices,
    audit: audit.recorder,
    build: (input) => buildCommand(input),
    now,
    newUuid: () => randomUUID(),
  });

  // First start: one administrator, whose full-access token is shown once.
  let firstAdminToken: string | undefined;
  if ((await storage.admins.count()) === 0) {
    const first = await createFirstAdmin(storage, 'admin', { now });
    firstAdminToken = first.token;
    await audit.recorder.record({ action: 'admin.create', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'admin', id: first.admin.id }, details: { bootstrap: true } });
  }
  await releaseStartup();
  const cluster = startClusterNode(config, opened, log);
  // Modules register their periodic work with cluster.jobs (runs on the leader only).
  cluster.jobs.start();

  const admin: FastifyInstance = await createAdminServer({
    devices,
    commands,
    auth: createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now }),
    audit: audit.recorder,
    logger: log,
    health: async () => {
      try {
        await storage.settings.get('health');
        return { status: 'ok', checks: { database: 'ok' } };
      } catch {
        return { status: 'unavailable', checks: { database: 'fail' } };
      }
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
    trustAnchors: [ca.certDer],
    limits: { maxBodyBytes: config.maxBodyBytes, maxPlistDepth: config.maxPlistDepth },
    log,
    now,
    topic: () => topic,
  });
  const rejections = createRateCounter(20, 60_000);
  const init: InitMessage = {
    t: 'init',
    listen: config.deviceListen,
    tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    trustAnchors: [Buffer.from(ca.certDer).toString('base64')],
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
  let devicePort: number;
  try {
    devicePort = await ready;
  } catch (e) {
    await cluster.stop();
    await gateway.stop();
    await admin.close();
    await deviceLock.close();
    await audit.close();
    await opened.close();
    throw e;
  }
  const deviceHost = config.deviceListen.host.includes(':') ? `[${config.deviceListen.host}]` : config.deviceListen.host;
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
      await cluster.stop();
      await gateway.stop();
      await admin.close();
      await deviceLock.close();
      await audit.close();
      await opened.close();
    },
  };
}

/** The `rampart serve` command. */
export async function serve(opts: { config?: string | undefined; dev: boolean }): Promise<void> {
  const config = loadConfig({ file: opts.config, dev: opts.dev });
  const server = await startServer(config);
  const out = process.stdout;
  out.write(`Rampart is running${config.dev ? ' (development mode)' : ''}.\n`);
  out.write(`  Device plane (public):  ${server.deviceUrl}   MDM ${server.deviceUrl}/mdm\n`);
  out.write(`  Admin API (loopback):   ${server.adminUrl}/api/v1   health ${server.adminUrl}/api/v1/health\n`);
  out.write(`  Data directory:         ${config.dataDir}\n`);
  out.write(`  Node:                   ${config.nodeId}${config.databaseUrl ? ` (PostgreSQL schema ${config.databaseSchema})` : ''}\n`);
  out.write(`  Audit verifier key:     ${server.auditVerifierKey}\n`);
  out.write(`  Audit checkpoints:      ${path.join(config.dataDir, 'audit-checkpoints.log')} (copy them off this machine)\n`);
  if (server.firstAdminToken) {
    out.write(`\n  First administrator: admin\n  One-time credential (shown once, store it now):\n    ${server.firstAdminToken}\n`);
    out.write(`  Try: RAMPART_TOKEN=<credential> npm run rampart -- devices list --url ${server.adminUrl}\n`);
  }
  out.write('\n');
  const shutdown = (): void => {
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
