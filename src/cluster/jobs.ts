// Periodic jobs that must run on ONE node at a time (re-push, retention,
// clean-ups...). Every node registers the same jobs; only the current leader
// (src/cluster/leader.ts) runs them. A run never overlaps with the previous
// run of the same job. Each run gets an AbortSignal that fires when this
// node's leadership ends, so long work can stop early; anything that must not
// happen twice must still be idempotent in the database (a leader can lose its
// session in the middle of a run), or do its final write through
// LeaderElection.fenced().
//
//   const jobs = createJobRunner({ leader, onError });
//   jobs.register({ name: 'push.repush', intervalMs: 60_000, run: async ({ signal }) => { ... } });
//   jobs.start();

import type { LeaderElection } from './leader.ts';

export interface JobContext {
  /** Aborted when this node stops being the leader or the runner stops. */
  signal: AbortSignal;
  /** Start of this run. */
  now: Date;
}

export interface PeriodicJob {
  /** Unique name, shown in logs. */
  name: string;
  /** Time between the end of one run and the start of the next, ms. */
  intervalMs: number;
  run(ctx: JobContext): Promise<void>;
}

export interface JobRunner {
  register(job: PeriodicJob): void;
  start(): void;
  /** Stops scheduling and waits for running jobs to finish. */
  stop(): Promise<void>;
  /** Runs finished per job name (for tests and metrics). */
  readonly runs: ReadonlyMap<string, number>;
}

export interface JobRunnerOptions {
  leader: LeaderElection;
  onError?: (err: unknown, job: string) => void;
  clock?: () => Date;
}

export function createJobRunner(opts: JobRunnerOptions): JobRunner {
  const jobs = new Map<string, PeriodicJob>();
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const runs = new Map<string, number>();
  const clock = opts.clock ?? (() => new Date());
  const stopCtl = new AbortController();
  let started = false;

  const schedule = (job: PeriodicJob, delay: number): void => {
    if (stopCtl.signal.aborted) return;
    const t = setTimeout(() => tick(job), delay);
    t.unref();
    timers.set(job.name, t);
  };

  const tick = (job: PeriodicJob): void => {
    const leaderSignal = opts.leader.signal;
    if (!opts.leader.isLeader || !leaderSignal || stopCtl.signal.aborted) {
      schedule(job, job.intervalMs);
      return;
    }
    const signal = AbortSignal.any([leaderSignal, stopCtl.signal]);
    const p = (async () => {
      try {
        await job.run({ signal, now: clock() });
        runs.set(job.name, (runs.get(job.name) ?? 0) + 1);
      } catch (err) {
        opts.onError?.(err, job.name);
      }
    })();
    running.add(p);
    void p.finally(() => {
      running.delete(p);
      schedule(job, job.intervalMs);
    });
  };

  return {
    runs,
    register(job) {
      if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(job.name)) throw new Error('invalid job name');
      if (!Number.isInteger(job.intervalMs) || job.intervalMs < 10) throw new Error('invalid job interval');
      if (jobs.has(job.name)) throw new Error(`job ${job.name} registered twice`);
      jobs.set(job.name, job);
      if (started) schedule(job, 0);
    },
    start() {
      if (started) return;
      started = true;
      for (const job of jobs.values()) schedule(job, 0);
    },
    async stop() {
      stopCtl.abort();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
  };
}
