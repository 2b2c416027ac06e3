import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRampartError } from '../../lib/errors.ts';
import { parsePlistDict } from '../plist/parse.ts';
import { buildCommand, buildTypedCommand, coerceFromJson, commands } from './build.ts';
import { COMMAND_TYPES } from './generated/commands.ts';

const asDict = (b: Uint8Array): Record<string, unknown> => parsePlistDict(b);

test('builds {CommandUUID, Command: {RequestType, ...payload}}', () => {
  const out = buildCommand({ uuid: 'c-1', requestType: 'DeviceLock', payload: { PIN: '123456', Message: 'Lost' } });
  assert.equal(out.uuid, 'c-1');
  assert.equal(out.requestType, 'DeviceLock');
  assert.deepEqual(asDict(out.plist), { CommandUUID: 'c-1', Command: { RequestType: 'DeviceLock', PIN: '123456', Message: 'Lost' } });
});

test('converts JSON base64 and ISO strings according to the schema', () => {
  const out = buildCommand({ uuid: 'c-2', requestType: 'InstallProfile', payload: { Payload: 'PHBsaXN0Lz4=' } });
  const cmd = asDict(out.plist)['Command'] as Record<string, unknown>;
  assert.deepEqual(cmd['Payload'], new TextEncoder().encode('<plist/>'));
  // Nested data inside a Settings variant.
  const s = buildCommand({ uuid: 'c-3', requestType: 'Settings', payload: { Settings: [{ Item: 'Wallpaper', Image: 'aGk=', Where: 1 }] } });
  const item = ((asDict(s.plist)['Command'] as Record<string, unknown>)['Settings'] as Record<string, unknown>[])[0];
  assert.deepEqual(item?.['Image'], new Uint8Array([104, 105]));
  // Strings stay strings where the schema says string.
  const lock = buildCommand({ uuid: 'c-4', requestType: 'DeviceLock', payload: { Message: 'aGk=' } });
  assert.equal((asDict(lock.plist)['Command'] as Record<string, unknown>)['Message'], 'aGk=');
  assert.deepEqual(coerceFromJson({ key: 'd', type: 'date', presence: 'optional' }, '2024-01-02T03:04:05+02:00'), new Date('2024-01-02T01:04:05Z'));
  assert.equal(coerceFromJson({ key: 'd', type: 'date', presence: 'optional' }, 'yesterday'), 'yesterday');
  assert.equal(coerceFromJson({ key: 'd', type: 'data', presence: 'optional' }, 'not base64!'), 'not base64!');
});

test('refuses invalid commands with a short badRequest', () => {
  const cases: [Parameters<typeof buildCommand>[0], string | RegExp][] = [
    [{ uuid: 'x', requestType: 'Nope', payload: {} }, 'unknown request type'],
    [{ uuid: 'x', requestType: '__proto__', payload: {} }, 'unknown request type'],
    [{ uuid: '', requestType: 'DeviceLock', payload: {} }, 'invalid command uuid'],
    [{ uuid: 'a b', requestType: 'DeviceLock', payload: {} }, 'invalid command uuid'],
    [{ uuid: 'x'.repeat(65), requestType: 'DeviceLock', payload: {} }, 'invalid command uuid'],
    [{ uuid: 'x', requestType: 'InstallProfile', payload: { Payload: 'not base64!' } }, 'invalid command: /Payload: expected data'],
    [{ uuid: 'x', requestType: 'DeviceLock', payload: { RequestType: 'EraseDevice' } }, 'invalid command: /RequestType: unknown key'],
    [{ uuid: 'x', requestType: 'DeviceLock', payload: JSON.parse('{"__proto__": {"PIN": 1}}') as Record<string, unknown> }, /__proto__: unknown key/],
    [{ uuid: 'x', requestType: 'DeviceLock', payload: [] as unknown as Record<string, unknown> }, /expected a dictionary/],
  ];
  for (const [input, msg] of cases) {
    assert.throws(() => buildCommand(input), (e: unknown) => {
      assert.ok(isRampartError(e) && e.status === 400);
      if (typeof msg === 'string') assert.equal(e.message, msg);
      else assert.match(e.message, msg);
      assert.ok(e.message.length < 200);
      return true;
    });
  }
});

test('typed helpers for the daily commands', () => {
  const u = 'u';
  const built = [
    commands.deviceInformation(u, { Queries: ['UDID'] }),
    commands.securityInfo(u),
    commands.installedApplicationList(u),
    commands.profileList(u),
    commands.installProfile(u, { Payload: new Uint8Array([1]) }),
    commands.removeProfile(u, { Identifier: 'com.example.p' }),
    commands.certificateList(u),
    commands.deviceLock(u, { PIN: '123456' }),
    commands.enableLostMode(u, { Message: 'Call me' }),
    commands.disableLostMode(u),
    commands.deviceLocation(u),
    commands.playLostModeSound(u),
    commands.eraseDevice(u),
    commands.clearPasscode(u, { UnlockToken: new Uint8Array([1, 2]) }),
    commands.restartDevice(u),
    commands.shutDownDevice(u),
    commands.installApplication(u, { iTunesStoreID: 12345 }),
    commands.removeApplication(u, { Identifier: 'com.example.app' }),
    commands.settings(u, { Settings: [{ Item: 'DeviceName', DeviceName: 'Kiosk 1' }] }),
  ];
  const types = built.map((b) => (asDict(b.plist)['Command'] as Record<string, unknown>)['RequestType']);
  assert.deepEqual(types, [
    'DeviceInformation', 'SecurityInfo', 'InstalledApplicationList', 'ProfileList', 'InstallProfile', 'RemoveProfile',
    'CertificateList', 'DeviceLock', 'EnableLostMode', 'DisableLostMode', 'DeviceLocation', 'PlayLostModeSound',
    'EraseDevice', 'ClearPasscode', 'RestartDevice', 'ShutDownDevice', 'InstallApplication', 'RemoveApplication', 'Settings',
  ]);
  assert.equal(buildTypedCommand('DeviceConfigured', 'u', {}).requestType, 'DeviceConfigured');
});

test('property: arbitrary JSON payloads either build or throw a 400 RampartError', () => {
  fc.assert(
    fc.property(fc.constantFrom(...COMMAND_TYPES), fc.jsonValue({ maxDepth: 4 }), (rt, json) => {
      try {
        const out = buildCommand({ uuid: 'u', requestType: rt, payload: json as Record<string, unknown> });
        assert.ok(out.plist.length > 0);
      } catch (e) {
        if (!isRampartError(e) || e.status !== 400) throw e;
      }
    }),
    { numRuns: 500 },
  );
});
