import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as plist from './index.ts';

test('index re-exports the public API', () => {
  for (const name of ['parsePlist', 'parsePlistDict', 'buildPlist', 'buildPlistString', 'isPlistDict']) {
    assert.equal(typeof (plist as Record<string, unknown>)[name], 'function', name);
  }
  assert.deepEqual(plist.parsePlistDict(plist.buildPlist({ a: [1, 'b'] })), { a: [1, 'b'] });
});
