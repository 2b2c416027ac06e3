// A node's part in a cluster: the leader election (PostgreSQL advisory lock on
// a dedicated session; always leader on SQLite) and the periodic-job runner
// that runs registered jobs on the leader only. `rampart serve` starts one;
// modules register their periodic work on `jobs` before `jobs.start()`.

import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { OpenedStorage } from '../storage/open.ts';
import { createJobRunner } from './jobs.ts';
import type { JobRunner } from './jobs.ts';
import { alwaysLeader, createPgLeaderElection } from './leader.ts';
import type { LeaderElection } from './leader.ts';

export interface ClusterNode {
  nodeId: string;
  leader: LeaderElection;
  jobs: JobRunner;
  stop(): Promise<void>;
}

export function startClusterNode(config: Config, opened: OpenedStorage, log: Logger): ClusterNode {
  const leader = opened.backend === 'postgres' && config.databaseUrl !== undefined
    ? createPgLeaderElection({
      connectionString: config.databaseUrl,
      schema: opened.schema ?? 'public',
      name: 'leader',
      applicationName: `rampart-leader-${config.nodeId}`,
      onError: (err) => log.warn({ err: err instanceof Error ? err.message : 'unknown' }, 'leader election: session failed'),
    })
    : alwaysLeader();
  leader.onChange((isLeader) => log.info({ leader: isLeader }, isLeader ? 'this node is now the leader' : 'this node is no longer the leader'));
  const jobs = createJobRunner({
    leader,
    onError: (err, job) => log.error({ job, err: err instanceof Error ? err.message : 'unknown' }, 'periodic job failed'),
  });
  return {
    nodeId: config.nodeId,
    leader,
    jobs,
    async stop() {
      await jobs.stop();
      await leader.stop();
    },
  };
}
