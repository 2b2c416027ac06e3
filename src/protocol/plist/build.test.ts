import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRampartError } from '../../lib/errors.ts';
import { buildPlist, buildPlistString } from './build.ts';
import type { PlistValue } from './types.ts';

test('writes the Apple header, sorted keys, tabs and typed scalars', () => {
  const xml = buildPlistString({
    b: 1,
    a: [1.5, -3, 2n ** 60n, 2 ** 60],
    c: new Date('2024-05-06T07:08:09.999Z'),
    d: new Uint8Array([104, 105]),
    e: 'x<&>y\r',
    f: true,
    g: {},
    h: [],
    i: undefined as unknown as PlistValue,
  });
  assert.equal(
    xml,
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>a</key>
\t<array>
\t\t<real>1.5</real>
\t\t<integer>-3</integer>
\t\t<integer>1152921504606846976</integer>
\t\t<real>1152921504606847000</real>
\t</array>
\t<key>b</key>
\t<integer>1</integer>
\t<key>c</key>
\t<date>2024-05-06T07:08:09Z</date>
\t<key>d</key>
\t<data>aGk=</data>
\t<key>e</key>
\t<string>x&lt;&amp;&gt;y&#13;</string>
\t<key>f</key>
\t<true/>
\t<key>g</key>
\t<dict/>
\t<key>h</key>
\t<array/>
</dict>
</plist>
`,
  );
});

test('is deterministic regardless of key insertion order', () => {
  const a = buildPlist({ x: 1, y: { p: 'q', r: 's' } });
  const b = buildPlist({ y: { r: 's', p: 'q' }, x: 1 });
  assert.deepEqual(a, b);
});

test('encodes subarray views of data correctly', () => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  assert.match(buildPlistString(backing.subarray(2, 5)), /<data>AQID<\/data>/);
});

test('refuses values a plist cannot carry', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  let deep: PlistValue = [];
  for (let i = 0; i < 100; i++) deep = [deep];
  const bad: unknown[] = [
    null,
    undefined,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2n ** 64n,
    -(2n ** 63n) - 1n,
    'a\u0000b',
    '\uD800',
    new Date(Number.NaN),
    new Date('+010000-01-01T00:00:00Z'),
    () => 1,
    Symbol('x'),
    new Map(),
    [undefined],
    { k: null },
    cyclic,
    deep,
  ];
  for (const v of bad) {
    assert.throws(
      () => buildPlist(v as PlistValue),
      (e: unknown) => isRampartError(e) && e.status === 400,
    );
  }
});

test('shared (non-cyclic) references are fine', () => {
  const shared = { a: 1 };
  assert.match(buildPlistString([shared, shared]), /(<key>a<\/key>[\s\S]*){2}/);
});
