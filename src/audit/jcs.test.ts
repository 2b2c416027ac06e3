import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalize, canonicalizeText, canonicalString, compareCodeUnits, CanonicalizationError } from './jcs.ts';
import { JCS_VECTORS, JCS_NUMBER_VECTORS, JCS_NUMBER_ERRORS } from './testdata/jcs-vectors.ts';
import type { JsonValue } from './types.ts';
import fc from 'fast-check';

test('RFC 8785 reference vectors (cyberphone/json-canonicalization testdata)', () => {
  for (const v of JCS_VECTORS) {
    assert.equal(canonicalizeText(v.input), v.output, v.name);
  }
});

test('RFC 8785 Appendix B number serialisation', () => {
  for (const [hex, want] of JCS_NUMBER_VECTORS) {
    const n = Buffer.from(hex, 'hex').readDoubleBE(0);
    assert.equal(canonicalize(n), want, hex);
  }
  for (const hex of JCS_NUMBER_ERRORS) {
    const n = Buffer.from(hex, 'hex').readDoubleBE(0);
    assert.throws(() => canonicalize(n), CanonicalizationError);
  }
});

test('keys sort by UTF-16 code units, not code points or locale', () => {
  // U+FB33 (one unit 0xFB33) sorts after U+1F602 (surrogates 0xD83D 0xDE02).
  assert.ok(compareCodeUnits('\ud83d\ude02', '\ufb33') < 0);
  assert.equal(canonicalize({ '\ufb33': 1, '\ud83d\ude02': 2, b: 3, a: 4, '': 5 }), '{"":5,"a":4,"b":3,"\ud83d\ude02":2,"\ufb33":1}');
});

test('minimal escaping', () => {
  assert.equal(canonicalString('\u0000\u001f\u007f"\\/\b\t\n\f\r\u2028'), '"\\u0000\\u001f\u007f\\"\\\\/\\b\\t\\n\\f\\r\u2028"');
});

test('refuses what is not I-JSON', () => {
  assert.throws(() => canonicalize('\ud800'), CanonicalizationError);
  assert.throws(() => canonicalize('a\udc00b'), CanonicalizationError);
  assert.throws(() => canonicalize(NaN), CanonicalizationError);
  assert.throws(() => canonicalize(new Date() as unknown as JsonValue), CanonicalizationError);
  let deep: JsonValue = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  assert.throws(() => canonicalize(deep), CanonicalizationError);
});

test('property: canonical text parses back to the same value and is a fixed point', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const c = canonicalize(v as JsonValue);
      assert.deepEqual(JSON.parse(c), JSON.parse(JSON.stringify(v)));
      assert.equal(canonicalizeText(c), c);
      // JSON.stringify agrees on strings and numbers; only key order differs.
      assert.equal(c.length, JSON.stringify(v).length);
    }),
    { numRuns: 300 },
  );
});
