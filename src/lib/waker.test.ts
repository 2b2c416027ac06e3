import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWaker } from './waker.ts';

test('sleep ends after its time, or at once for every sleeper when woken', async () => {
  const w = createWaker();
  const t0 = Date.now();
  await w.sleep(20);
  assert.ok(Date.now() - t0 >= 15);
  let ended = 0;
  const a = w.sleep(60_000).then(() => ended++);
  const b = w.sleep(60_000).then(() => ended++);
  w.wake();
  await Promise.all([a, b]);
  assert.equal(ended, 2);
  w.wake(); // nobody asleep: nothing happens
});
