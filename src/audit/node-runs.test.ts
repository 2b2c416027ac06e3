import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HashRun } from './merkle.ts';
import { StoredNodeRuns } from './node-runs.ts';
import { NODE_STRIDE } from './store.ts';

const h = (n: number): Uint8Array => new Uint8Array(32).fill(n);

test('stored-node runs: only stored levels, consecutive indices in one read, each difference reported', async () => {
  const stored = new Map<string, Uint8Array>();
  for (let i = 0; i < 6; i++) stored.set(`${NODE_STRIDE}:${i}`, h(i));
  stored.set(`0:7`, h(70));
  const reads: HashRun[][] = [];
  const reader = {
    stride: NODE_STRIDE,
    readHashes: async (runs: readonly HashRun[]) => {
      reads.push([...runs]);
      return runs.map((r) => Array.from({ length: r.count }, (_, k) => stored.get(`${r.level}:${r.start + k}`)).filter((x): x is Uint8Array => x !== undefined));
    },
  };
  const runs = new StoredNodeRuns<number>();
  runs.add(1, 0, 99); // not a stored level (NODE_STRIDE > 1): ignored
  for (let i = 0; i < 4; i++) runs.add(NODE_STRIDE, i, i === 2 ? 42 : i); // index 2 differs
  runs.add(NODE_STRIDE, 8, 8); // a gap starts a new run; not stored at all
  runs.add(0, 7, 70);
  assert.equal(runs.count, 6);
  const bad: string[] = [];
  await runs.compare(reader, (s, c) => s[0] === c, (level, index) => bad.push(`${level}:${index}`));
  assert.deepEqual(reads, [[{ level: NODE_STRIDE, start: 0, count: 4 }, { level: NODE_STRIDE, start: 8, count: 1 }, { level: 0, start: 7, count: 1 }]]);
  assert.deepEqual(bad.sort(), [`${NODE_STRIDE}:2`, `${NODE_STRIDE}:8`].sort());
  assert.equal(runs.count, 0);
  await runs.compare(reader, () => true, () => assert.fail('nothing left to compare'));
  assert.equal(reads.length, 1, 'an empty compare reads nothing');
});
