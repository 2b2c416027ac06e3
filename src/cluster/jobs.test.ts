import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alwaysLeader, createPgLeaderElection } from './leader.ts';
import { createJobRunner } from './jobs.ts';
import { TEST_DATABASE_URL, pgSkipReason, randomSchema, terminateBackends, waitFor } from './testdata/pg.ts';

const skip = await pgSkipReason();

test('jobs run periodically on the leader, never overlapping themselves, and stop cleanly', async () => {
  const leader = alwaysLeader();
  const jobs = createJobRunner({ leader });
  let active = 0;
  let maxActive = 0;
  let n = 0;
  jobs.register({
    name: 'slow',
    intervalMs: 10,
    run: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 30));
      active--;
      n++;
    },
  });
  const errors: string[] = [];
  const failing = createJobRunner({ leader, onError: (_e, name) => errors.push(name) });
  failing.register({ name: 'boom', intervalMs: 10, run: async () => { throw new Error('x'); } });
  assert.throws(() => jobs.register({ name: 'slow', intervalMs: 10, run: async () => {} }), /twice/);
  assert.throws(() => jobs.register({ name: 'Bad', intervalMs: 10, run: async () => {} }), /invalid job name/);
  jobs.start();
  failing.start();
  await waitFor(() => n >= 3 && errors.length >= 2, 10_000, 'runs');
  await jobs.stop();
  await failing.stop();
  const after = n;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(n, after);
  assert.equal(maxActive, 1);
  assert.equal(jobs.runs.get('slow'), n);
});

test('postgres: a job registered on two nodes runs only on the leader, and moves when the leader session dies', { skip }, async () => {
  const schema = randomSchema();
  const apps = [0, 1].map((i) => `rampart-jobs-test-${schema}-${i}`);
  const leaders = apps.map((applicationName) =>
    createPgLeaderElection({ connectionString: TEST_DATABASE_URL, schema, name: 'jobs', retryMs: 50, applicationName }));
  const runners = leaders.map((leader) => createJobRunner({ leader }));
  const log: { node: number; start: number; end: number }[] = [];
  runners.forEach((r, node) =>
    r.register({
      name: 'retention',
      intervalMs: 20,
      run: async ({ signal }) => {
        const start = performance.now();
        await new Promise((res) => setTimeout(res, 10));
        if (!signal.aborted) log.push({ node, start, end: performance.now() });
      },
    }),
  );
  runners.forEach((r) => r.start());
  try {
    await waitFor(() => log.length >= 5, 10_000, 'runs on the leader');
    const first = log[0]!.node;
    assert.ok(log.every((e) => e.node === first), 'only the leader runs the job');
    const before = log.length;
    // The leader's session dies, as in a crash or a network cut.
    assert.equal(await terminateBackends(apps[first]!), 1);
    await waitFor(() => log.slice(before).filter((e) => e.node !== first).length >= 5, 15_000, 'runs on the other node');
    // Once the other node runs it, the old leader (which competes again) does not.
    const switched = log.findIndex((e, i) => i >= before && e.node !== first);
    assert.ok(log.slice(switched).every((e) => e.node !== first), 'one node at a time');
    assert.equal(leaders.filter((l) => l.isLeader).length, 1);
  } finally {
    await Promise.all(runners.map((r) => r.stop()));
    await Promise.all(leaders.map((l) => l.stop()));
  }
});
