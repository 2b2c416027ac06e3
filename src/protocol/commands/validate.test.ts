import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_ISSUES, commandSchema, pickVariant, summarizeIssues, validateCommandPayload, validateKeys, validateResponse } from './validate.ts';
import { COMMAND_SCHEMAS, COMMAND_TYPES } from './generated/commands.ts';
import { plistValue } from '../plist/testutil.ts';

const codes = (issues: readonly { path: string; code: string }[]): string[] => issues.map((i) => `${i.path} ${i.code}`);

test('schema lookup is own-property only', () => {
  assert.equal(commandSchema('DeviceLock')?.requestType, 'DeviceLock');
  for (const bad of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) assert.equal(commandSchema(bad), undefined);
  assert.equal(COMMAND_TYPES.length, 66);
});

test('unknown request type', () => {
  assert.deepEqual(codes(validateCommandPayload('Nope', {})), [' unknown_request_type']);
  assert.deepEqual(codes(validateCommandPayload('__proto__', {})), [' unknown_request_type']);
});

test('valid payloads pass', () => {
  assert.deepEqual(validateCommandPayload('DeviceLock', {}), []);
  assert.deepEqual(validateCommandPayload('DeviceLock', { PIN: '123456', Message: 'hi', PhoneNumber: '+1' }), []);
  assert.deepEqual(validateCommandPayload('DeviceInformation', { Queries: ['UDID', 'SerialNumber', 'OSVersion'] }), []);
  assert.deepEqual(validateCommandPayload('InstallProfile', { Payload: new Uint8Array([1]) }), []);
  assert.deepEqual(validateCommandPayload('ClearPasscode', { UnlockToken: new Uint8Array([1]) }), []);
  assert.deepEqual(
    validateCommandPayload('Settings', { Settings: [{ Item: 'DeviceName', DeviceName: 'x' }, { Item: 'Wallpaper', Image: new Uint8Array(1), Where: 3 }] }),
    [],
  );
  assert.deepEqual(validateCommandPayload('ShutDownDevice', {}), []);
});

test('missing, wrong type, out of range, unknown key, no variant', () => {
  assert.deepEqual(codes(validateCommandPayload('InstallProfile', {})), ['/Payload missing']);
  assert.deepEqual(codes(validateCommandPayload('InstallProfile', { Payload: 'x' })), ['/Payload type']);
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', { PIN: 123456 })), ['/PIN type']);
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', { Pin: '1' })), ['/Pin unknown_key']);
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', { RequestType: 'DeviceLock' })), ['/RequestType unknown_key']);
  assert.deepEqual(codes(validateCommandPayload('ShutDownDevice', { x: 1 })), ['/x unknown_key']);
  assert.deepEqual(codes(validateCommandPayload('DeviceInformation', { Queries: ['UDID', 'Bogus', 3] })), ['/Queries/1 range', '/Queries/2 type']);
  assert.deepEqual(codes(validateCommandPayload('DeviceInformation', { Queries: 'UDID' })), ['/Queries type']);
  assert.deepEqual(
    codes(validateCommandPayload('Settings', { Settings: [{ Item: 'Nope' }, { Item: 'Wallpaper', Image: new Uint8Array(1), Where: 9 }, 'x'] })),
    ['/Settings/0 no_variant', '/Settings/1/Where range', '/Settings/2 no_variant'],
  );
  assert.deepEqual(codes(validateCommandPayload('InstallApplication', { ManagementFlags: 2 })), ['/ManagementFlags range']);
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', [])), [' type']);
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', null)), [' type']);
});

test('paths escape ~ and / and truncate long keys', () => {
  assert.deepEqual(codes(validateCommandPayload('DeviceLock', { 'a/b~c': 1 })), ['/a~1b~0c unknown_key']);
  const [issue] = validateCommandPayload('DeviceLock', { ['k'.repeat(500)]: 1 });
  assert.ok(issue !== undefined && issue.path.length < 80);
});

test('issues are capped', () => {
  const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
  assert.equal(validateCommandPayload('DeviceLock', many).length, MAX_ISSUES);
  assert.equal(validateCommandPayload('ShutDownDevice', many).length, MAX_ISSUES);
});

test('conditional required keys are not insisted upon', () => {
  // UDID in TokenUpdate is required except under user enrollment: conditional.
  const tu = validateKeys(COMMAND_SCHEMAS['DeviceLock']?.payloadKeys ?? [], {}, 'strict');
  assert.deepEqual(tu, []);
});

test('responses are lenient on unknown keys but check known types', () => {
  assert.deepEqual(validateResponse('DeviceInformation', { QueryResponses: { UDID: 'x', NewKey: 1 }, Status: 'Acknowledged' }), []);
  assert.deepEqual(codes(validateResponse('DeviceInformation', { QueryResponses: { UDID: 5 } })), ['/QueryResponses/UDID type']);
  assert.deepEqual(codes(validateResponse('DeviceInformation', {})), ['/QueryResponses missing']);
  assert.deepEqual(validateResponse('DeviceLock', { MessageResult: 'Success', Extra: true }), []);
  assert.deepEqual(validateResponse('ShutDownDevice', { anything: 1 }), []);
  assert.deepEqual(codes(validateResponse('Nope', {})), [' unknown_request_type']);
  // Unknown enumerated values from newer OS releases are accepted in responses.
  assert.deepEqual(validateResponse('DeviceInformation', { QueryResponses: { CellularTechnology: 99 } }), []);
  assert.deepEqual(codes(validateResponse('DeviceInformation', { QueryResponses: { CellularTechnology: 'x' } })), ['/QueryResponses/CellularTechnology type']);
});

test('pickVariant selects by the single-valued discriminator', () => {
  const items = COMMAND_SCHEMAS['Settings']?.payloadKeys[0]?.subkeys ?? [];
  assert.equal(pickVariant(items, { Item: 'Bluetooth', Enabled: true })?.key, 'Bluetooth');
  assert.equal(pickVariant(items, { Item: 'Nope' }), undefined);
});

test('summarizeIssues is short', () => {
  const issues = validateCommandPayload('DeviceLock', { a: 1, b: 2, c: 3, d: 4, e: 5 });
  assert.equal(summarizeIssues(issues), '/a: unknown key; /b: unknown key; /c: unknown key; and 2 more');
});

test('property: every schema accepts arbitrary values without throwing', () => {
  fc.assert(
    fc.property(fc.constantFrom(...COMMAND_TYPES), fc.dictionary(fc.string({ maxLength: 8 }), plistValue(), { maxKeys: 4 }), (rt, payload) => {
      assert.ok(Array.isArray(validateCommandPayload(rt, payload)));
      assert.ok(Array.isArray(validateResponse(rt, payload)));
    }),
    { numRuns: 500 },
  );
});
