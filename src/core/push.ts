// The core's push plane, wired once for serve.ts: the certificate service,
// the outbox (own module migrations), the APNs client, a dispatcher and the
// in-process re-push interval. Health turns "degraded" when the certificate
// is missing, about to expire or expired (the metrics gauge
// rampart_push_certificate_expiry_seconds carries the seconds left).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { Sealer } from '../services/checkin.ts';
import type { OpenedStorage } from '../storage/open.ts';
import { createApnsClient } from '../push/apns.ts';
import { createPushCertService, type PushCertService } from '../push/cert-service.ts';
import { loadPushConfig, type PushConfig } from '../push/config.ts';
import { createPushDispatcher, createRepushJob, everyInterval } from '../push/dispatcher.ts';
import { PUSH_MIGRATION_TABLE, pushMigrations } from '../push/migrations.ts';
import { createOutboxStore, type OutboxStore } from '../push/outbox.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Metrics } from './metrics.ts';

export interface OpenedPush {
  certs: PushCertService;
  outbox: OutboxStore;
  config: PushConfig;
  /** New outbox rows were committed. */
  wake(): void;
  /** 'ok' or 'degraded' (certificate missing, expiring or expired). */
  health(): Promise<'ok' | 'degraded'>;
  /** The re-push job, for a cluster scheduler. */
  repush(): Promise<number>;
  stop(): Promise<void>;
}

export async function openPush(d: {
  opened: OpenedStorage; sealer: Sealer; audit: AuditRecorder; log: Logger; now: () => Date; env?: NodeJS.ProcessEnv;
  /** Several nodes: the caller runs `repush` as a leader job instead of an interval in this process. */
  repushElsewhere?: boolean;
  /** Four-eyes gate: a new push certificate is staged until approved ("push.certificate"). */
  gate?: ApprovalGuard;
  /** Push results (src/core/metrics.ts). */
  metrics?: Pick<Metrics, 'push'>;
}): Promise<OpenedPush> {
  const config = loadPushConfig(d.env ?? process.env);
  await d.opened.migrateModule(PUSH_MIGRATION_TABLE, pushMigrations(d.opened.backend));
  const certs = createPushCertService({ settings: d.opened.storage.settings, sealer: d.sealer, audit: d.audit, now: d.now, warnDays: config.warnDays, ...(d.gate ? { gate: d.gate } : {}) });
  const outbox = createOutboxStore(d.opened.db, d.opened.backend);
  const apns = createApnsClient({ baseUrl: config.apnsUrl, ...(config.apnsCaPem ? { ca: config.apnsCaPem } : {}), concurrency: config.concurrency });
  const dispatcher = createPushDispatcher({
    outbox,
    client: apns,
    certificate: () => certs.current(),
    owner: `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
    now: d.now,
    log: d.log,
    ...(d.metrics ? { onResult: (state: 'sent' | 'no_token' | 'invalid_token' | 'failed', rows: number) => d.metrics!.push(state, rows) } : {}),
  });
  dispatcher.start();
  const repush = createRepushJob({ outbox, now: d.now, afterMs: config.repushAfterMs, maxRounds: config.repushMaxRounds });
  const stopRepush = config.repushAfterMs > 0 && d.repushElsewhere !== true
    ? everyInterval(async () => {
      const n = await repush();
      if (n > 0) dispatcher.wake();
    }, Math.min(60_000, config.repushAfterMs), (e) => d.log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'push re-push job failed'))
    : () => {};
  let lastWarn = 0;
  async function health(): Promise<'ok' | 'degraded'> {
    const s = await certs.status();
    if (s.state === 'valid') return 'ok';
    if (Date.now() - lastWarn > 3_600_000) {
      lastWarn = Date.now();
      d.log.warn({ certificate: s.state, daysLeft: s.daysLeft }, s.state === 'missing' ? 'no APNs push certificate uploaded: devices are not woken' : 'APNs push certificate needs renewal');
    }
    return 'degraded';
  }
  await health();
  return {
    certs,
    outbox,
    config,
    wake: () => dispatcher.wake(),
    health,
    repush,
    async stop() {
      stopRepush();
      await dispatcher.stop();
      apns.close();
    },
  };
}
