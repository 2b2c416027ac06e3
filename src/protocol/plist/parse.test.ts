import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse as oracleParse } from 'plist';
import { isRampartError } from '../../lib/errors.ts';
import { parsePlist, parsePlistDict } from './parse.ts';
import { buildPlist, buildPlistString } from './build.ts';
import { APPLE_HEADER, TOKEN_UPDATE_XML, doc, plistDict, plistValue } from './testutil.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function refused(bytes: Uint8Array, message?: string | RegExp, limits?: Parameters<typeof parsePlist>[1]): void {
  assert.throws(
    () => parsePlist(bytes, limits),
    (e: unknown) => {
      assert.ok(isRampartError(e), `expected RampartError, got ${String(e)}`);
      assert.equal(e.status, 400);
      if (typeof message === 'string') assert.equal(e.message, message);
      else if (message) assert.match(e.message, message);
      return true;
    },
  );
}

test('parses a real TokenUpdate check-in', () => {
  const v = parsePlistDict(enc(TOKEN_UPDATE_XML));
  assert.equal(v['MessageType'], 'TokenUpdate');
  assert.equal(v['UDID'], '00008030-001A2B3C4D5E6F70');
  assert.equal(v['AwaitingConfiguration'], false);
  const token = v['Token'];
  assert.ok(token instanceof Uint8Array && !Buffer.isBuffer(token));
  assert.equal(token.length, 43);
  assert.ok(v['UnlockToken'] instanceof Uint8Array);
});

test('scalars: integers, bigints, reals, dates, data, entities', () => {
  const v = parsePlistDict(doc(`<dict>
    <key>i</key><integer>-42</integer>
    <key>z</key><integer>-0</integer>
    <key>big</key><integer>18446744073709551615</integer>
    <key>neg</key><integer>-9223372036854775808</integer>
    <key>edge</key><integer>9007199254740993</integer>
    <key>r</key><real>1.5e3</real>
    <key>r2</key><real> -.5 </real>
    <key>d</key><date>2024-02-29T23:59:59Z</date>
    <key>b</key><data>AAEC
      AwQ=</data>
    <key>e</key><data></data>
    <key>e2</key><data/>
    <key>s</key><string>a &lt;&amp;&gt; &quot;&apos; &#65;&#x1F600; b</string>
    <key>s2</key><string/>
    <key>t</key><true/>
    <key>f</key><false></false>
    <key></key><string>empty key</string>
    <key>crlf</key><string>a\r\nb\rc</string>
  </dict>`));
  assert.equal(v['i'], -42);
  assert.ok(Object.is(v['z'], 0));
  assert.equal(v['big'], 18446744073709551615n);
  assert.equal(v['neg'], -9223372036854775808n);
  assert.equal(v['edge'], 9007199254740993n);
  assert.equal(v['r'], 1500);
  assert.equal(v['r2'], -0.5);
  assert.deepEqual(v['d'], new Date('2024-02-29T23:59:59Z'));
  assert.deepEqual(v['b'], new Uint8Array([0, 1, 2, 3, 4]));
  assert.deepEqual(v['e'], new Uint8Array(0));
  assert.deepEqual(v['e2'], new Uint8Array(0));
  assert.equal(v['s'], 'a <&> "\' A\u{1F600} b');
  assert.equal(v['s2'], '');
  assert.equal(v['t'], true);
  assert.equal(v['f'], false);
  assert.equal(v[''], 'empty key');
  assert.equal(v['crlf'], 'a\nb\nc');
});

test('root may be any value for parsePlist, must be a dict for parsePlistDict', () => {
  assert.deepEqual(parsePlist(doc('<array><string>x</string></array>')), ['x']);
  assert.equal(parsePlist(doc('<integer>7</integer>')), 7);
  assert.throws(() => parsePlistDict(doc('<array/>')), { message: 'plist root must be a dict' });
  assert.throws(() => parsePlistDict(doc('<string>x</string>')), { message: 'plist root must be a dict' });
});

test('prolog variants: no declaration, no DOCTYPE, BOM, comments', () => {
  assert.deepEqual(parsePlist(enc('<plist version="1.0"><dict/></plist>')), {});
  assert.deepEqual(parsePlist(enc('<plist><dict/></plist>')), {});
  assert.deepEqual(parsePlist(enc("<?xml version='1.0' encoding='utf-8' standalone='yes'?><plist><dict/></plist>")), {});
  assert.deepEqual(parsePlist(new Uint8Array([0xef, 0xbb, 0xbf, ...enc('<plist><dict/></plist>')])), {});
  assert.deepEqual(parsePlist(doc('<!-- c --><dict><!-- c --><key>a</key><!-- c --><true/></dict><!-- c -->')), { a: true });
});

