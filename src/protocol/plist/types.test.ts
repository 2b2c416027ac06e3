import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PLIST_LIMITS, PLIST_LIMIT_CEILINGS, isPlistDict } from './types.ts';

test('default limits', () => {
  assert.deepEqual({ ...DEFAULT_PLIST_LIMITS }, { maxBytes: 262144, maxDepth: 32, maxNodes: 20000 });
  assert.ok(Object.isFrozen(DEFAULT_PLIST_LIMITS));
  for (const k of ['maxBytes', 'maxDepth', 'maxNodes'] as const) assert.ok(PLIST_LIMIT_CEILINGS[k] >= DEFAULT_PLIST_LIMITS[k]);
});

test('isPlistDict accepts plain objects only', () => {
  assert.ok(isPlistDict({}));
  assert.ok(isPlistDict(Object.create(null)));
  for (const v of [[], new Date(), new Uint8Array(1), null, 'x', 1, new Map(), new (class X {})()]) assert.equal(isPlistDict(v), false);
});
