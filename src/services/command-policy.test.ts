import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authorize, commandClass, hasPermission, isKnownScope, mayHoldUnder, sendPermission } from './command-policy.ts';
import type { Actor } from './types.ts';
import { openTestAudit } from '../admin/testkit.ts';
import { isRampartError } from '../lib/errors.ts';

const actor = (...p: string[]): Actor => ({ type: 'token', id: 't1', permissions: new Set(p), source: '127.0.0.1', requestId: 'r1' });

describe('command classes', () => {
  it('classifies RequestTypes; anything unlisted is manage', () => {
    const table: Record<string, string> = {
      DeviceInformation: 'query', SecurityInfo: 'query', InstalledApplicationList: 'query', ProfileList: 'query', CertificateList: 'query',
      DeviceLock: 'lock', EnableLostMode: 'lock', DisableLostMode: 'lock', DeviceLocation: 'lock', PlayLostModeSound: 'lock',
      InstallProfile: 'manage', RemoveProfile: 'manage', InstallApplication: 'manage', RemoveApplication: 'manage', Settings: 'manage',
      RestartDevice: 'manage', ShutDownDevice: 'manage', ClearPasscode: 'manage',
      EraseDevice: 'erase',
      SomethingNew: 'manage', '': 'manage', eraseDevice: 'manage', constructor: 'manage',
    };
    for (const [t, c] of Object.entries(table)) assert.equal(commandClass(t), c, t);
    assert.equal(sendPermission('EraseDevice'), 'commands.send.erase');
    assert.equal(sendPermission('toString'), 'commands.send.manage');
    assert.equal(commandClass('__proto__'), 'manage');
  });
});

describe('permissions', () => {
  it('a scope grants itself and what is below it; * grants everything', () => {
    assert.ok(hasPermission(actor('*'), 'commands.send.erase'));
    assert.ok(hasPermission(actor('commands.send'), 'commands.send.erase'));
    assert.ok(hasPermission(actor('commands.send.lock'), 'commands.send.lock'));
    assert.ok(!hasPermission(actor('commands.send.lock'), 'commands.send.erase'));
    assert.ok(!hasPermission(actor('commands.send.lock'), 'commands.send'));
    assert.ok(!hasPermission(actor('devices.read'), 'commands.read'));
    assert.ok(!hasPermission(actor('devices'), 'devicesX.read'));
    assert.ok(!hasPermission(actor('commands.sen'), 'commands.send'));
    assert.ok(!hasPermission(actor(), 'devices.read'));
    assert.ok(!hasPermission(actor('devices.read'), ''));
  });
  it('mayHoldUnder passes for scopes below the route permission', () => {
    assert.ok(mayHoldUnder(actor('commands.send.lock'), 'commands.send'));
    assert.ok(!mayHoldUnder(actor('commands.sendx'), 'commands.send'));
    assert.ok(!mayHoldUnder(actor('devices.read'), 'commands.send'));
  });
  it('knows its scopes', () => {
    assert.ok(isKnownScope('commands.send.erase'));
    assert.ok(!isKnownScope('commands.send.everything'));
  });
  it('authorize records a denied event and throws forbidden', async () => {
    const audit = await openTestAudit(() => new Date());
    const events = audit.events;
    await authorize(audit, actor('commands.send'), 'commands.send.erase', { action: 'command.enqueue' });
    assert.equal(events.length, 0);
    await assert.rejects(
      authorize(audit, actor('commands.send.lock'), 'commands.send.erase', { action: 'command.enqueue', target: { type: 'command', id: 'c1' } }),
      (e) => isRampartError(e) && e.code === 'forbidden' && e.message === 'forbidden',
    );
    assert.deepEqual(events, [{
      action: 'command.enqueue', actor: { type: 'token', id: 't1' }, source: '127.0.0.1', requestId: 'r1',
      target: { type: 'command', id: 'c1' }, outcome: 'denied', details: { permission: 'commands.send.erase' },
    }]);
    const stored = await audit.log.store.search({ outcome: 'denied' });
    assert.deepEqual(stored.map((e) => [e.action, e.actorId, e.targetId]), [['command.enqueue', 't1', 'c1']]);
    await audit.close();
  });
});
