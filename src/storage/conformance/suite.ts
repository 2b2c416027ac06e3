// The storage conformance suite: every backend must pass it unchanged.
// Each test gets a fresh, migrated, empty storage from `open`.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRampartError } from '../../lib/errors.ts';
import type { ErrorCode } from '../../lib/errors.ts';
import type { DeliverableCommand, Device, QueueStatus, Storage } from '../types.ts';

export type OpenForTest = () => Promise<{ storage: Storage; cleanup(): Promise<void> }>;

const T0 = '2025-01-01T00:00:00.000Z';
const at = (minutes: number): string => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const hex64 = (n: number): string => n.toString(16).padStart(64, '0');
const RESULT = { raw: bytes(1, 2, 3), json: '{"Status":"Acknowledged"}', errorJson: null };

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRampartError(e), `expected RampartError(${code}), got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

function cmd(uuid: string, requestType = 'DeviceInformation') {
  return { uuid, requestType, payload: new TextEncoder().encode(`<plist>${uuid}</plist>`), createdBy: 'admin-1' };
}

export function runStorageConformance(name: string, open: OpenForTest): void {
  /** Runs body against a fresh storage and always cleans up. */
  const withStorage = (body: (s: Storage) => Promise<void>) => async () => {
    const { storage, cleanup } = await open();
    try {
      await body(storage);
    } finally {
      await cleanup();
    }
  };
  const it = (title: string, body: (s: Storage) => Promise<void>) => test(title, withStorage(body));

  async function devices(s: Storage, ids: string[]): Promise<void> {
    for (const id of ids) await s.devices.create(id, { status: 'enrolled' }, T0);
  }

  describe(`storage conformance: ${name}`, () => {
    describe('devices', () => {
      it('create and get round-trip every field', async (s) => {
        const fields = {
          status: 'enrolled' as const,
          serialNumber: 'C02ABC',
          model: 'iPhone15,2',
          modelName: 'iPhone',
          productName: 'iPhone15,2',
          deviceName: "Ada's iPhone",
          osVersion: '17.4',
          buildVersion: '21E219',
          imei: '35 000000 000000 0',
          meid: '35000000000000',
          isSupervised: true,
          isEncrypted: false,
          passcodePresent: true,
          passcodeCompliant: null,
          identityCertSha256: hex64(7),
          topic: 'com.apple.mgmt.External.x',
          pushToken: 'ab'.repeat(32),
          pushMagic: 'magic',
          unlockTokenSealed: bytes(0, 255, 1),
          bootstrapTokenSealed: new Uint8Array(0),
          deviceInfoJson: '{"a":1}',
          securityInfoJson: '{"b":[true]}',
          enrolledAt: '2025-01-01T00:00:00Z',
          lastSeenAt: at(5),
          checkedOutAt: null,
        };
        const created = await s.devices.create('UDID-1', fields, T0);
        const got = await s.devices.get('UDID-1');
        const expected: Device = { id: 'UDID-1', ...fields, enrolledAt: T0, createdAt: T0, updatedAt: T0 };
        assert.deepEqual(got, expected);
        assert.deepEqual(created, expected);
        assert.equal(Object.getPrototypeOf(got?.unlockTokenSealed), Uint8Array.prototype);
        assert.equal(await s.devices.get('UDID-2'), undefined);
      });

      it('create defaults status and nulls; duplicate create is a conflict that changes nothing', async (s) => {
        const d = await s.devices.create('d1', { serialNumber: 'S1' }, T0);
        assert.equal(d.status, 'authenticated');
        assert.equal(d.deviceName, null);
        assert.equal(d.isSupervised, null);
        await rejectsWith(s.devices.create('d1', { serialNumber: 'OTHER' }, at(1)), 'conflict');
        assert.equal((await s.devices.get('d1'))?.serialNumber, 'S1');
      });

      it('update patches only the given fields', async (s) => {
        await s.devices.create('d1', { serialNumber: 'S1', deviceName: 'old', isSupervised: true }, T0);
        assert.equal(await s.devices.update('d1', { deviceName: 'new', pushToken: 'aa', isSupervised: false }, at(1)), true);
        let d = await s.devices.get('d1');
        assert.equal(d?.deviceName, 'new');
        assert.equal(d?.serialNumber, 'S1');
        assert.equal(d?.pushToken, 'aa');
        assert.equal(d?.isSupervised, false);
        assert.equal(d?.createdAt, T0);
        assert.equal(d?.updatedAt, at(1));
        assert.equal(await s.devices.update('d1', { deviceName: null, unlockTokenSealed: bytes(9) }, at(2)), true);
        d = await s.devices.get('d1');
        assert.equal(d?.deviceName, null);
        assert.deepEqual(d?.unlockTokenSealed, bytes(9));
        // Keys that are not device fields are ignored, never used as column names.
        const sneaky = { deviceName: 'x', 'id = 1; --': 'y', createdAt: at(9) } as unknown as Parameters<Storage['devices']['update']>[1];
        assert.equal(await s.devices.update('d1', sneaky, at(3)), true);
        d = await s.devices.get('d1');
        assert.equal(d?.deviceName, 'x');
        assert.equal(d?.createdAt, T0);
        assert.equal(await s.devices.update('missing', { deviceName: 'x' }, at(3)), false);
      });

      it('rejects invalid status, times and limits with bad_request', async (s) => {
        await rejectsWith(s.devices.create('d1', { status: 'owned' as never }, T0), 'bad_request');
        await rejectsWith(s.devices.create('d1', {}, 'yesterday'), 'bad_request');
        await s.devices.create('d1', {}, T0);
        await rejectsWith(s.devices.update('d1', { lastSeenAt: 'not a time' }, T0), 'bad_request');
        await rejectsWith(s.devices.list({ limit: 0 }), 'bad_request');
        await rejectsWith(s.devices.list({ limit: 1001 }), 'bad_request');
        await rejectsWith(s.devices.list({ limit: 1.5 }), 'bad_request');
        assert.equal((await s.devices.get('d1'))?.status, 'authenticated');
      });

      it('list filters by status, serial, model, OS version, search and notSeenSince', async (s) => {
        await s.devices.create('a', { status: 'enrolled', serialNumber: 'SER-A', model: 'iPad13,1', osVersion: '17.1', deviceName: 'Front Desk iPad', modelName: 'iPad', lastSeenAt: at(10) }, T0);
        await s.devices.create('b', { status: 'enrolled', serialNumber: 'SER-B', model: 'iPhone15,2', osVersion: '17.4', deviceName: 'ÉCOLE phone', modelName: 'iPhone', lastSeenAt: at(100) }, T0);
        await s.devices.create('c', { status: 'checked_out', serialNumber: 'XYZ-C', model: 'iPhone15,2', osVersion: '17.4', deviceName: null, modelName: 'iPhone' }, T0);
        await s.devices.create('d', { status: 'authenticated', serialNumber: 'zzz_%', model: 'Mac14,2', osVersion: '14.4', deviceName: 'Build 100%', modelName: 'MacBook Air' }, T0);
        const ids = async (q: Parameters<Storage['devices']['list']>[0]) => (await s.devices.list(q)).items.map((d) => d.id);
        assert.deepEqual(await ids({ limit: 10 }), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await ids({ status: 'enrolled', limit: 10 }), ['a', 'b']);
        assert.deepEqual(await ids({ serialNumber: 'SER-B', limit: 10 }), ['b']);
        assert.deepEqual(await ids({ model: 'iPhone15,2', limit: 10 }), ['b', 'c']);
        assert.deepEqual(await ids({ osVersion: '17.4', limit: 10 }), ['b', 'c']);
        assert.deepEqual(await ids({ model: 'iPhone15,2', status: 'enrolled', limit: 10 }), ['b']);
        // search: case-insensitive substring of name, serial or model name
        assert.deepEqual(await ids({ search: 'desk', limit: 10 }), ['a']);
        assert.deepEqual(await ids({ search: 'ser-', limit: 10 }), ['a', 'b']);
        assert.deepEqual(await ids({ search: 'IPHONE', limit: 10 }), ['b', 'c']);
        assert.deepEqual(await ids({ search: 'macbook', limit: 10 }), ['d']);
        assert.deepEqual(await ids({ search: 'école', limit: 10 }), ['b']);
        // wildcard characters are literal
        assert.deepEqual(await ids({ search: '%', limit: 10 }), ['d']);
        assert.deepEqual(await ids({ search: '_', limit: 10 }), ['d']);
        assert.deepEqual(await ids({ search: 'nomatch', limit: 10 }), []);
        // notSeenSince: seen before the time, or never seen
        assert.deepEqual(await ids({ notSeenSince: at(50), limit: 10 }), ['a', 'c', 'd']);
        assert.deepEqual(await ids({ notSeenSince: at(10), limit: 10 }), ['c', 'd']);
        assert.deepEqual(await ids({ notSeenSince: at(50), status: 'enrolled', limit: 10 }), ['a']);
        assert.equal(await s.devices.count(), 4);
        assert.equal(await s.devices.count({}), 4);
        assert.equal(await s.devices.count({ status: 'enrolled' }), 2);
        assert.equal(await s.devices.count({ search: 'iphone', osVersion: '17.4' }), 2);
        assert.equal(await s.devices.count({ notSeenSince: at(50) }), 3);
      });

      it('list paginates by id with a cursor', async (s) => {
        const all = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
        for (const id of [...all].reverse()) await s.devices.create(id, { status: i(id) % 2 ? 'enrolled' : 'authenticated' }, T0);
        function i(id: string) {
          return Number(id.slice(4));
        }
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await s.devices.list(after === undefined ? { limit: 10 } : { limit: 10, after });
          pages++;
          seen.push(...page.items.map((d) => d.id));
          if (page.next === undefined) break;
          assert.equal(page.next, page.items[page.items.length - 1]?.id);
          after = page.next;
        }
        assert.equal(pages, 3);
        assert.deepEqual(seen, all);
        const exact = await s.devices.list({ limit: 25 });
        assert.equal(exact.items.length, 25);
        assert.equal(exact.next, undefined);
        const filtered = await s.devices.list({ status: 'enrolled', limit: 5, after: 'dev-10' });
        assert.deepEqual(filtered.items.map((d) => d.id), ['dev-11', 'dev-13', 'dev-15', 'dev-17', 'dev-19']);
        assert.equal(filtered.next, 'dev-19');
        // listIds: the same selection and order, ids only.
        assert.deepEqual(await s.devices.listIds({ status: 'enrolled', limit: 5, after: 'dev-10' }), { items: ['dev-11', 'dev-13', 'dev-15', 'dev-17', 'dev-19'], next: 'dev-19' });
        assert.deepEqual((await s.devices.listIds({ limit: 10_000 })).items, all);
        assert.equal((await s.devices.listIds({ limit: 25 })).next, undefined);
        await assert.rejects(s.devices.listIds({ limit: 10_001 }), /invalid limit/);
      });

      it('replaceApps replaces the inventory atomically', async (s) => {
        await devices(s, ['d1', 'd2']);
        await s.devices.replaceApps('d1', [
          { identifier: 'com.b', name: 'B', version: '2', shortVersion: '2.0', bundleSize: 5_000_000_000, isManaged: true },
          { identifier: 'com.a', name: null, version: null, shortVersion: null, bundleSize: null, isManaged: null },
          { identifier: 'com.b', name: 'dup', version: '9', shortVersion: null, bundleSize: 1, isManaged: false },
        ], T0);
        await s.devices.replaceApps('d2', [{ identifier: 'com.z', name: 'Z', version: '1', shortVersion: '1', bundleSize: 1, isManaged: false }], T0);
        assert.deepEqual(await s.devices.listApps('d1'), [
          { identifier: 'com.a', name: null, version: null, shortVersion: null, bundleSize: null, isManaged: null },
          { identifier: 'com.b', name: 'B', version: '2', shortVersion: '2.0', bundleSize: 5_000_000_000, isManaged: true },
        ]);
        await s.devices.replaceApps('d1', [{ identifier: 'com.c', name: 'C', version: '1', shortVersion: '1', bundleSize: 10, isManaged: false }], at(1));
        assert.deepEqual((await s.devices.listApps('d1')).map((a) => a.identifier), ['com.c']);
        await s.devices.replaceApps('d1', [], at(2));
        assert.deepEqual(await s.devices.listApps('d1'), []);
        assert.deepEqual((await s.devices.listApps('d2')).map((a) => a.identifier), ['com.z']);
        await rejectsWith(s.devices.replaceApps('nope', [], T0), 'not_found');
        assert.deepEqual(await s.devices.listApps('nope'), []);
      });
    });

    describe('command queue', () => {
      it('enqueue stores the command and one pending entry per device', async (s) => {
        await devices(s, ['d1', 'd2', 'd3']);
        const c = cmd('11111111-1111-1111-1111-111111111111', 'DeviceLock');
        await s.queue.enqueue(c, ['d2', 'd1', 'd2'], T0);
        assert.deepEqual(await s.queue.getCommand(c.uuid), { ...c, createdAt: T0 });
        assert.equal(await s.queue.getCommand('nope'), undefined);
        const e = await s.queue.entry('d1', c.uuid);
        assert.ok(e);
        assert.deepEqual({ ...e, seq: 0 }, {
          deviceId: 'd1', commandUuid: c.uuid, requestType: 'DeviceLock', status: 'pending', seq: 0, queuedAt: T0,
          deliveries: 0, lastDeliveredAt: null, resultAt: null, resultRaw: null, resultJson: null, errorJson: null, notNowCount: 0,
        });
        assert.equal(await s.queue.entry('d3', c.uuid), undefined);
        assert.deepEqual(await s.queue.summary(c.uuid), { pending: 2, acknowledged: 0, error: 0, not_now: 0, cancelled: 0 });
        assert.deepEqual(await s.queue.summary('nope'), { pending: 0, acknowledged: 0, error: 0, not_now: 0, cancelled: 0 });
        // A command with no devices is stored on its own.
        await s.queue.enqueue(cmd('c-empty'), [], T0);
        assert.ok(await s.queue.getCommand('c-empty'));
      });

      it('enqueue of an existing uuid is a conflict and stores nothing', async (s) => {
        await devices(s, ['d1', 'd2']);
        await s.queue.enqueue(cmd('c1'), ['d1'], T0);
        await rejectsWith(s.queue.enqueue({ ...cmd('c1'), requestType: 'EraseDevice' }, ['d2'], at(1)), 'conflict');
        assert.equal((await s.queue.getCommand('c1'))?.requestType, 'DeviceInformation');
        assert.equal(await s.queue.entry('d2', 'c1'), undefined);
        assert.equal((await s.queue.entriesForCommand('c1', { limit: 10 })).items.length, 1);
        assert.equal(await s.queue.next('d2', { skipNotNow: false }, at(2)), undefined);
      });

      it('enqueue to an unknown device fails with not_found and stores nothing', async (s) => {
        await devices(s, ['d1']);
        await rejectsWith(s.queue.enqueue(cmd('c1'), ['d1', 'ghost'], T0), 'not_found');
        assert.equal(await s.queue.getCommand('c1'), undefined);
        assert.equal(await s.queue.entry('d1', 'c1'), undefined);
        // the uuid is still free
        await s.queue.enqueue(cmd('c1'), ['d1'], T0);
        assert.ok(await s.queue.entry('d1', 'c1'));
      });

      it('delivers strictly in enqueue order and re-offers an unanswered command', async (s) => {
        await devices(s, ['d1', 'd2']);
        const uuids = ['z', 'a', 'm', 'b', 'y'];
        for (const [n, u] of uuids.entries()) await s.queue.enqueue(cmd(u), n === 2 ? ['d2', 'd1'] : ['d1'], at(n));
        const seqs: number[] = [];
        for (const [n, u] of uuids.entries()) {
          const first = await s.queue.next('d1', { skipNotNow: true }, at(10 + n));
          assert.equal(first?.command.uuid, u);
          assert.equal(first?.entry.deliveries, 1);
          assert.equal(first?.entry.lastDeliveredAt, at(10 + n));
          // No answer yet: the same command again, never the next one.
          const again = await s.queue.next('d1', { skipNotNow: false }, at(20 + n));
          assert.equal(again?.command.uuid, u);
          assert.equal(again?.entry.deliveries, 2);
          assert.deepEqual(again?.command.payload, cmd(u).payload);
          assert.equal((await s.queue.entry('d1', u))?.deliveries, 2);
          seqs.push(again?.entry.seq ?? -1);
          assert.equal(await s.queue.recordResult('d1', u, 'Acknowledged', RESULT, at(30 + n)), 'recorded');
        }
        assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
        assert.equal(new Set(seqs).size, seqs.length);
        assert.equal(await s.queue.next('d1', { skipNotNow: false }, at(40)), undefined);
        assert.equal((await s.queue.next('d2', { skipNotNow: false }, at(40)))?.command.uuid, 'm');
        assert.equal(await s.queue.next('ghost', { skipNotNow: false }, at(40)), undefined);
      });

      it('recordResultAndNext records and picks the next command in one call', async (s) => {
        await devices(s, ['d1']);
        for (const [n, u] of ['c1', 'c2'].entries()) await s.queue.enqueue(cmd(u), ['d1'], at(n));
        const a = await s.queue.next('d1', { skipNotNow: true }, at(10));
        assert.equal(a?.command.uuid, 'c1');
        const r1 = await s.queue.recordResultAndNext('d1', 'c1', 'NotNow', RESULT, { skipNotNow: true }, at(11));
        assert.equal(r1.outcome, 'recorded');
        assert.equal(r1.next?.command.uuid, 'c2');
        assert.equal(r1.next?.entry.deliveries, 1);
        const r2 = await s.queue.recordResultAndNext('d1', 'c2', 'Acknowledged', RESULT, { skipNotNow: true }, at(12));
        assert.equal(r2.outcome, 'recorded');
        assert.equal(r2.next, undefined);
        // A repeated report is a duplicate and still hands out what is due (the NotNow one, in a new session).
        const r3 = await s.queue.recordResultAndNext('d1', 'c2', 'Acknowledged', RESULT, { skipNotNow: false }, at(13));
        assert.equal(r3.outcome, 'duplicate');
        assert.equal(r3.next?.command.uuid, 'c1');
        const r4 = await s.queue.recordResultAndNext('d1', 'nope', 'Acknowledged', RESULT, { skipNotNow: true }, at(14));
        assert.equal(r4.outcome, 'unknown');
        assert.equal((await s.queue.entry('d1', 'c2'))?.status, 'acknowledged');
        await rejectsWith(s.queue.recordResultAndNext('d1', 'c1', 'Bogus' as 'NotNow', RESULT, { skipNotNow: true }, at(15)), 'bad_request');
      });

      it('enqueue runs the inTransaction hook inside its transaction: a failing hook stores nothing', async (s) => {
        await devices(s, ['d1']);
        let ran = 0;
        await s.queue.enqueue(cmd('c1'), ['d1'], T0, { inTransaction: async (trx) => { assert.ok(trx); ran++; } });
        assert.equal(ran, 1);
        await assert.rejects(s.queue.enqueue(cmd('c2'), ['d1'], T0, { inTransaction: async () => { throw new Error('hook failed'); } }), /hook failed/);
        assert.equal(await s.queue.getCommand('c2'), undefined);
        assert.equal(await s.queue.entry('d1', 'c2'), undefined);
      });

      it('NotNow: skipped within a session, re-offered first afterwards', async (s) => {
        await devices(s, ['d1']);
        for (const [n, u] of ['c1', 'c2', 'c3'].entries()) await s.queue.enqueue(cmd(u), ['d1'], at(n));
        const a = await s.queue.next('d1', { skipNotNow: true }, at(10));
        assert.equal(a?.command.uuid, 'c1');
        assert.equal(await s.queue.recordResult('d1', 'c1', 'NotNow', { raw: bytes(4), json: '{"Status":"NotNow"}', errorJson: null }, at(11)), 'recorded');
        let e = await s.queue.entry('d1', 'c1');
        assert.equal(e?.status, 'not_now');
        assert.equal(e?.notNowCount, 1);
        // Same session: c1 does not block the rest.
        const b = await s.queue.next('d1', { skipNotNow: true }, at(12));
        assert.equal(b?.command.uuid, 'c2');
        assert.equal(await s.queue.recordResult('d1', 'c2', 'Acknowledged', RESULT, at(13)), 'recorded');
        // New session: the NotNow command, oldest, comes first again.
        const c = await s.queue.next('d1', { skipNotNow: false }, at(14));
        assert.equal(c?.command.uuid, 'c1');
        assert.equal(c?.entry.status, 'not_now');
        assert.equal(c?.entry.deliveries, 2);
        assert.equal(await s.queue.recordResult('d1', 'c1', 'NotNow', RESULT, at(15)), 'recorded');
        assert.equal((await s.queue.entry('d1', 'c1'))?.notNowCount, 2);
        assert.equal((await s.queue.next('d1', { skipNotNow: true }, at(16)))?.command.uuid, 'c3');
        assert.equal((await s.queue.next('d1', { skipNotNow: false }, at(17)))?.command.uuid, 'c1');
        assert.equal(await s.queue.recordResult('d1', 'c1', 'Acknowledged', RESULT, at(18)), 'recorded');
        e = await s.queue.entry('d1', 'c1');
        assert.equal(e?.status, 'acknowledged');
        assert.equal(e?.notNowCount, 2);
        assert.equal(e?.resultAt, at(18));
        // NotNow after a final result changes nothing.
        assert.equal(await s.queue.recordResult('d1', 'c1', 'NotNow', RESULT, at(19)), 'duplicate');
        assert.equal((await s.queue.entry('d1', 'c1'))?.status, 'acknowledged');
      });

      it('a final result is recorded once; repeats are duplicates that change nothing', async (s) => {
        await devices(s, ['d1', 'd2']);
        await s.queue.enqueue(cmd('c1'), ['d1', 'd2'], T0);
        await s.queue.enqueue(cmd('c2'), ['d1'], T0);
        await s.queue.next('d1', { skipNotNow: true }, at(1));
        const res = { raw: bytes(7, 7), json: '{"x":1}', errorJson: null };
        assert.equal(await s.queue.recordResult('d1', 'c1', 'Acknowledged', res, at(2)), 'recorded');
        const before = await s.queue.entry('d1', 'c1');
        assert.equal(before?.status, 'acknowledged');
        assert.deepEqual(before?.resultRaw, bytes(7, 7));
        assert.equal(before?.resultJson, '{"x":1}');
        assert.equal(before?.resultAt, at(2));
        for (const st of ['Acknowledged', 'Error', 'CommandFormatError', 'NotNow'] as const) {
          assert.equal(await s.queue.recordResult('d1', 'c1', st, { raw: bytes(9), json: '{}', errorJson: '[]' }, at(3)), 'duplicate');
        }
        assert.deepEqual(await s.queue.entry('d1', 'c1'), before);
        // Error and CommandFormatError are final 'error' entries with the chain kept.
        await s.queue.next('d1', { skipNotNow: true }, at(4));
        assert.equal(await s.queue.recordResult('d1', 'c2', 'CommandFormatError', { raw: bytes(1), json: '{}', errorJson: '[{"ErrorCode":12021}]' }, at(5)), 'recorded');
        const err = await s.queue.entry('d1', 'c2');
        assert.equal(err?.status, 'error');
        assert.equal(err?.errorJson, '[{"ErrorCode":12021}]');
        await s.queue.next('d2', { skipNotNow: true }, at(4));
        assert.equal(await s.queue.recordResult('d2', 'c1', 'Error', { raw: bytes(1), json: '{}', errorJson: '[]' }, at(6)), 'recorded');
        assert.equal(await s.queue.recordResult('d2', 'c1', 'Acknowledged', RESULT, at(7)), 'duplicate');
        assert.equal((await s.queue.entry('d2', 'c1'))?.status, 'error');
        assert.deepEqual(await s.queue.summary('c1'), { pending: 0, acknowledged: 1, error: 1, not_now: 0, cancelled: 0 });
      });

      it('results for unknown or never-delivered entries are unknown and change nothing', async (s) => {
        await devices(s, ['d1', 'd2']);
        await s.queue.enqueue(cmd('c1'), ['d1'], T0);
        assert.equal(await s.queue.recordResult('d1', 'nope', 'Acknowledged', RESULT, at(1)), 'unknown');
        assert.equal(await s.queue.recordResult('d2', 'c1', 'Acknowledged', RESULT, at(1)), 'unknown');
        // Never handed to the device: it cannot have answered it.
        assert.equal(await s.queue.recordResult('d1', 'c1', 'Acknowledged', RESULT, at(1)), 'unknown');
        assert.equal((await s.queue.entry('d1', 'c1'))?.status, 'pending');
        await rejectsWith(s.queue.recordResult('d1', 'c1', 'Bogus' as never, RESULT, at(1)), 'bad_request');
      });

      it('cancel stops delivery of pending and not_now entries only', async (s) => {
        await devices(s, ['d1']);
        for (const u of ['c1', 'c2', 'c3', 'c4']) await s.queue.enqueue(cmd(u), ['d1'], T0);
        assert.equal(await s.queue.cancel('d1', 'c1', at(1)), true);
        assert.equal(await s.queue.cancel('d1', 'c1', at(1)), false);
        assert.equal((await s.queue.entry('d1', 'c1'))?.status, 'cancelled');
        assert.equal((await s.queue.next('d1', { skipNotNow: false }, at(2)))?.command.uuid, 'c2');
        assert.equal(await s.queue.recordResult('d1', 'c2', 'NotNow', RESULT, at(3)), 'recorded');
        assert.equal(await s.queue.cancel('d1', 'c2', at(4)), true);
        assert.equal((await s.queue.next('d1', { skipNotNow: false }, at(5)))?.command.uuid, 'c3');
        assert.equal(await s.queue.recordResult('d1', 'c3', 'Acknowledged', RESULT, at(6)), 'recorded');
        assert.equal(await s.queue.cancel('d1', 'c3', at(7)), false);
        assert.equal((await s.queue.entry('d1', 'c3'))?.status, 'acknowledged');
        assert.equal(await s.queue.cancel('d1', 'nope', at(7)), false);
        assert.equal(await s.queue.cancel('ghost', 'c4', at(7)), false);
        // A never-delivered cancelled entry cannot be answered; a delivered one records what the device did.
        assert.equal(await s.queue.recordResult('d1', 'c1', 'Acknowledged', RESULT, at(8)), 'unknown');
        assert.equal(await s.queue.recordResult('d1', 'c2', 'NotNow', RESULT, at(8)), 'duplicate');
        assert.equal((await s.queue.entry('d1', 'c2'))?.status, 'cancelled');
        assert.equal(await s.queue.recordResult('d1', 'c2', 'Acknowledged', RESULT, at(8)), 'recorded');
        assert.equal((await s.queue.entry('d1', 'c2'))?.status, 'acknowledged');
        assert.equal((await s.queue.next('d1', { skipNotNow: false }, at(9)))?.command.uuid, 'c4');
      });

      it('entriesForCommand pages by device id; summary counts by status', async (s) => {
        const ids = Array.from({ length: 23 }, (_, i) => `d${String(i).padStart(2, '0')}`);
        await devices(s, ids);
        await s.queue.enqueue(cmd('fleet', 'DeviceLock'), [...ids].reverse(), T0);
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await s.queue.entriesForCommand('fleet', after === undefined ? { limit: 10 } : { limit: 10, after });
          for (const e of page.items) {
            assert.equal(e.commandUuid, 'fleet');
            assert.equal(e.requestType, 'DeviceLock');
          }
          seen.push(...page.items.map((e) => e.deviceId));
          if (page.next === undefined) break;
          after = page.next;
        }
        assert.deepEqual(seen, ids);
        assert.deepEqual(await s.queue.entriesForCommand('nope', { limit: 10 }), { items: [] });
        await rejectsWith(s.queue.entriesForCommand('fleet', { limit: 0 }), 'bad_request');
        for (const id of ids.slice(0, 5)) {
          await s.queue.next(id, { skipNotNow: true }, at(1));
          await s.queue.recordResult(id, 'fleet', 'Acknowledged', RESULT, at(2));
        }
        for (const id of ids.slice(5, 7)) {
          await s.queue.next(id, { skipNotNow: true }, at(1));
          await s.queue.recordResult(id, 'fleet', 'Error', { ...RESULT, errorJson: '[]' }, at(2));
        }
        await s.queue.next('d07', { skipNotNow: true }, at(1));
        await s.queue.recordResult('d07', 'fleet', 'NotNow', RESULT, at(2));
        await s.queue.cancel('d08', 'fleet', at(3));
        await s.queue.cancel('d09', 'fleet', at(3));
        await s.queue.cancel('d10', 'fleet', at(3));
        assert.deepEqual(await s.queue.summary('fleet'), { pending: 12, acknowledged: 5, error: 2, not_now: 1, cancelled: 3 });
      });

      it('entriesForDevice lists newest first with status filter and seq cursor', async (s) => {
        await devices(s, ['d1', 'd2']);
        for (const [n, u] of ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].entries()) await s.queue.enqueue(cmd(u), ['d1', 'd2'], at(n));
        await s.queue.next('d1', { skipNotNow: true }, at(10));
        await s.queue.recordResult('d1', 'c0', 'Acknowledged', RESULT, at(11));
        await s.queue.next('d1', { skipNotNow: true }, at(12));
        await s.queue.recordResult('d1', 'c1', 'Acknowledged', RESULT, at(13));
        const all = await s.queue.entriesForDevice('d1', { limit: 100 });
        assert.deepEqual(all.map((e) => e.commandUuid), ['c5', 'c4', 'c3', 'c2', 'c1', 'c0']);
        assert.ok(all.every((e) => e.deviceId === 'd1'));
        const page1 = await s.queue.entriesForDevice('d1', { limit: 4 });
        assert.deepEqual(page1.map((e) => e.commandUuid), ['c5', 'c4', 'c3', 'c2']);
        const last = page1[page1.length - 1];
        assert.ok(last);
        const page2 = await s.queue.entriesForDevice('d1', { limit: 4, beforeSeq: last.seq });
        assert.deepEqual(page2.map((e) => e.commandUuid), ['c1', 'c0']);
        assert.deepEqual((await s.queue.entriesForDevice('d1', { limit: 10, status: 'acknowledged' })).map((e) => e.commandUuid), ['c1', 'c0']);
        assert.deepEqual((await s.queue.entriesForDevice('d1', { limit: 2, status: 'pending' })).map((e) => e.commandUuid), ['c5', 'c4']);
        assert.deepEqual(await s.queue.entriesForDevice('d1', { limit: 10, status: 'cancelled' }), []);
        assert.deepEqual(await s.queue.entriesForDevice('ghost', { limit: 10 }), []);
        await rejectsWith(s.queue.entriesForDevice('d1', { limit: 10, status: 'bogus' as QueueStatus }), 'bad_request');
      });

      it('concurrent connects of one device never record a command twice and lose none', async (s) => {
        const N = 40;
        const WORKERS = 8;
        await devices(s, ['d1', 'd2']);
        const uuids = Array.from({ length: N }, (_, i) => `cmd-${String(i).padStart(3, '0')}`);
        for (const u of uuids) await s.queue.enqueue(cmd(u), ['d1', 'd2'], T0);
        const recorded = new Map<string, number>();
        const firstDelivery: string[] = [];
        let clock = 0;
        const worker = async (deviceId: string, w: number) => {
          for (let round = 0; round < N * 4; round++) {
            const got: DeliverableCommand | undefined = await s.queue.next(deviceId, { skipNotNow: true }, at(++clock));
            if (!got) return;
            if (deviceId === 'd1' && !firstDelivery.includes(got.command.uuid)) firstDelivery.push(got.command.uuid);
            // Every third worker answers Error, the rest Acknowledged: either way final.
            const status = w % 3 === 0 ? 'Error' : 'Acknowledged';
            const outcome = await s.queue.recordResult(deviceId, got.command.uuid, status, RESULT, at(++clock));
            assert.notEqual(outcome, 'unknown');
            if (outcome === 'recorded') {
              const key = `${deviceId}/${got.command.uuid}`;
              recorded.set(key, (recorded.get(key) ?? 0) + 1);
            }
          }
          assert.fail('worker did not drain the queue');
        };
        await Promise.all([
          ...Array.from({ length: WORKERS }, (_, w) => worker('d1', w)),
          ...Array.from({ length: WORKERS }, (_, w) => worker('d2', w)),
        ]);
        for (const d of ['d1', 'd2']) {
          for (const u of uuids) assert.equal(recorded.get(`${d}/${u}`), 1, `${d}/${u} recorded once`);
        }
        // A command is first handed out only after every earlier one was answered.
        assert.deepEqual(firstDelivery, uuids);
        for (const u of uuids) {
          const sum = await s.queue.summary(u);
          assert.equal(sum.acknowledged + sum.error, 2);
          assert.equal(sum.pending, 0);
        }
        assert.equal(await s.queue.next('d1', { skipNotNow: false }, at(++clock)), undefined);
      });

      it('concurrent enqueues of one uuid: exactly one wins', async (s) => {
        await devices(s, ['d1', 'd2', 'd3']);
        const results = await Promise.allSettled(
          ['d1', 'd2', 'd3'].map((d) => s.queue.enqueue(cmd('same'), [d], T0)),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(isRampartError(r.reason) && r.reason.code === 'conflict');
        }
        assert.equal((await s.queue.entriesForCommand('same', { limit: 10 })).items.length, 1);
      });
    });

    describe('admins', () => {
      it('create, get, getByUsername, list, count, conflicts', async (s) => {
        assert.equal(await s.admins.count(), 0);
        const a = await s.admins.create({ id: 'a1', username: 'zoe' }, T0);
        assert.deepEqual(a, { id: 'a1', username: 'zoe', createdAt: T0, disabledAt: null });
        await s.admins.create({ id: 'a2', username: 'adam' }, at(1));
        assert.deepEqual(await s.admins.get('a1'), a);
        assert.equal(await s.admins.get('a3'), undefined);
        assert.equal((await s.admins.getByUsername('adam'))?.id, 'a2');
        assert.equal(await s.admins.getByUsername('ADAM'), undefined);
        assert.deepEqual((await s.admins.list()).map((x) => x.username), ['adam', 'zoe']);
        assert.equal(await s.admins.count(), 2);
        await rejectsWith(s.admins.create({ id: 'a1', username: 'other' }, T0), 'conflict');
        await rejectsWith(s.admins.create({ id: 'a9', username: 'zoe' }, T0), 'conflict');
        assert.equal(await s.admins.count(), 2);
      });
    });

    describe('api tokens', () => {
      it('create, look up by hash, touch, revoke, list per principal', async (s) => {
        const base = { name: 'ci', principalId: 'a1', scopes: ['devices:read', 'commands:write'], expiresAt: at(60) };
        const t = await s.tokens.create({ id: 't1', secretHash: hex64(1), ...base }, T0);
        assert.deepEqual(t, { id: 't1', secretHash: hex64(1), ...base, createdAt: T0, lastUsedAt: null, revokedAt: null });
        await s.tokens.create({ id: 't2', secretHash: hex64(2), ...base, scopes: [], expiresAt: null }, at(1));
        await s.tokens.create({ id: 't3', secretHash: hex64(3), ...base, principalId: 'a2' }, at(2));
        assert.deepEqual(await s.tokens.getBySecretHash(hex64(1)), t);
        assert.equal(await s.tokens.getBySecretHash(hex64(4)), undefined);
        assert.equal(await s.tokens.getBySecretHash('not-hex'), undefined);
        await s.tokens.touch('t1', at(5));
        assert.equal((await s.tokens.getBySecretHash(hex64(1)))?.lastUsedAt, at(5));
        await s.tokens.touch('nope', at(5));
        assert.equal(await s.tokens.revoke('t1', at(6)), true);
        assert.equal(await s.tokens.revoke('t1', at(7)), false);
        assert.equal(await s.tokens.revoke('nope', at(7)), false);
        assert.equal((await s.tokens.getBySecretHash(hex64(1)))?.revokedAt, at(6));
        const mine = await s.tokens.listForPrincipal('a1');
        assert.deepEqual(mine.map((x) => x.id), ['t1', 't2']);
        assert.deepEqual(mine[1]?.scopes, []);
        assert.deepEqual(await s.tokens.listForPrincipal('a3'), []);
        await rejectsWith(s.tokens.create({ id: 't1', secretHash: hex64(9), ...base }, T0), 'conflict');
        await rejectsWith(s.tokens.create({ id: 't9', secretHash: hex64(2), ...base }, T0), 'conflict');
        assert.equal((await s.tokens.listForPrincipal('a1')).length, 2);
      });
    });

    describe('certificates', () => {
      it('add, look up, revoke, list revoked', async (s) => {
        const c1 = { serial: '00ab', subject: 'CN=d1', sha256: hex64(11), notBefore: T0, notAfter: at(525600), deviceId: 'd1', der: bytes(48, 130, 1) };
        const c2 = { ...c1, serial: '0cd', subject: 'CN=d2', sha256: hex64(12), deviceId: null, der: bytes(48) };
        const c3 = { ...c1, serial: '7f', sha256: hex64(13) };
        await s.certificates.add(c1);
        await s.certificates.add(c2);
        await s.certificates.add(c3);
        const full1 = { ...c1, revokedAt: null, revocationReason: null };
        assert.deepEqual(await s.certificates.getBySerial('00ab'), full1);
        assert.equal((await s.certificates.getBySerial('ab')), undefined, 'leading zeros are significant');
        assert.deepEqual(await s.certificates.getBySha256(hex64(11)), full1);
        assert.equal(await s.certificates.getBySha256(hex64(99)), undefined);
        assert.equal(await s.certificates.getBySerial('zz'), undefined);
        assert.deepEqual(await s.certificates.listRevoked(), []);
        assert.equal(await s.certificates.revoke('7f', 'keyCompromise', at(2)), true);
        assert.equal(await s.certificates.revoke('0cd', 'superseded', at(1)), true);
        assert.equal(await s.certificates.revoke('0cd', 'again', at(3)), false);
        assert.equal(await s.certificates.revoke('ffff', 'x', at(3)), false);
        const revoked = await s.certificates.listRevoked();
        assert.deepEqual(revoked.map((c) => [c.serial, c.revokedAt, c.revocationReason]), [
          ['0cd', at(1), 'superseded'],
          ['7f', at(2), 'keyCompromise'],
        ]);
        await rejectsWith(s.certificates.add(c1), 'conflict');
      });
    });

    describe('settings', () => {
      it('get, set, overwrite', async (s) => {
        assert.equal(await s.settings.get('push.topic'), undefined);
        await s.settings.set('push.topic', 'com.apple.mgmt.x', T0);
        await s.settings.set('ca.serial', '{"n":1}', T0);
        assert.equal(await s.settings.get('push.topic'), 'com.apple.mgmt.x');
        await s.settings.set('push.topic', '', at(1));
        assert.equal(await s.settings.get('push.topic'), '');
        assert.equal(await s.settings.get('ca.serial'), '{"n":1}');
        await rejectsWith(s.settings.set('k', 'a\u0000b', T0), 'bad_request');
      });
    });

    describe('storage', () => {
      it('reports its backend', async (s) => {
        assert.ok(s.backend === 'sqlite' || s.backend === 'postgres');
        assert.equal(name.toLowerCase().includes(s.backend), true);
      });
    });
  });
}
