import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import type { Actor } from './types.ts';
import { isRampartError } from '../lib/errors.ts';
import type { ErrorCode } from '../lib/errors.ts';
import { MAX_DEVICES_PER_COMMAND } from './commands.ts';

const admin: Actor = { type: 'token', id: 'tok-admin', permissions: new Set(['*']), requestId: 'req-1', source: '127.0.0.1' };
const locker: Actor = { type: 'token', id: 'tok-lock', permissions: new Set(['commands.send.lock', 'commands.read']) };
const reader: Actor = { type: 'token', id: 'tok-read', permissions: new Set(['devices.read']) };
const U = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const code = (c: ErrorCode) => (e: unknown) => isRampartError(e) && e.code === c;

describe('command service (real SQLite storage, real command builder)', () => {
  let s: TestStack;
  before(async () => {
    s = await createTestStack();
    for (const id of ['D1', 'D2', 'D3']) await s.addDevice(id);
  });
  after(async () => s.close());

  const stored = async (uuid: string) => s.storage.queue.getCommand(uuid);

  it('enqueues for several devices, audits counts and calls the push hook', async () => {
    const r = await s.commands.enqueue(admin, { deviceIds: ['D1', 'D2', 'D1'], requestType: 'DeviceLock', payload: { Message: 'hi' }, commandUuid: U(1).toUpperCase() });
    assert.deepEqual(r, { commandUuid: U(1), requestType: 'DeviceLock', queued: 2 });
    const cmd = await stored(U(1));
    assert.ok(cmd);
    assert.equal(cmd.createdBy, 'tok-admin');
    assert.match(new TextDecoder().decode(cmd.payload), /<key>RequestType<\/key>\s*<string>DeviceLock<\/string>/);
    assert.deepEqual(s.enqueued.at(-1), { deviceIds: ['D1', 'D2'], commandUuid: U(1) });
    const ev = s.audit.events.at(-1)!;
    assert.equal(ev.action, 'command.enqueue');
    assert.equal(ev.outcome, 'success');
    assert.equal(ev.requestId, 'req-1');
    assert.deepEqual(ev.target, { type: 'command', id: U(1) });
    assert.deepEqual(ev.details, { requestType: 'DeviceLock', class: 'lock', devices: 3, queued: 2 });
  });

  it('generates a uuid when none is given', async () => {
    const r = await s.commands.enqueue(admin, { deviceIds: ['D3'], requestType: 'ProfileList', payload: {} });
    assert.match(r.commandUuid, /^[0-9a-f-]{36}$/);
    assert.ok(await stored(r.commandUuid));
  });

  it('validates against the schema before anything is stored', async () => {
    const pushes = s.enqueued.length;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['NoSuchCommand', {}],
      ['DeviceLock', { Bogus: 1 }],
      ['DeviceLock', { Message: 42 }],
      ['DeviceInformation', {}],
      ['InstallProfile', { Payload: 'not base64!' }],
    ];
    for (const [i, [requestType, payload]] of cases.entries()) {
      await assert.rejects(
        s.commands.enqueue(admin, { deviceIds: ['D1'], requestType, payload: payload as never, commandUuid: U(100 + i) }),
        code('bad_request'),
        requestType,
      );
      assert.equal(await stored(U(100 + i)), undefined);
      assert.equal(s.audit.events.at(-1)!.outcome, 'failure');
    }
    assert.equal(s.enqueued.length, pushes);
    assert.deepEqual((await s.storage.queue.entriesForDevice('D1', { limit: 100 })).map((e) => e.commandUuid), [U(1)]);
  });

  it('refuses malformed input', async () => {
    const bad: Array<Parameters<typeof s.commands.enqueue>[1]> = [
      { deviceIds: [], requestType: 'DeviceLock', payload: {} },
      { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {}, commandUuid: 'not-a-uuid' },
      { deviceIds: ['bad id'], requestType: 'DeviceLock', payload: {} },
      { deviceIds: ['D1'], requestType: 'Device Lock', payload: {} },
      { deviceIds: ['D1'], requestType: 'DeviceLock', payload: [] as never },
    ];
    for (const input of bad) await assert.rejects(s.commands.enqueue(admin, input), code('bad_request'), JSON.stringify(input));
  });

  it('refuses unknown devices all-or-nothing without naming them', async () => {
    await assert.rejects(
      s.commands.enqueue(admin, { deviceIds: ['D1', 'GHOST-1', 'D2'], requestType: 'DeviceLock', payload: {}, commandUuid: U(2) }),
      (e) => isRampartError(e) && e.code === 'not_found' && e.message === 'device not found' && !String(e.detail).includes('GHOST'),
    );
    assert.equal(await stored(U(2)), undefined);
    const ev = s.audit.events.at(-1)!;
    assert.equal(ev.outcome, 'failure');
    assert.ok(!JSON.stringify(ev).includes('GHOST'));
  });

  it(`caps a call at ${MAX_DEVICES_PER_COMMAND} devices`, async () => {
    const ids = Array.from({ length: MAX_DEVICES_PER_COMMAND + 1 }, (_, i) => `X${i}`);
    await assert.rejects(s.commands.enqueue(admin, { deviceIds: ids, requestType: 'DeviceLock', payload: {} }), code('bad_request'));
  });

  it('a caller-chosen uuid is an idempotency key', async () => {
    const input = { deviceIds: ['D2', 'D3'], requestType: 'DeviceLock', payload: { Message: 'again' }, commandUuid: U(3) };
    const first = await s.commands.enqueue(admin, input);
    const pushes = s.enqueued.length;
    const again = await s.commands.enqueue(admin, { ...input, deviceIds: ['D3', 'D2'], commandUuid: U(3).toUpperCase() });
    assert.deepEqual(again, first);
    assert.equal(s.enqueued.length, pushes, 'no second push');
    assert.equal(s.audit.events.at(-1)!.details!.replay, true);
    assert.equal((await s.storage.queue.entriesForCommand(U(3), { limit: 10 })).items.length, 2);
    // Same uuid, different content, targets or creator: conflict, nothing changes.
    const variants: Array<[Actor, typeof input]> = [
      [admin, { ...input, payload: { Message: 'different' } }],
      [admin, { ...input, deviceIds: ['D2'] }],
      [admin, { ...input, deviceIds: ['D1', 'D2', 'D3'] }],
      [admin, { ...input, requestType: 'DeviceInformation', payload: { Queries: ['UDID'] } as never }],
      [{ ...admin, id: 'someone-else' }, input],
    ];
    for (const [who, v] of variants) await assert.rejects(s.commands.enqueue(who, v), code('conflict'), JSON.stringify(v));
    assert.equal((await s.storage.queue.entriesForCommand(U(3), { limit: 10 })).items.length, 2);
  });

  it('concurrent calls with the same uuid queue once', async () => {
    const input = { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {}, commandUuid: U(4) };
    const results = await Promise.all([s.commands.enqueue(admin, input), s.commands.enqueue(admin, input), s.commands.enqueue(admin, input)]);
    for (const r of results) assert.deepEqual(r, { commandUuid: U(4), requestType: 'DeviceLock', queued: 1 });
    assert.equal((await s.storage.queue.entriesForCommand(U(4), { limit: 10 })).items.length, 1);
  });

  it('checks the command class: lock may lock, not erase or manage; devices.read may not send', async () => {
    const before = s.audit.events.length;
    await s.commands.enqueue(locker, { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {}, commandUuid: U(5) });
    await assert.rejects(s.commands.enqueue(locker, { deviceIds: ['D1'], requestType: 'EraseDevice', payload: {}, commandUuid: U(6) }), code('forbidden'));
    await assert.rejects(s.commands.enqueue(locker, { deviceIds: ['D1'], requestType: 'RestartDevice', payload: {}, commandUuid: U(7) }), code('forbidden'));
    await assert.rejects(s.commands.enqueue(reader, { deviceIds: ['D1'], requestType: 'DeviceInformation', payload: { Queries: ['UDID'] } }), code('forbidden'));
    assert.equal(await stored(U(6)), undefined);
    assert.equal(await stored(U(7)), undefined);
    const denied = s.audit.events.slice(before).filter((e) => e.outcome === 'denied');
    assert.deepEqual(denied.map((e) => [e.actor.id, e.details!.permission]), [
      ['tok-lock', 'commands.send.erase'],
      ['tok-lock', 'commands.send.manage'],
      ['tok-read', 'commands.send.query'],
    ]);
  });

  it('status, result and forDevice', async () => {
    const st = await s.commands.status(locker, U(1), { limit: 1 });
    assert.equal(st.requestType, 'DeviceLock');
    assert.deepEqual(st.summary, { pending: 2, acknowledged: 0, error: 0, not_now: 0, cancelled: 0 });
    assert.equal(st.entries.items.length, 1);
    assert.equal(st.entries.next, 'D1');
    const rest = await s.commands.status(locker, U(1), { after: 'D1', limit: 10 });
    assert.deepEqual(rest.entries.items.map((e) => e.deviceId), ['D2']);

    const now = s.clock.now.toISOString();
    const delivered = await s.storage.queue.next('D2', { skipNotNow: false }, now);
    assert.equal(delivered?.command.uuid, U(1));
    await s.storage.queue.recordResult('D2', U(1), 'Acknowledged', { raw: new Uint8Array([0x3c, 0x3f]), json: '{"Status":"Acknowledged"}', errorJson: null }, now);
    const r = await s.commands.result(locker, U(1), 'D2');
    assert.equal(r.status, 'acknowledged');
    assert.deepEqual(r.result, { Status: 'Acknowledged' });
    assert.equal(r.resultRaw, 'PD8=');
    assert.equal(r.deliveries, 1);

    const list = await s.commands.forDevice(locker, 'D1', { limit: 10 });
    assert.ok(list.some((e) => e.commandUuid === U(1)));
    assert.deepEqual((await s.commands.forDevice(locker, 'D2', { status: 'acknowledged', limit: 10 })).map((e) => e.commandUuid), [U(1)]);

    for (const p of [
      s.commands.status(locker, U(999), { limit: 10 }),
      s.commands.status(locker, 'garbage', { limit: 10 }),
      s.commands.result(locker, U(1), 'NOPE'),
      s.commands.forDevice(locker, 'NOPE', { limit: 10 }),
    ]) await assert.rejects(p, code('not_found'));
    await assert.rejects(s.commands.status(locker, U(1), { limit: 0 }), code('bad_request'));
    await assert.rejects(s.commands.status(reader, U(1), { limit: 10 }), code('forbidden'));
    await assert.rejects(s.commands.result(reader, U(1), 'D1'), code('forbidden'));
    await assert.rejects(s.commands.forDevice(reader, 'D1', { limit: 10 }), code('forbidden'));
  });

  it('cancel needs commands.cancel, cancels pending entries once and audits', async () => {
    await assert.rejects(s.commands.cancel(locker, U(3), 'D2'), code('forbidden'));
    assert.equal(await s.commands.cancel(admin, U(3), 'D2'), true);
    assert.deepEqual(s.audit.events.at(-1)!.details, { device: 'D2', requestType: 'DeviceLock', cancelled: true });
    assert.equal(await s.commands.cancel(admin, U(3), 'D2'), false);
    assert.equal(s.audit.events.at(-1)!.outcome, 'failure');
    assert.equal(await s.commands.cancel(admin, U(1), 'D2'), false, 'already acknowledged');
    await assert.rejects(s.commands.cancel(admin, U(3), 'D1'), code('not_found'));
    assert.equal((await s.storage.queue.entry('D3', U(3)))!.status, 'pending');
  });
});
