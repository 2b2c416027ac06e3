import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { plistToJson } from '../protocol/commands/results.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import { buildPlist, parsePlistDict, type PlistDict } from '../protocol/plist/index.ts';
import { toConnectInput } from '../core/device-input.ts';
import { isRampartError } from '../lib/errors.ts';
import { createConnectService, type ConnectService } from './connect.ts';
import { createInventoryService } from './inventory.ts';
import type { MdmReply, RequestContext } from './device-identity.ts';

const CERT = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
let n = 0;
const ctx = (certSha256 = CERT): RequestContext => ({ certSha256, source: '198.51.100.4', requestId: `req-${++n}` });

/** What the core does with a connect body: the real parse, then the real mapping to the service input. */
function report(dict: PlistDict) {
  const raw = buildPlist(dict);
  const parsed = parseDeviceMessage('connect', raw, {});
  assert.equal(parsed.kind, 'report');
  return toConnectInput(parsed as Extract<typeof parsed, { kind: 'report' }>, raw);
}

/** The CommandUUID of the command in a reply, or undefined for an empty 200. */
function handed(r: MdmReply): string | undefined {
  assert.equal(r.status, 200);
  if (!r.body || r.body.length === 0) return undefined;
  assert.equal(r.contentType, 'application/xml');
  return parsePlistDict(r.body).CommandUUID as string;
}

