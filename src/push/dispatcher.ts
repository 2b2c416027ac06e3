// Push dispatcher: claims outbox rows, sends one push per device (several
// commands queued for one device in a batch share one push), records the
// outcome. Several dispatchers (several nodes) can run against one database:
// the claim is atomic, so no row is pushed by two of them, and a row claimed
// by a dispatcher that died is claimed again once its lease expires.
// It refuses to push without a certificate or with an expired one (rows wait).
import type { ApnsClient, ApnsCredentials, PushOutcome } from './apns.ts';
import type { UsablePushCertificate } from './cert-service.ts';
import type { ClaimedPush, Completion, OutboxStore } from './outbox.ts';
import { createWaker } from '../lib/waker.ts';

export interface DispatcherDeps {
  outbox: Pick<OutboxStore, 'reclaimExpired' | 'claim' | 'complete' | 'invalidateToken'>;
  client: Pick<ApnsClient, 'push'>;
  certificate: () => Promise<UsablePushCertificate | undefined>;
  /** Unique per dispatcher (node id + random). */
  owner: string;
  now: () => Date;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** Called with each device's push result and the number of outbox rows it settles (metrics). */
  onResult?: (state: Completion['state'], rows: number) => void;
  /** Rows per claim (default 1000). */
  batchSize?: number;
  /** Claims processed at once (default 4). */
  parallel?: number;
  /** Lease of a claim; must exceed the client's worst-case retry time (default 5 min). */
  leaseMs?: number;
  /** Poll interval when idle (default 1 s); wake() skips the wait. */
  idleMs?: number;
}

export interface BatchReport {
  claimed: number;
  sent: number;
  invalidToken: number;
  noToken: number;
  failed: number;
  /** True when nothing was claimed because no usable certificate is installed. */
  blocked: boolean;
}

export function createPushDispatcher(deps: DispatcherDeps) {
  const batchSize = deps.batchSize ?? 1000;
  const parallel = Math.max(1, deps.parallel ?? 4);
  const leaseMs = deps.leaseMs ?? 300_000;
  const idleMs = deps.idleMs ?? 1000;
  let running = false;
  const waker = createWaker();
  let lastBlockedLog = 0;
  const loops: Promise<void>[] = [];
  const totals = { sent: 0, invalidToken: 0, noToken: 0, failed: 0 };

  async function credentials(): Promise<ApnsCredentials | undefined> {
    const c = await deps.certificate();
    if (!c || c.state === 'expired' || c.state === 'not_yet_valid') {
      if (Date.now() - lastBlockedLog > 60_000) {
        lastBlockedLog = Date.now();
        deps.log.error({ certificate: c ? c.state : 'missing' }, 'push blocked: no valid push certificate');
      }
      return undefined;
    }
    return { certPem: c.cert.certPem, keyPem: c.cert.keyPem, topic: c.cert.topic, sha256: c.cert.sha256 };
  }

  async function runOnce(): Promise<BatchReport> {
    const report: BatchReport = { claimed: 0, sent: 0, invalidToken: 0, noToken: 0, failed: 0, blocked: false };
    const creds = await credentials();
    if (!creds) {
      report.blocked = true;
      return report;
    }
    const nowIso = deps.now().toISOString();
    await deps.outbox.reclaimExpired(nowIso);
    const rows = await deps.outbox.claim(deps.owner, batchSize, leaseMs, nowIso);
    report.claimed = rows.length;
    if (rows.length === 0) return report;
    // One push per device, however many of its commands are in this batch.
    const byDevice = new Map<string, ClaimedPush[]>();
    for (const r of rows) {
      const list = byDevice.get(r.deviceId);
      if (list) list.push(r);
      else byDevice.set(r.deviceId, [r]);
    }
    const done: Completion[] = [];
    await Promise.all([...byDevice.values()].map(async (list) => {
      const first = list[0]!;
      let state: Completion['state'];
      let reason: string | undefined;
      if (!first.pushToken || !first.pushMagic) {
        state = 'no_token';
      } else {
        const out: PushOutcome = await deps.client.push(creds, first.pushToken, first.pushMagic);
        if (out.status === 'sent') state = 'sent';
        else {
          state = out.status === 'invalid_token' ? 'invalid_token' : 'failed';
          reason = out.reason;
          if (out.status === 'invalid_token') await deps.outbox.invalidateToken(first.deviceId, first.pushToken, deps.now().toISOString());
        }
      }
      const counter = state === 'sent' ? 'sent' : state === 'invalid_token' ? 'invalidToken' : state === 'no_token' ? 'noToken' : 'failed';
      report[counter] += list.length;
      totals[counter] += list.length;
      deps.onResult?.(state, list.length);
      for (const r of list) done.push(reason !== undefined ? { id: r.id, state, reason } : { id: r.id, state });
    }));
    const changed = await deps.outbox.complete(deps.owner, done, deps.now().toISOString());
    if (changed < done.length) deps.log.warn({ expected: done.length, changed }, 'push claims expired before completion (lease too short?)');
    return report;
  }

  async function loop(): Promise<void> {
    while (running) {
      let r: BatchReport | undefined;
      try {
        r = await runOnce();
      } catch (e) {
        deps.log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'push dispatch failed');
      }
      if (!running) break;
      if (!r || r.claimed < batchSize) {
        await waker.sleep(idleMs);
      }
    }
  }

  return {
    runOnce,
    /** Starts `parallel` claim loops. */
    start(): void {
      if (running) return;
      running = true;
      for (let i = 0; i < parallel; i++) loops.push(loop());
    },
    /** New rows were committed: skip the idle wait. */
    wake(): void {
      waker.wake();
    },
    async stop(): Promise<void> {
      running = false;
      waker.wake();
      await Promise.all(loops.splice(0));
    },
    totals(): Readonly<typeof totals> {
      return { ...totals };
    },
  };
}

export type PushDispatcher = ReturnType<typeof createPushDispatcher>;

/**
 * The re-push job: devices that were pushed more than `afterMs` ago and have
 * still not answered get another push, up to `maxRounds` times. A plain
 * function so a leader-elected scheduler can run it once per cluster.
 */
export function createRepushJob(deps: { outbox: Pick<OutboxStore, 'rearmUnanswered'>; now: () => Date; afterMs: number; maxRounds: number; limit?: number }) {
  return async function repush(): Promise<number> {
    const now = deps.now();
    return deps.outbox.rearmUnanswered(new Date(now.getTime() - deps.afterMs).toISOString(), deps.maxRounds, deps.limit ?? 10_000, now.toISOString());
  };
}

/** Runs a job every `ms` in this process (until leader election takes over scheduling). */
export function everyInterval(job: () => Promise<unknown>, ms: number, onError: (e: unknown) => void): () => void {
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    job().catch(onError).finally(() => {
      busy = false;
    });
  }, ms);
  t.unref();
  return () => clearInterval(t);
}
