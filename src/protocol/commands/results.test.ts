import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRampartError } from '../../lib/errors.ts';
import { parsePlistDict } from '../plist/parse.ts';
import { doc, plistValue } from '../plist/testutil.ts';
import { parseCommandReport, plistToJson } from './results.ts';

test('parses an Acknowledged report with its body', () => {
  const body = parsePlistDict(doc(`<dict>
    <key>CommandUUID</key><string>c-1</string>
    <key>Status</key><string>Acknowledged</string>
    <key>UDID</key><string>00008030-001A2B3C4D5E6F70</string>
    <key>QueryResponses</key><dict><key>OSVersion</key><string>18.0</string></dict>
  </dict>`));
  const r = parseCommandReport(body);
  assert.equal(r.status, 'Acknowledged');
  assert.equal(r.commandUuid, 'c-1');
  assert.equal(r.channelId, '00008030-001A2B3C4D5E6F70');
  assert.equal(r.udid, r.channelId);
  assert.equal(r.enrollmentId, undefined);
  assert.equal(r.body, body);
});

test('Idle needs no CommandUUID; user enrollment uses EnrollmentID', () => {
  const r = parseCommandReport({ Status: 'Idle', EnrollmentID: 'E1', EnrollmentUserID: 'U1' });
  assert.equal(r.channelId, 'E1');
  assert.equal(r.enrollmentUserId, 'U1');
  assert.equal(r.commandUuid, undefined);
  assert.equal(parseCommandReport({ Status: 'Idle', UDID: 'D', UserID: 'u' }).userId, 'u');
});

test('error chain', () => {
  const r = parseCommandReport({
    Status: 'Error',
    UDID: 'D',
    CommandUUID: 'c',
    ErrorChain: [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain', LocalizedDescription: 'x', USEnglishDescription: 'y' }, {}],
  });
  assert.deepEqual(r.errorChain, [
    { errorCode: 12021, errorDomain: 'MCMDMErrorDomain', localizedDescription: 'x', usEnglishDescription: 'y' },
    {},
  ]);
});

test('refuses malformed reports', () => {
  const bad: [unknown, string][] = [
    [[], 'invalid command report'],
    [{ UDID: 'D' }, 'invalid command status'],
    [{ Status: 'Done', UDID: 'D' }, 'invalid command status'],
    [{ Status: 'Idle' }, 'missing device identifier'],
    [{ Status: 'Acknowledged', UDID: 'D' }, 'missing command uuid'],
    [{ Status: 'Idle', UDID: 5 }, 'invalid command report'],
    [{ Status: 'Idle', UDID: 'has space' }, 'invalid command report'],
    [{ Status: 'Idle', UDID: 'x'.repeat(129) }, 'invalid command report'],
    [{ Status: 'Error', UDID: 'D', CommandUUID: 'c', ErrorChain: {} }, 'invalid command report'],
    [{ Status: 'Error', UDID: 'D', CommandUUID: 'c', ErrorChain: [{ ErrorCode: 'x' }] }, 'invalid command report'],
    [{ Status: 'Error', UDID: 'D', CommandUUID: 'c', ErrorChain: Array(33).fill({}) }, 'invalid command report'],
  ];
  for (const [v, msg] of bad) {
    assert.throws(() => parseCommandReport(v as never), (e: unknown) => isRampartError(e) && e.status === 400 && e.message === msg);
  }
});

test('plistToJson', () => {
  assert.deepEqual(
    plistToJson({ d: new Uint8Array([104, 105]), t: new Date('2024-01-02T03:04:05Z'), b: 2n ** 64n - 1n, a: [1, 'x', true], n: {} }),
    { d: 'aGk=', t: '2024-01-02T03:04:05.000Z', b: '18446744073709551615', a: [1, 'x', true], n: {} },
  );
  const withProto = JSON.parse('{"__proto__": 1}') as Record<string, number>;
  const out = plistToJson(withProto) as Record<string, unknown>;
  assert.ok(Object.hasOwn(out, '__proto__'));
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});

test('property: plistToJson output survives JSON round trip; reports never throw non-Rampart errors', () => {
  fc.assert(
    fc.property(plistValue(), (v) => {
      const j = plistToJson(v);
      assert.deepStrictEqual(JSON.parse(JSON.stringify(j)), j);
      try {
        parseCommandReport(v);
      } catch (e) {
        if (!isRampartError(e) || e.status !== 400) throw e;
      }
    }),
    { numRuns: 500 },
  );
});
