import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cell, fields, table } from './format.ts';

describe('terminal formatting', () => {
  it('renders aligned tables with sanitized, capped cells', () => {
    const out = table(['ID', 'NAME'], [['a', 'x\u001b]0;pwned\u0007'], ['bbb', null], ['c', 'y'.repeat(60)]], 10);
    assert.equal(out, ['ID   NAME', 'a    x?]0;pwned?'.slice(0, 5 + 9) + '…', 'bbb  -', 'c    yyyyyyyyy…', ''].join('\n'));
    assert.ok(!out.includes('\u001b'));
  });
  it('formats cells and fields', () => {
    assert.equal(cell(true), 'yes');
    assert.equal(cell(false), 'no');
    assert.equal(cell(undefined), '-');
    assert.equal(fields([['a', 1], ['long key', 'v']]), 'a         1\nlong key  v\n');
  });
});
