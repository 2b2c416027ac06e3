// Leader election for periodic work across nodes.
//
// PostgreSQL: each node keeps ONE dedicated session (a pg.Client outside the
// pool, so pool recycling cannot drop it) and tries pg_try_advisory_lock on
// it every `retryMs`. The node whose session holds the lock is the leader.
// Leadership is lost when that session dies: the server releases the lock at
// once (another node takes it on its next try), and this node learns it from
// the client's 'error'/'end' event or, at the latest, from the heartbeat query
// it runs every `retryMs` (bounded by `queryTimeoutMs`, so a silent network
// partition is noticed too). A lost leader stops its jobs (AbortSignal) and
// then competes again on a fresh session.
//
// Fencing: a job whose effect must not happen twice can run its final write
// through `fenced()`, which executes on the lock-holding session itself: if
// that session is gone, the write fails instead of racing the new leader.
//
// SQLite (one node): always leader.

import pg from 'pg';
import { lockKey } from './locks.ts';

export interface LeaderElection {
  /** True while this node holds the lock. */
  readonly isLeader: boolean;
  /** Aborted when the current leadership ends; undefined while not leader. */
  readonly signal: AbortSignal | undefined;
  /** Called with true on gaining and false on losing leadership. Returns an unsubscribe function. */
  onChange(fn: (leader: boolean) => void): () => void;
  /** Runs a query on the lock-holding session; rejects when not (or no longer) leader. */
  fenced(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Resolves once the first acquisition attempt has finished. */
  ready(): Promise<void>;
  /** Gives up leadership and stops competing. */
  stop(): Promise<void>;
}

export interface PgLeaderOptions {
  connectionString: string;
  /** Schema of the installation: locks are per schema. */
  schema: string;
  /** Lock name, e.g. "leader" or "audit.checkpoint". */
  name: string;
  /** Attempt and heartbeat period, ms (default 1000). */
  retryMs?: number;
  /** Heartbeat and acquisition query timeout, ms (default 5000). */
  queryTimeoutMs?: number;
  /** application_name of the session (default rampart-leader-<name>); shows the node in pg_stat_activity. */
  applicationName?: string;
  onError?: (err: unknown) => void;
}

class Listeners {
  readonly #fns = new Set<(leader: boolean) => void>();
  add(fn: (leader: boolean) => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }
  emit(v: boolean): void {
    for (const fn of this.#fns) {
      try {
        fn(v);
      } catch {
        /* a listener's failure must not stop the election */
      }
    }
  }
}

/** The trivial election of a single-node (SQLite) installation. */
export function alwaysLeader(): LeaderElection {
  const ctl = new AbortController();
  let stopped = false;
  return {
    get isLeader() {
      return !stopped;
    },
    get signal() {
      return stopped ? undefined : ctl.signal;
    },
    onChange: () => () => undefined,
    fenced: () => Promise.reject(new Error('fenced queries need PostgreSQL')),
    ready: () => Promise.resolve(),
    async stop() {
      stopped = true;
      ctl.abort();
    },
  };
}

export function createPgLeaderElection(opts: PgLeaderOptions): LeaderElection {
  const key = lockKey(opts.schema, opts.name);
  const retryMs = opts.retryMs ?? 1000;
  const queryTimeoutMs = opts.queryTimeoutMs ?? 5000;
  const onError = opts.onError ?? (() => undefined);
  const listeners = new Listeners();
  let client: pg.Client | null = null;
  let leading: AbortController | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let busy: Promise<void> = Promise.resolve();
  let firstDone: () => void = () => undefined;
  const first = new Promise<void>((r) => (firstDone = r));

  const lose = (): void => {
    if (leading) {
      leading.abort();
      leading = null;
      listeners.emit(false);
    }
  };

  const dropClient = (c: pg.Client): void => {
    if (client === c) client = null;
    lose();
    c.end().catch(() => undefined);
  };

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      connectionString: opts.connectionString,
      application_name: opts.applicationName ?? `rampart-leader-${opts.name}`,
      query_timeout: queryTimeoutMs,
      connectionTimeoutMillis: queryTimeoutMs,
    });
    // Both fire when the server terminates the session or the socket breaks.
    c.on('error', () => dropClient(c));
    c.on('end', () => dropClient(c));
    await c.connect();
    return c;
  };

  const attempt = async (): Promise<void> => {
    if (stopped) return;
    try {
      if (!client) client = await connect();
      const c = client;
      if (leading) {
        // Heartbeat: proves the session (and so the lock) is still there.
        await c.query('select 1');
        return;
      }
      const r = await c.query('select pg_try_advisory_lock($1, $2) as ok', [key.classId, key.objId]);
      if ((r.rows[0] as { ok: boolean }).ok && client === c && !stopped) {
        leading = new AbortController();
        listeners.emit(true);
      } else if ((r.rows[0] as { ok: boolean }).ok) {
        await c.query('select pg_advisory_unlock($1, $2)', [key.classId, key.objId]).catch(() => undefined);
      }
    } catch (err) {
      onError(err);
      if (client) dropClient(client);
    }
  };

  const loop = (): void => {
    busy = attempt().finally(() => {
      firstDone();
      if (!stopped) {
        timer = setTimeout(loop, retryMs);
        timer.unref();
      }
    });
  };
  loop();

  return {
    get isLeader() {
      return leading !== null;
    },
    get signal() {
      return leading?.signal;
    },
    onChange: (fn) => listeners.add(fn),
    async fenced(text, values) {
      const c = client;
      if (!leading || !c) throw new Error('not the leader');
      return c.query(text, values);
    },
    ready: () => first,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await busy;
      const c = client;
      client = null;
      lose();
      if (c) {
        c.removeAllListeners('end');
        c.removeAllListeners('error');
        c.on('error', () => undefined);
        // Ending the session releases the lock.
        await c.end().catch(() => undefined);
      }
    },
  };
}