test('refuses binary plists, other encodings and invalid UTF-8', () => {
  refused(enc('bplist00\u0000\u0001'), 'binary plist not supported');
  refused(new Uint8Array([0xff, 0xfe, 0x3c, 0x00]), 'plist must be UTF-8');
  refused(new Uint8Array([0x3c, 0x70, 0xc3, 0x28]), 'plist must be UTF-8');
  refused(enc('<?xml version="1.0" encoding="ISO-8859-1"?><plist><dict/></plist>'), 'plist must be UTF-8');
  refused(enc('<plist><string>\u0001</string></plist>'), 'malformed plist');
});

test('refuses DOCTYPEs other than Apple, internal subsets, entities and PIs', () => {
  refused(enc('<!DOCTYPE plist SYSTEM "file:///etc/passwd"><plist><dict/></plist>'), 'plist DOCTYPE not allowed');
  refused(
    enc('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd" [<!ENTITY a "b">]><plist><dict/></plist>'),
    'plist DOCTYPE not allowed',
  );
  refused(doc('<!DOCTYPE plist><dict/>'), 'plist DOCTYPE not allowed');
  refused(enc(`${APPLE_HEADER}${APPLE_HEADER.split('\n')[1]}<plist><dict/></plist>`), 'plist DOCTYPE not allowed');
  refused(doc('<!ENTITY x "y"><dict/>'), 'plist entities not allowed');
  refused(doc('<string>&xxe;</string>'), 'plist entities not allowed');
  refused(doc('<string>a & b</string>'), 'plist entities not allowed');
  refused(doc('<string>&#0;</string>'), 'malformed plist');
  refused(doc('<string>&#xD800;</string>'), 'malformed plist');
  refused(enc('<?xml version="1.0"?><?xml-stylesheet href="x"?><plist><dict/></plist>'), 'plist processing instructions not allowed');
  refused(doc('<?php x ?><dict/>'), 'plist processing instructions not allowed');
  refused(enc(' <?xml version="1.0"?><plist><dict/></plist>'), 'plist processing instructions not allowed');
  refused(doc('<string><![CDATA[x]]></string>'), 'malformed plist');
});

