import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateCounter } from './rate-counter.ts';

test('allows up to the limit per key per window, then resets', () => {
  let t = 0;
  const c = createRateCounter(2, 1000, () => t);
  assert.deepEqual([c.allow('a'), c.allow('a'), c.allow('a'), c.allow('b')], [true, true, false, true]);
  assert.equal(c.suppressed(), 1);
  t = 1000;
  assert.equal(c.allow('a'), true);
  assert.equal(c.suppressed(), 0);
});
