import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import { openSqliteStorage, type OpenedStorage } from '../open.ts';

const T0 = '2026-11-22T10:00:00.000Z';
const payload = (s: string): Uint8Array => new TextEncoder().encode(s);
const result = { raw: payload('<plist/>'), json: '{}', errorJson: null };

describe('sqlite fast path', () => {
  let dir: string;
  let o: OpenedStorage;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-fast-'));
    o = await openSqliteStorage(join(dir, 'f.db'));
    await o.migrate();
    await o.storage.devices.create('dev-a', { status: 'enrolled' }, T0);
  });
  after(async () => {
    await o.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('while a transaction is open, reads wait for it instead of seeing its uncommitted rows', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inside!: () => void;
    const started = new Promise<void>((r) => (inside = r));
    // A transaction that queues a command, then waits (e.g. an enqueue in progress).
    const tx = o.db.transaction().execute(async (trx) => {
      await sql`insert into commands (uuid, request_type, payload, created_by, created_at) values ('c-open', 'DeviceLock', ${payload('x')}, 't', ${T0})`.execute(trx);
      await sql`insert into command_queue (device_id, command_uuid, status, queued_at, updated_at) values ('dev-a', 'c-open', 'pending', ${T0}, ${T0})`.execute(trx);
      inside();
      await held;
      throw new Error('rolled back');
    });
    await started;
    let answered = false;
    const next = o.storage.queue.next('dev-a', { skipNotNow: false }, T0).then((r) => {
      answered = true;
      return r;
    });
    const entry = o.storage.queue.entry('dev-a', 'c-open');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(answered, false, 'next() waits for the open transaction');
    release();
    await assert.rejects(tx, /rolled back/);
    assert.equal(await next, undefined, 'the rolled-back command is never delivered');
    assert.equal(await entry, undefined);
  });

  it('delivers, records and re-offers exactly as the Kysely path does', async () => {
    for (const u of ['c1', 'c2', 'c3']) await o.storage.queue.enqueue({ uuid: u, requestType: 'DeviceLock', payload: payload(u), createdBy: 't' }, ['dev-a'], T0);
    const first = await o.storage.queue.next('dev-a', { skipNotNow: false }, T0);
    assert.equal(first?.command.uuid, 'c1');
    assert.equal(first?.entry.deliveries, 1);
    assert.deepEqual(first?.command.payload, payload('c1'));
    // NotNow: skipped within the session, the next one is handed out.
    const a = await o.storage.queue.recordResultAndNext('dev-a', 'c1', 'NotNow', result, { skipNotNow: true }, T0);
    assert.equal(a.outcome, 'recorded');
    assert.equal(a.next?.command.uuid, 'c2');
    const b = await o.storage.queue.recordResultAndNext('dev-a', 'c2', 'Acknowledged', result, { skipNotNow: true }, T0);
    assert.equal(b.outcome, 'recorded');
    assert.equal(b.next?.command.uuid, 'c3');
    // A repeated report is a duplicate and changes nothing; an unknown one is unknown.
    const dup = await o.storage.queue.recordResultAndNext('dev-a', 'c2', 'Error', result, { skipNotNow: true }, T0);
    assert.equal(dup.outcome, 'duplicate');
    assert.equal((await o.storage.queue.entry('dev-a', 'c2'))?.status, 'acknowledged');
    assert.equal((await o.storage.queue.recordResultAndNext('dev-a', 'nope', 'Acknowledged', result, { skipNotNow: true }, T0)).outcome, 'unknown');
    // A new session (Idle) re-offers the NotNow command first.
    assert.equal((await o.storage.queue.next('dev-a', { skipNotNow: false }, T0))?.command.uuid, 'c1');
    const e = await o.storage.queue.entry('dev-a', 'c1');
    assert.equal(e?.status, 'not_now');
    assert.equal(e?.notNowCount, 1);
    assert.equal(e?.deliveries, 2);
    assert.equal(e?.requestType, 'DeviceLock');
  });

  it('a Kysely statement while a commit group is open commits the group first', async () => {
    await o.storage.devices.create('dev-g', { status: 'enrolled' }, T0);
    await o.storage.queue.enqueue({ uuid: 'g1', requestType: 'DeviceLock', payload: payload('g1'), createdBy: 't' }, ['dev-g'], T0);
    const pending = o.storage.queue.next('dev-g', { skipNotNow: true }, T0);
    // The fast path's next() runs after its peek; let it reach the group.
    await new Promise<void>((r) => queueMicrotask(r));
    const other = new DatabaseSync(join(dir, 'f.db'));
    const delivered = (): unknown => (other.prepare(`select count(*) as n from command_queue where command_uuid = 'g1' and deliveries = 1`).get() as { n: number }).n;
    assert.equal(delivered(), 0, 'the group is not committed yet');
    await sql`select 1`.execute(o.db);
    assert.equal(delivered(), 1, 'committed before Kysely ran its statement');
    other.close();
    assert.equal((await pending)?.command.uuid, 'g1');
  });

  it('the last-seen stamp joins the commit group; other patches and unknown devices behave as before', async () => {
    const t1 = '2026-11-22T11:00:00.000Z';
    assert.equal(await o.storage.devices.update('dev-a', { lastSeenAt: t1 }, t1), true);
    const d = await o.storage.devices.get('dev-a');
    assert.equal(d?.lastSeenAt, t1);
    assert.equal(d?.updatedAt, t1);
    assert.equal(await o.storage.devices.update('nobody', { lastSeenAt: t1 }, t1), false);
    await assert.rejects(o.storage.devices.update('dev-a', { lastSeenAt: 'yesterday' }, t1), /invalid/);
    assert.equal(await o.storage.devices.update('dev-a', { lastSeenAt: t1, osVersion: '18.2' }, t1), true);
    assert.equal((await o.storage.devices.get('dev-a'))?.osVersion, '18.2');
  });

  it('a failing statement inside the fast transaction rolls it back and leaves the connection usable', async () => {
    await o.storage.queue.enqueue({ uuid: 'c9', requestType: 'DeviceLock', payload: payload('c9'), createdBy: 't' }, ['dev-a'], T0);
    // A trigger refuses the acknowledgement of c9 while the fast path's UPDATE runs.
    await sql`create trigger fail_ack before update of status on command_queue when new.command_uuid = 'c9' and new.status = 'acknowledged' begin select raise(abort, 'refused'); end`.execute(o.db);
    while ((await o.storage.queue.next('dev-a', { skipNotNow: true }, T0))?.command.uuid !== 'c9') {
      const cur = await o.storage.queue.next('dev-a', { skipNotNow: false }, T0);
      await o.storage.queue.recordResultAndNext('dev-a', cur!.command.uuid, 'Acknowledged', result, { skipNotNow: true }, T0);
    }
    await assert.rejects(o.storage.queue.recordResultAndNext('dev-a', 'c9', 'Acknowledged', result, { skipNotNow: true }, T0), /refused/);
    const e = await o.storage.queue.entry('dev-a', 'c9');
    assert.equal(e?.status, 'pending', 'nothing of the failed transaction was kept');
    await sql`drop trigger fail_ack`.execute(o.db);
    assert.equal((await o.storage.queue.recordResultAndNext('dev-a', 'c9', 'Acknowledged', result, { skipNotNow: true }, T0)).outcome, 'recorded');
  });
});