test('billion laughs is refused before any expansion', () => {
  const lol = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE lolz [',
    '<!ENTITY lol "lol">',
    ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`),
    ']>',
    '<plist><string>&lol9;</string></plist>',
  ].join('\n');
  const t = performance.now();
  refused(enc(lol), 'plist DOCTYPE not allowed');
  assert.ok(performance.now() - t < 50);
});

test('structural errors', () => {
  for (const bad of [
    '<dict><key>a</key></dict>',
    '<dict><string>a</string><string>b</string></dict>',
    '<dict><key>a</key><key>b</key></dict>',
    '<array><key>a</key></array>',
    '<dict></array>',
    '<dict>',
    '<dict/><dict/>',
    '',
    'text',
    '<dict> text <key>a</key><true/></dict>',
    '<string>a<b/></string>',
    '<true>x</true>',
    '<null/>',
    '<dict x="1"/>',
    '<string id="a">x</string>',
    '<String>x</String>',
    '<string>x</strin>',
  ]) {
    refused(doc(bad), /malformed plist/);
  }
  refused(enc('<plist/>'), 'malformed plist');
  refused(enc('<plist><dict/></plist>trailing'), 'malformed plist');
  refused(enc('<plist><dict/></plist><plist/>'), 'malformed plist');
  refused(enc('<plist><dict/>'), 'malformed plist');
  refused(enc('<notplist><dict/></notplist>'), 'malformed plist');
});

test('malformed scalars', () => {
  for (const [inner, msg] of [
    ['<integer>12abc</integer>', 'malformed plist integer'],
    ['<integer>0x10</integer>', 'malformed plist integer'],
    ['<integer/>', 'malformed plist integer'],
    ['<integer>18446744073709551616</integer>', 'malformed plist integer'],
    ['<integer>-9223372036854775809</integer>', 'malformed plist integer'],
    ['<real>nan</real>', 'malformed plist real'],
    ['<real>1e999</real>', 'malformed plist real'],
    ['<real>1.2.3</real>', 'malformed plist real'],
    ['<date>2024-02-30T00:00:00Z</date>', 'malformed plist date'],
    ['<date>2024-01-01</date>', 'malformed plist date'],
    ['<date>2024-01-01T25:00:00Z</date>', 'malformed plist date'],
    ['<date>garbage</date>', 'malformed plist date'],
    ['<data>abc</data>', 'malformed plist data'],
    ['<data>ab!=</data>', 'malformed plist data'],
    ['<data>a===</data>', 'malformed plist data'],
  ] as const) {
    refused(doc(inner), msg);
  }
});

test('refuses duplicate and __proto__ keys', () => {
  refused(doc('<dict><key>a</key><true/><key>a</key><false/></dict>'), 'duplicate or reserved plist key');
  refused(doc('<dict><key>__proto__</key><dict><key>x</key><true/></dict></dict>'), 'duplicate or reserved plist key');
  // Keys that only look alike are distinct.
  assert.deepEqual(parsePlist(doc('<dict><key>a</key><true/><key>A</key><false/></dict>')), { a: true, A: false });
});

test('size, depth and node limits', () => {
  refused(doc('<string>' + 'x'.repeat(300 * 1024) + '</string>'), 'plist too large');
  assert.equal(parsePlist(doc('<string>xxxx</string>'), { maxBytes: 4096 }), 'xxxx');
  refused(doc('<string>' + 'x'.repeat(5000) + '</string>'), 'plist too large', { maxBytes: 4096 });

  const nest = (n: number): string => '<array>'.repeat(n) + '</array>'.repeat(n);
  assert.ok(Array.isArray(parsePlist(doc(nest(32)))));
  refused(doc(nest(33)), 'plist nesting too deep');
  refused(doc(nest(5)), 'plist nesting too deep', { maxDepth: 4 });

  const many = '<array>' + '<true/>'.repeat(20_001) + '</array>';
  refused(doc(many), 'plist too large');
  assert.equal((parsePlist(doc('<array>' + '<true/>'.repeat(99) + '</array>'), { maxNodes: 100 }) as unknown[]).length, 99);
  refused(doc('<array>' + '<true/>'.repeat(100) + '</array>'), 'plist too large', { maxNodes: 100 });
  refused(doc('<!---->'.repeat(20_001) + '<dict/>'), 'plist too large');
});

test('limits cannot be raised past the ceilings and must be sane', () => {
  assert.throws(() => parsePlist(doc('<dict/>'), { maxDepth: 0 }), TypeError);
  assert.throws(() => parsePlist(doc('<dict/>'), { maxNodes: Number.NaN }), TypeError);
  const deep = 300;
  refused(doc('<array>'.repeat(deep) + '</array>'.repeat(deep)), 'plist nesting too deep', { maxDepth: 10_000 });
});

test('deep and wide hostile inputs are refused quickly', () => {
  const cases = [
    doc('<array>'.repeat(60_000)),
    doc('<dict><key>a</key>'.repeat(20_000)),
    enc('<plist>' + '<!--'.repeat(60_000)),
    doc('<array>' + '<string>&amp;</string>'.repeat(14_000) + '</array>'),
  ];
  for (const c of cases) {
    const t = performance.now();
    assert.throws(() => parsePlist(c), (e: unknown) => isRampartError(e));
    assert.ok(performance.now() - t < 100, 'refused quickly');
  }
});

test('property: build -> parse round trip', () => {
  fc.assert(
    fc.property(plistValue(), (v) => {
      assert.deepStrictEqual(parsePlist(buildPlist(v)), v);
    }),
    { numRuns: 400 },
  );
});

test('property: agrees with the plist package on documents we build (differential)', () => {
  const normalize = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Array.from(v);
    if (v instanceof Date) return v.getTime();
    if (Array.isArray(v)) return v.map(normalize);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
    return v;
  };
  fc.assert(
    fc.property(plistDict({ bigint: false }), (v) => {
      const xml = buildPlistString(v);
      assert.deepStrictEqual(normalize(parsePlist(new TextEncoder().encode(xml))), normalize(oracleParse(xml)));
    }),
    { numRuns: 200 },
  );
});

const onlyRampart = (f: () => unknown): void => {
  try {
    f();
  } catch (e) {
    if (!isRampartError(e) || e.status < 400 || e.status >= 500) throw e;
  }
};

test('fuzz: random bytes only ever throw a 4xx RampartError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => onlyRampart(() => parsePlist(b))), { numRuns: 2000 });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 256 }), (s) => onlyRampart(() => parsePlist(enc(s)))), { numRuns: 2000 });
});

test('fuzz: mutated valid documents only ever throw a 4xx RampartError', () => {
  const pieces = ['<', '>', '/', '<dict>', '</dict>', '<key>', '</key>', '<array>', '</array>', '&', '&amp;', '&#', ';', '<!--', '-->', '<!DOCTYPE', '<?', '?>', '"', '\u0000', '\uFFFF', 'bplist00', '<integer>', '</integer>', '<data>', '='];
  const mutation = fc.record({
    at: fc.nat(),
    del: fc.nat({ max: 8 }),
    ins: fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 })),
  });
  fc.assert(
    fc.property(plistValue(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (v, muts) => {
      let s = buildPlistString(v);
      for (const m of muts) {
        const at = m.at % (s.length + 1);
        s = s.slice(0, at) + m.ins + s.slice(at + m.del);
      }
      onlyRampart(() => parsePlist(enc(s)));
    }),
    { numRuns: 1500 },
  );
});
