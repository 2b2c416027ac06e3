// Test helpers shared by the protocol tests: fast-check arbitraries for plist
// values and a fixture check-in body. Imported only by *.test.ts files.

import fc from 'fast-check';
import type { PlistDict, PlistValue } from './types.ts';

export const APPLE_HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

/** Wraps the inside of a <plist> element into a complete document. */
export function doc(inner: string, header = APPLE_HEADER): Uint8Array {
  return new TextEncoder().encode(`${header}<plist version="1.0">\n${inner}\n</plist>\n`);
}

const XML_SAFE = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]*$/;

/** Strings XML can carry (well-formed UTF-16, no forbidden control characters). */
export const xmlString = (maxLength = 24): fc.Arbitrary<string> =>
  fc
    .oneof(fc.string({ maxLength }), fc.string({ unit: 'binary', maxLength }), fc.constantFrom('&', '<', '>', '&amp;', ']]>', '\r\n', ' \t ', '"\''))
    .filter((s) => s.isWellFormed() && XML_SAFE.test(s));

const plistKey = xmlString(12).filter((k) => k !== '__proto__');

const safeDouble = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .map((d) => (Object.is(d, -0) ? 0 : d));

const bigOutsideSafe = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 53n) }),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
);

const wholeSecondDate = fc
  .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));

/** Arbitrary PlistValue trees (bounded depth) that survive build -> parse unchanged. */
export function plistValue(opts: { bigint?: boolean } = {}): fc.Arbitrary<PlistValue> {
  const scalars: fc.Arbitrary<PlistValue>[] = [
    xmlString(),
    fc.integer(),
    fc.maxSafeInteger(),
    safeDouble,
    fc.boolean(),
    wholeSecondDate,
    fc.uint8Array({ maxLength: 40 }),
  ];
  if (opts.bigint !== false) scalars.push(bigOutsideSafe);
  const { value } = fc.letrec<{ value: PlistValue; dict: PlistDict }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, ...scalars, fc.array(tie('value'), { maxLength: 5 }), tie('dict')),
    dict: fc.dictionary(plistKey, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  }));
  return value;
}

export const plistDict = (opts: { bigint?: boolean } = {}): fc.Arbitrary<PlistDict> =>
  fc.dictionary(plistKey, plistValue(opts), { maxKeys: 8, noNullPrototype: true });

/** A realistic TokenUpdate check-in body as an iPhone sends it (1.2 KB). */
export const TOKEN_UPDATE_XML = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AwaitingConfiguration</key>
	<false/>
	<key>MessageType</key>
	<string>TokenUpdate</string>
	<key>PushMagic</key>
	<string>5F2E7E04-8A0B-4C3D-9E1F-2A3B4C5D6E7F</string>
	<key>Token</key>
	<data>
	q1bVnRKm1bQ0hT3T7gXJ6n2QfQk0YzB9dW1hbmFnZWQtdG9rZW4tZGF0YQ==
	</data>
	<key>Topic</key>
	<string>com.apple.mgmt.External.0d5f3a2c-8b4e-4f6a-9c1d-2e3f4a5b6c7d</string>
	<key>UDID</key>
	<string>00008030-001A2B3C4D5E6F70</string>
	<key>UnlockToken</key>
	<data>
	REFUQQAAAyAwAAAAAVZFUlMAAAAEAAAABFRZUEUAAAAEAAAAAlVVSUQAAAAQtj7E
	0g7xQ3WZ1wJ8xN3qHENMQVMAAAAEAAAACldSQVAAAAAEAAAAAUtUWVAAAAAEAAAA
	AFdQS1kAAAAogy1Pz6K0M3Q4mN7r8a0N8F2f6y4r5l1s9v0w3x7z1c2b3n4m5q6p
	AAAAQ0xBUwAAAAQAAAALV1JBUAAAAAQAAAABS1RZUAAAAAQAAAAAV1BLWQAAACi5
	</data>
	<key>NotOnConsole</key>
	<false/>
	<key>UserID</key>
	<string>FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF</string>
	<key>BuildVersion</key>
	<string>22A3354</string>
	<key>OSVersion</key>
	<string>18.0</string>
	<key>ProductName</key>
	<string>iPhone15,2</string>
	<key>SerialNumber</key>
	<string>F2LXK0ABCDEF</string>
</dict>
</plist>
`;
