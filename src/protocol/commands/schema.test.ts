import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OS_NAMES } from './schema.ts';
import { COMMAND_SCHEMAS, COMMAND_TYPES } from './generated/commands.ts';
import { CHECKIN_SCHEMAS, CHECKIN_TYPES } from './generated/checkin.ts';
import type { KeySchema } from './schema.ts';

const TYPES = new Set(['string', 'integer', 'real', 'boolean', 'date', 'data', 'array', 'dictionary', 'any']);

function walk(keys: readonly KeySchema[], visit: (k: KeySchema) => void): void {
  for (const k of keys) {
    visit(k);
    walk(k.subkeys ?? [], visit);
  }
}

test('generated tables have the expected shape', () => {
  assert.deepEqual(OS_NAMES, ['iOS', 'macOS', 'tvOS', 'visionOS', 'watchOS']);
  assert.equal(COMMAND_TYPES.length, 66);
  assert.deepEqual([...CHECKIN_TYPES].sort(), ['Authenticate', 'CheckOut', 'DeclarativeManagement', 'GetBootstrapToken', 'GetToken', 'SetBootstrapToken', 'TokenUpdate', 'UserAuthenticate']);
  for (const [name, s] of [...Object.entries(COMMAND_SCHEMAS), ...Object.entries(CHECKIN_SCHEMAS)]) {
    assert.equal(s.requestType, name);
    walk([...s.payloadKeys, ...s.responseKeys], (k) => {
      assert.ok(TYPES.has(k.type), `${name}/${k.key}`);
      assert.ok(k.presence === 'required' || k.presence === 'optional');
      if (k.conditional) assert.equal(k.presence, 'required');
    });
  }
});

test('known facts from Apple\'s schema', () => {
  const payload = (rt: string) => new Map((COMMAND_SCHEMAS[rt]?.payloadKeys ?? []).map((k) => [k.key, k]));
  assert.equal(payload('InstallProfile').get('Payload')?.type, 'data');
  assert.equal(payload('InstallProfile').get('Payload')?.presence, 'required');
  assert.equal(payload('ClearPasscode').get('UnlockToken')?.type, 'data');
  assert.deepEqual(payload('InstallApplication').get('ManagementFlags')?.rangelist, [1, 4, 5]);
  assert.equal(COMMAND_SCHEMAS['DeviceLock']?.supportedOS.macOS?.introduced, '10.7');
  const tu = new Map((CHECKIN_SCHEMAS['TokenUpdate']?.payloadKeys ?? []).map((k) => [k.key, k]));
  assert.equal(tu.get('Token')?.type, 'data');
  assert.equal(tu.get('Token')?.conditional, undefined);
  assert.equal(tu.get('UDID')?.conditional, true);
  assert.equal(tu.get('EnrollmentID')?.conditional, true);
  assert.equal(tu.get('NotOnConsole')?.conditional, true);
  assert.equal(CHECKIN_SCHEMAS['GetBootstrapToken']?.responseKeys[0]?.key, 'BootstrapToken');
});
