// Bulk command jobs on SQLite and PostgreSQL with the real command service,
// command builder, push outbox and audit log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { openTestAudit } from '../admin/testkit.ts';
import { createCommandService } from '../services/commands.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { GROUPS_MIGRATION_TABLE, createGroupStore, groupMigrations } from '../groups/store.ts';
import { createGroupService } from '../groups/service.ts';
import { PUSH_MIGRATION_TABLE, pushMigrations } from '../push/migrations.ts';
import { createOutboxStore } from '../push/outbox.ts';
import { testBackends } from '../groups/testenv.ts';
import { BULK_MIGRATION_TABLE, bulkMigrations, createBulkStore } from './store.ts';
import { createBulkService } from './service.ts';
import type { Actor } from '../services/types.ts';

const boss: Actor = { type: 'token', id: 'tok-boss', permissions: new Set(['commands.bulk', 'commands.send.lock', 'commands.read', 'groups.manage']) };
const noBulk: Actor = { type: 'token', id: 'tok-1', permissions: new Set(['commands.send.lock']) };
const noErase: Actor = { type: 'token', id: 'tok-2', permissions: new Set(['commands.bulk', 'commands.send.lock']) };

for (const b of await testBackends()) {
  describe(`bulk commands: ${b.name}`, () => {
    it('group, filter and list selections; progress; permission and schema refusals; crash resume without duplicates', async () => {
      const db = await b.open();
      let clock = Date.now();
      const now = (): Date => new Date(clock);
      const audit = await openTestAudit(now);
      try {
        const o = db.opened;
        await o.migrateModule(GROUPS_MIGRATION_TABLE, groupMigrations(o.backend));
        await o.migrateModule(BULK_MIGRATION_TABLE, bulkMigrations(o.backend));
        await o.migrateModule(PUSH_MIGRATION_TABLE, pushMigrations(o.backend));
        const outbox = createOutboxStore(o.db, o.backend);
        const commands = createCommandService({ queue: o.storage.queue, devices: o.storage.devices, audit, build: (i) => buildCommand(i), now, newUuid: randomUUID, pushOutbox: outbox });
        const groupStore = createGroupStore(o.db);
        const groups = createGroupService({ groups: groupStore, audit, now });
        const bulk = createBulkService({
          jobs: createBulkStore(o.db, o.backend), groups: groupStore, devices: o.storage.devices, commands, queue: o.storage.queue,
          pushCounts: (u) => outbox.counts(u), build: (i) => buildCommand(i), audit, now,
        });
        const t0 = now().toISOString();
        for (let i = 0; i < 60; i++) await o.storage.devices.create(`DEV-${String(i).padStart(3, '0')}`, { status: 'enrolled', model: i % 3 === 0 ? 'iPad13,1' : 'iPhone15,2' }, t0);
        const g = await groups.create(boss, { name: 'Ward 7' });
        await groups.addMembers(boss, g.id, Array.from({ length: 20 }, (_, i) => `DEV-${String(i).padStart(3, '0')}`));

        // Refusals: no commands.bulk, no send class, schema, unknown group.
        await assert.rejects(bulk.request(noBulk, { requestType: 'DeviceLock', payload: {}, selection: { groupId: g.id } }), /forbidden/);
        await assert.rejects(bulk.request(noErase, { requestType: 'EraseDevice', payload: {}, selection: { groupId: g.id } }), /forbidden/);
        assert.equal(audit.events.at(-1)?.details?.permission, 'commands.send.erase');
        await assert.rejects(bulk.request(boss, { requestType: 'DeviceLock', payload: { Bogus: 1 }, selection: { groupId: g.id } }), /invalid|Bogus/);
        await assert.rejects(bulk.request(boss, { requestType: 'DeviceLock', payload: {}, selection: { groupId: 'grp_' + '0'.repeat(32) } }), /group not found/);
        await assert.rejects(bulk.request(boss, { requestType: 'DeviceLock', payload: {}, selection: { filter: { color: 'red' } } as never }), /invalid filter/);
        assert.equal(await bulk.runOnce('w'), undefined, 'no job was stored for a refused request');

        // Group selection.
        const job = await bulk.request(boss, { requestType: 'DeviceLock', payload: { Message: 'Lost' }, selection: { groupId: g.id } });
        assert.equal(audit.events.at(-1)?.action, 'command.bulk');
        assert.equal(audit.events.at(-1)?.details?.selection, 'group');
        let p = await bulk.progress(boss, job.id);
        assert.equal(p.state, 'queued');
        assert.equal(p.queued, 0);
        await bulk.runOnce('w');
        p = await bulk.progress(boss, job.id);
        assert.deepEqual({ state: p.state, total: p.total, queued: p.queued, notYetSeen: p.notYetSeen, pushed: p.pushed }, { state: 'done', total: 20, queued: 20, notYetSeen: 20, pushed: 0 });
        const enq = audit.events.filter((e) => e.action === 'command.enqueue' && e.target?.id === job.commandUuid);
        assert.equal(enq.length, 1);
        assert.equal(enq[0]!.actor.id, 'tok-boss');
        assert.equal(enq[0]!.details?.queued, 20);
        // A device answers; pushes go out.
        await o.storage.queue.next('DEV-000', { skipNotNow: false }, now().toISOString());
        await o.storage.queue.recordResult('DEV-000', job.commandUuid, 'Acknowledged', { raw: new Uint8Array([1]), json: '{}', errorJson: null }, now().toISOString());
        await o.storage.queue.next('DEV-001', { skipNotNow: false }, now().toISOString());
        const claimed = await outbox.claim('pusher', 100, 60_000, now().toISOString());
        await outbox.complete('pusher', claimed.filter((c) => c.commandUuid === job.commandUuid).slice(0, 15).map((c) => ({ id: c.id, state: 'sent' as const })), now().toISOString());
        p = await bulk.progress(boss, job.id);
        assert.deepEqual({ acknowledged: p.acknowledged, notYetSeen: p.notYetSeen, pushed: p.pushed }, { acknowledged: 1, notYetSeen: 18, pushed: 15 });

        // Filter selection (the devices list query) and explicit list.
        const byModel = await bulk.request(boss, { requestType: 'DeviceLock', payload: {}, selection: { filter: { model: 'iPad13,1' } }, push: false });
        const byList = await bulk.request(boss, { requestType: 'DeviceLock', payload: {}, selection: { deviceIds: ['DEV-059', 'DEV-058', 'DEV-059'] } });
        await bulk.runOnce('w');
        await bulk.runOnce('w');
        assert.equal((await bulk.progress(boss, byModel.id)).total, 20);
        assert.equal((await outbox.counts(byModel.commandUuid)).pending, 0, 'push: false queues no push');
        assert.equal((await bulk.progress(boss, byList.id)).total, 2);

        // Crash: a worker committed the command and died before marking the job done.
        const crashed = await bulk.request(boss, { requestType: 'DeviceLock', payload: {}, selection: { filter: { model: 'iPhone15,2' } } });
        const claimedJob = await createBulkStore(o.db, o.backend).claim('dead-worker', 60_000, now().toISOString());
        assert.equal(claimedJob?.id, crashed.id);
        const ids = (await o.storage.devices.list({ model: 'iPhone15,2', limit: 1000 })).items.map((d) => d.id);
        await commands.enqueue({ ...boss, permissions: new Set(['commands.send.lock']) }, { deviceIds: ids, requestType: 'DeviceLock', payload: {}, commandUuid: crashed.commandUuid });
        assert.equal(await bulk.runOnce('w'), undefined, 'lease still held');
        clock += 61_000;
        assert.equal((await bulk.runOnce('w'))?.id, crashed.id);
        p = await bulk.progress(boss, crashed.id);
        assert.deepEqual({ state: p.state, total: p.total, queued: p.queued }, { state: 'done', total: 40, queued: 40 });
        assert.equal((await outbox.counts(crashed.commandUuid)).pending, 40, 'one push per device, not two');
        assert.equal(audit.events.at(-1)?.details?.replay, true);
        await assert.rejects(bulk.progress(noBulk, crashed.id), /forbidden/);
        await assert.rejects(bulk.progress(boss, 'bulk_nope'), /not found/);
      } finally {
        await audit.close();
        await db.cleanup();
      }
    });
  });
}
