// Command service with the push outbox: rows commit with the queue rows, the
// push option, the dispatcher wake-up, and the audit detail.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { openSqliteStorage } from '../storage/open.ts';
import { openTestAudit } from '../admin/testkit.ts';
import { createCommandService } from '../services/commands.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { PUSH_MIGRATION_TABLE, pushMigrations } from './migrations.ts';
import { createOutboxStore } from './outbox.ts';
import type { Actor } from '../services/types.ts';

const admin: Actor = { type: 'token', id: 'tok', permissions: new Set(['*']) };

describe('enqueue with push', () => {
  it('inserts outbox rows with the queue rows unless push is false, and wakes the dispatcher', async () => {
    const opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    await opened.migrateModule(PUSH_MIGRATION_TABLE, pushMigrations('sqlite'));
    const audit = await openTestAudit(() => new Date());
    try {
      const outbox = createOutboxStore(opened.db, 'sqlite');
      let wakes = 0;
      const commands = createCommandService({
        queue: opened.storage.queue, devices: opened.storage.devices, audit, build: (i) => buildCommand(i), now: () => new Date(), newUuid: randomUUID,
        pushOutbox: outbox, onPushQueued: () => wakes++,
      });
      for (const id of ['D1', 'D2']) await opened.storage.devices.create(id, { status: 'enrolled' }, new Date().toISOString());
      const a = await commands.enqueue(admin, { deviceIds: ['D1', 'D2'], requestType: 'DeviceLock', payload: {} });
      assert.equal((await outbox.counts(a.commandUuid)).pending, 2);
      assert.equal(wakes, 1);
      assert.equal(audit.events.at(-1)?.details?.push, true);
      const b = await commands.enqueue(admin, { deviceIds: ['D1'], requestType: 'DeviceLock', payload: {}, push: false });
      assert.equal((await outbox.counts(b.commandUuid)).pending, 0);
      assert.equal(wakes, 1);
      assert.equal(audit.events.at(-1)?.details?.push, undefined);
      // An unknown device: nothing queued, nothing to push.
      await assert.rejects(commands.enqueue(admin, { deviceIds: ['D1', 'NOPE'], requestType: 'DeviceLock', payload: {} }));
      assert.equal(await outbox.backlog(), 2);
    } finally {
      await audit.close();
      await opened.close();
    }
  });
});
