import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import type { Actor } from './types.ts';
import { isRampartError } from '../lib/errors.ts';

const reader: Actor = { type: 'token', id: 'reader', permissions: new Set(['devices.read']) };
const nobody: Actor = { type: 'token', id: 'nobody', permissions: new Set(['commands.read']) };

describe('device service (real SQLite storage)', () => {
  let s: TestStack;
  before(async () => {
    s = await createTestStack();
    await s.addDevice('UDID-A', { serialNumber: 'SER-A', deviceName: 'Alice iPhone', model: 'iPhone17,1', osVersion: '18.1', lastSeenAt: '2026-01-01T00:00:00.000Z', pushToken: 'ab', pushMagic: 'm' });
    await s.addDevice('UDID-B', { serialNumber: 'SER-B', deviceName: 'Bob iPad', model: 'iPad16,3', osVersion: '17.5', status: 'checked_out' });
    await s.addDevice('UDID-C', { serialNumber: 'SER-C', deviceName: 'Carol iPhone', model: 'iPhone17,1', osVersion: '18.1', lastSeenAt: '2025-06-01T00:00:00.000Z' });
    await s.storage.devices.replaceApps('UDID-A', [{ identifier: 'com.example.app', name: 'App', version: '1', shortVersion: '1.0', bundleSize: 10, isManaged: true }], '2026-01-01T00:00:00.000Z');
  });
  after(async () => s.close());

  it('lists with filters and cursor pagination', async () => {
    const ids = async (q: Parameters<typeof s.devices.list>[1]) => (await s.devices.list(reader, q)).items.map((d) => d.id);
    assert.deepEqual(await ids({ limit: 10 }), ['UDID-A', 'UDID-B', 'UDID-C']);
    assert.deepEqual(await ids({ limit: 10, status: 'checked_out' }), ['UDID-B']);
    assert.deepEqual(await ids({ limit: 10, model: 'iPhone17,1', osVersion: '18.1' }), ['UDID-A', 'UDID-C']);
    assert.deepEqual(await ids({ limit: 10, search: 'ipad' }), ['UDID-B']);
    assert.deepEqual(await ids({ limit: 10, serialNumber: 'SER-C' }), ['UDID-C']);
    assert.deepEqual(await ids({ limit: 10, notSeenSince: '2025-12-01T00:00:00Z' }), ['UDID-B', 'UDID-C']);
    const first = await s.devices.list(reader, { limit: 2 });
    assert.equal(first.next, 'UDID-B');
    assert.deepEqual(await ids({ limit: 2, after: first.next! }), ['UDID-C']);
  });

  it('refuses bad limits and times', async () => {
    for (const q of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { limit: 10, notSeenSince: 'yesterday' }]) {
      await assert.rejects(s.devices.list(reader, q), (e) => isRampartError(e) && e.code === 'bad_request');
    }
  });

  it('get maps to a detail without secrets; unknown or malformed ids are not_found', async () => {
    const d = await s.devices.get(reader, 'UDID-A');
    assert.equal(d.hasPushToken, true);
    assert.equal(d.apps[0]!.identifier, 'com.example.app');
    assert.ok(!('pushToken' in d) && !('pushMagic' in d) && !('unlockTokenSealed' in d));
    for (const id of ['UDID-Z', '../etc', '', 'x'.repeat(500)]) {
      await assert.rejects(s.devices.get(reader, id), (e) => isRampartError(e) && e.code === 'not_found' && e.message === 'not found');
    }
  });

  it('needs devices.read, and audits denials', async () => {
    const before = s.audit.events.length;
    await assert.rejects(s.devices.list(nobody, { limit: 10 }), (e) => isRampartError(e) && e.code === 'forbidden');
    await assert.rejects(s.devices.get(nobody, 'UDID-A'), (e) => isRampartError(e) && e.code === 'forbidden');
    const events = s.audit.events.slice(before);
    assert.deepEqual(events.map((e) => [e.action, e.outcome, e.actor.id]), [['device.list', 'denied', 'nobody'], ['device.get', 'denied', 'nobody']]);
    assert.deepEqual(events[1]!.target, { type: 'device', id: 'UDID-A' });
  });
});