describe('connect service (real SQLite storage, real audit log, real inventory)', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let connect: ConnectService;
  let t = Date.parse('2026-04-01T00:00:00.000Z');
  const now = (): Date => new Date(t);
  const iso = (): string => now().toISOString();
  const tick = (ms = 1000): void => {
    t += ms;
  };

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const inventory = createInventoryService({ devices: opened.storage.devices, now, toJson: plistToJson });
    connect = createConnectService({
      devices: opened.storage.devices,
      queue: opened.storage.queue,
      inventory,
      audit,
      lookup: audit.log,
      now,
      toJson: plistToJson,
    });
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  const addDevice = (id: string, status: 'enrolled' | 'authenticated' | 'checked_out' = 'enrolled') =>
    opened.storage.devices.create(id, { status, identityCertSha256: CERT, pushToken: 'ab', pushMagic: 'm' }, iso());
  const enqueue = async (deviceId: string, uuid: string, requestType: string, payload: Record<string, unknown> = {}): Promise<void> => {
    const c = buildCommand({ uuid, requestType, payload });
    await opened.storage.queue.enqueue({ uuid, requestType, payload: c.plist, createdBy: 'test' }, [deviceId], iso());
  };
  const idle = (id: string, c = ctx()) => connect.handle(report({ UDID: id, Status: 'Idle' }), c);
  const answer = (id: string, uuid: string, status: string, extra: PlistDict = {}, c = ctx()) =>
    connect.handle(report({ UDID: id, CommandUUID: uuid, Status: status, ...extra }), c);
  const results = (deviceId: string, uuid: string) => audit.log.store.search({ action: 'command.result', actorId: deviceId, targetId: uuid, limit: 100 });
  const entry = (deviceId: string, uuid: string) => opened.storage.queue.entry(deviceId, uuid);

  it('an idle device with nothing queued gets an empty 200', async () => {
    await addDevice('D-EMPTY');
    assert.equal(handed(await idle('D-EMPTY')), undefined);
  });

  it('delivers commands in the order they were queued, one per answer', async () => {
    await addDevice('D-ORDER');
    for (const u of ['C-1', 'C-2', 'C-3']) {
      tick();
      await enqueue('D-ORDER', u, 'ProfileList');
    }
    assert.equal(handed(await idle('D-ORDER')), 'C-1');
    assert.equal(handed(await answer('D-ORDER', 'C-1', 'Acknowledged', { ProfileList: [] })), 'C-2');
    assert.equal(handed(await answer('D-ORDER', 'C-2', 'Error', { ErrorChain: [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' }] })), 'C-3');
    assert.equal(handed(await answer('D-ORDER', 'C-3', 'Acknowledged')), undefined);
    assert.equal((await entry('D-ORDER', 'C-1'))!.status, 'acknowledged');
    const e2 = (await entry('D-ORDER', 'C-2'))!;
    assert.equal(e2.status, 'error');
    assert.deepEqual(JSON.parse(e2.errorJson!), [{ ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain' }]);
    assert.deepEqual(
      (await audit.log.store.search({ action: 'command.result', actorId: 'D-ORDER', limit: 10 })).map((e) => [e.targetId, e.outcome]),
      [['C-1', 'success'], ['C-2', 'failure'], ['C-3', 'success']],
    );
  });

  it('an unanswered command is handed out again on the next Idle (not skipped)', async () => {
    await addDevice('D-REDELIVER');
    await enqueue('D-REDELIVER', 'R-1', 'ProfileList');
    await enqueue('D-REDELIVER', 'R-2', 'ProfileList');
    assert.equal(handed(await idle('D-REDELIVER')), 'R-1');
    assert.equal(handed(await idle('D-REDELIVER')), 'R-1');
    assert.equal((await entry('D-REDELIVER', 'R-1'))!.deliveries, 2);
  });

  it('NotNow: the commands behind it proceed; it waits for the next Idle session', async () => {
    await addDevice('D-NOTNOW');
    await enqueue('D-NOTNOW', 'N-1', 'ProfileList');
    await enqueue('D-NOTNOW', 'N-2', 'ProfileList');
    assert.equal(handed(await idle('D-NOTNOW')), 'N-1');
    assert.equal(handed(await answer('D-NOTNOW', 'N-1', 'NotNow')), 'N-2', 'N-1 is not handed out again in this session');
    assert.equal((await entry('D-NOTNOW', 'N-1'))!.status, 'not_now');
    assert.equal(handed(await answer('D-NOTNOW', 'N-2', 'Acknowledged')), undefined, 'not even after the rest is done');
    assert.equal((await results('D-NOTNOW', 'N-1')).length, 0, 'NotNow is not a result');
    // Next session.
    assert.equal(handed(await idle('D-NOTNOW')), 'N-1');
    assert.equal(handed(await answer('D-NOTNOW', 'N-1', 'Acknowledged')), undefined);
    const e = (await entry('D-NOTNOW', 'N-1'))!;
    assert.equal(e.status, 'acknowledged');
    assert.equal(e.notNowCount, 1);
    assert.equal((await results('D-NOTNOW', 'N-1')).length, 1);
  });

  it('a repeated result is recorded once, in the queue and in the audit log', async () => {
    await addDevice('D-DUP');
    await enqueue('D-DUP', 'DUP-1', 'SecurityInfo');
    assert.equal(handed(await idle('D-DUP')), 'DUP-1');
    await answer('D-DUP', 'DUP-1', 'Acknowledged', { SecurityInfo: { FDE_Enabled: true } });
    const first = (await entry('D-DUP', 'DUP-1'))!;
    const d1 = (await opened.storage.devices.get('D-DUP'))!;
    tick();
    for (const status of ['Acknowledged', 'Error', 'NotNow', 'CommandFormatError']) {
      await answer('D-DUP', 'DUP-1', status, { SecurityInfo: { FDE_Enabled: false } });
    }
    assert.deepEqual(await entry('D-DUP', 'DUP-1'), first, 'the first result stands');
    assert.equal((await opened.storage.devices.get('D-DUP'))!.isEncrypted, d1.isEncrypted, 'inventory not re-applied');
    const r = await results('D-DUP', 'DUP-1');
    assert.equal(r.length, 1);
    assert.equal(r[0]!.outcome, 'success');
  });

  it('a result for an unknown CommandUUID is denied and changes nothing', async () => {
    await addDevice('D-UNKNOWN');
    await enqueue('D-UNKNOWN', 'K-1', 'ProfileList');
    assert.equal(handed(await idle('D-UNKNOWN')), 'K-1');
    const before = await entry('D-UNKNOWN', 'K-1');
    await answer('D-UNKNOWN', 'NO-SUCH-COMMAND', 'Acknowledged');
    assert.equal((await results('D-UNKNOWN', 'NO-SUCH-COMMAND')).length, 0);
    const r = await audit.log.store.search({ action: 'command.result.denied', actorId: 'D-UNKNOWN', targetId: 'NO-SUCH-COMMAND', limit: 100 });
    assert.equal(r.length, 1);
    assert.equal(r[0]!.outcome, 'denied');
    assert.equal(JSON.parse(r[0]!.entry).details.reason, 'unknown_command');
    assert.deepEqual(await entry('D-UNKNOWN', 'K-1'), { ...before!, deliveries: before!.deliveries + 1, lastDeliveredAt: iso() });
  });

  it("a result for another device's command is denied and does not touch that device's queue", async () => {
    await addDevice('D-VICTIM');
    await addDevice('D-THIEF');
    await enqueue('D-VICTIM', 'V-1', 'ProfileList');
    assert.equal(handed(await idle('D-VICTIM')), 'V-1');
    const before = await entry('D-VICTIM', 'V-1');
    await answer('D-THIEF', 'V-1', 'Acknowledged');
    assert.deepEqual(await entry('D-VICTIM', 'V-1'), before);
    const denied = await audit.log.store.search({ actionPrefix: 'command.result', actorId: 'D-THIEF', targetId: 'V-1', limit: 100 });
    assert.deepEqual(denied.map((e) => [e.action, e.outcome]), [['command.result.denied', 'denied']]);
  });

  it('a result for a queued command that was never handed out is denied, and does not hide the real result later', async () => {
    await addDevice('D-EARLY');
    await enqueue('D-EARLY', 'E-1', 'ProfileList');
    // The device reports on a command it was never sent (a guessed UUID).
    await answer('D-EARLY', 'E-1', 'Acknowledged');
    assert.equal((await entry('D-EARLY', 'E-1'))!.status, 'pending');
    assert.equal((await entry('D-EARLY', 'E-1'))!.resultAt, null);
    // The real delivery and answer must still go on record as a success.
    tick();
    assert.equal(handed(await idle('D-EARLY')), 'E-1');
    await answer('D-EARLY', 'E-1', 'Acknowledged');
    assert.equal((await entry('D-EARLY', 'E-1'))!.status, 'acknowledged');
    const outcomes = (await audit.log.store.search({ actorId: 'D-EARLY', targetId: 'E-1', limit: 10 })).map((e) => [e.action, e.outcome]);
    assert.deepEqual(outcomes, [['command.result.denied', 'denied'], ['command.result', 'success']]);
  });

  it('inventory is applied on Acknowledged, not on Error', async () => {
    await addDevice('D-INV');
    await enqueue('D-INV', 'I-1', 'DeviceInformation', { Queries: ['SerialNumber', 'OSVersion'] });
    await enqueue('D-INV', 'I-2', 'DeviceInformation', { Queries: ['SerialNumber'] });
    await enqueue('D-INV', 'I-3', 'InstalledApplicationList');
    assert.equal(handed(await idle('D-INV')), 'I-1');
    assert.equal(handed(await answer('D-INV', 'I-1', 'Acknowledged', { QueryResponses: { SerialNumber: 'SN-1', OSVersion: '18.3' } })), 'I-2');
    let d = (await opened.storage.devices.get('D-INV'))!;
    assert.equal(d.serialNumber, 'SN-1');
    assert.equal(d.osVersion, '18.3');
    assert.equal(handed(await answer('D-INV', 'I-2', 'Error', { QueryResponses: { SerialNumber: 'FROM-AN-ERROR' } })), 'I-3');
    d = (await opened.storage.devices.get('D-INV'))!;
    assert.equal(d.serialNumber, 'SN-1');
    await answer('D-INV', 'I-3', 'Acknowledged', { InstalledApplicationList: [{ Identifier: 'com.example.app', Name: 'App' }] });
    assert.deepEqual((await opened.storage.devices.listApps('D-INV')).map((a) => a.identifier), ['com.example.app']);
  });

  it('EraseDevice acknowledged checks the device out; it then gets nothing more', async () => {
    await addDevice('D-ERASE');
    await enqueue('D-ERASE', 'X-1', 'EraseDevice');
    await enqueue('D-ERASE', 'X-2', 'ProfileList');
    assert.equal(handed(await idle('D-ERASE')), 'X-1');
    tick();
    await answer('D-ERASE', 'X-1', 'Acknowledged');
    const d = (await opened.storage.devices.get('D-ERASE'))!;
    assert.equal(d.status, 'checked_out');
    assert.equal(d.pushToken, null);
    await assert.rejects(idle('D-ERASE'), (e) => isRampartError(e) && e.status === 401);
  });

  it('devices that are not enrolled, unknown, or signed with another identity are refused and recorded', async () => {
    await addDevice('D-HALF', 'authenticated');
    await enqueue('D-HALF', 'H-1', 'ProfileList');
    for (const [id, c, reason] of [
      ['D-HALF', ctx(), 'not_enrolled'],
      ['D-NONE', ctx(), 'unknown_device'],
      ['D-ORDER', ctx(OTHER), 'identity_mismatch'],
    ] as const) {
      await assert.rejects(idle(id, c), (e) => isRampartError(e) && e.status === 401, id);
      const e = (await audit.log.store.search({ action: 'device.connect', actorId: id, limit: 100 })).filter((x) => x.requestId === c.requestId);
      assert.equal(e.length, 1);
      assert.equal(e[0]!.outcome, 'denied');
      assert.equal(JSON.parse(e[0]!.entry).details.reason, reason);
    }
    assert.equal((await entry('D-HALF', 'H-1'))!.deliveries, 0);
  });

  it('lastSeenAt is written at most once per resolution period', async () => {
    await addDevice('D-SEEN');
    await idle('D-SEEN');
    const first = (await opened.storage.devices.get('D-SEEN'))!.lastSeenAt;
    assert.equal(first, iso());
    tick(10_000);
    await idle('D-SEEN');
    assert.equal((await opened.storage.devices.get('D-SEEN'))!.lastSeenAt, first);
    tick(60_000);
    await idle('D-SEEN');
    assert.equal((await opened.storage.devices.get('D-SEEN'))!.lastSeenAt, iso());
  });

  it('crash between the audit entry and the state change: the retry records the result without a second entry', async () => {
    await addDevice('D-CRASH');
    await enqueue('D-CRASH', 'CR-1', 'SecurityInfo');
    assert.equal(handed(await idle('D-CRASH')), 'CR-1');
    // The first attempt put the result on record and died before recordResult (audit first).
    await audit.record({
      action: 'command.result',
      actor: { type: 'device', id: 'D-CRASH' },
      target: { type: 'command', id: 'CR-1' },
      outcome: 'success',
      details: { requestType: 'SecurityInfo', status: 'Acknowledged' },
    });
    assert.equal((await entry('D-CRASH', 'CR-1'))!.status, 'pending');
    // The device sends its answer again.
    tick();
    await answer('D-CRASH', 'CR-1', 'Acknowledged', { SecurityInfo: { FDE_Enabled: true } });
    const e = (await entry('D-CRASH', 'CR-1'))!;
    assert.equal(e.status, 'acknowledged');
    assert.equal(e.resultAt, iso());
    assert.equal((await opened.storage.devices.get('D-CRASH'))!.isEncrypted, true, 'inventory applied on the retry');
    assert.equal((await results('D-CRASH', 'CR-1')).length, 1);
  });

  it('crash after redelivery: the device answers the re-sent command; still one entry', async () => {
    await addDevice('D-CRASH2');
    await enqueue('D-CRASH2', 'CR-2', 'ProfileList');
    assert.equal(handed(await idle('D-CRASH2')), 'CR-2');
    await audit.record({
      action: 'command.result',
      actor: { type: 'device', id: 'D-CRASH2' },
      target: { type: 'command', id: 'CR-2' },
      outcome: 'success',
      details: { requestType: 'ProfileList', status: 'Acknowledged' },
    });
    tick();
    // After the restart the device starts a new session and gets the command again.
    assert.equal(handed(await idle('D-CRASH2')), 'CR-2');
    await answer('D-CRASH2', 'CR-2', 'Acknowledged');
    assert.equal((await entry('D-CRASH2', 'CR-2'))!.status, 'acknowledged');
    assert.equal((await results('D-CRASH2', 'CR-2')).length, 1);
  });
});
