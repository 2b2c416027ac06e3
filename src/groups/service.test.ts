// Groups: store on SQLite and PostgreSQL, service permissions and audit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestAudit } from '../admin/testkit.ts';
import { GROUPS_MIGRATION_TABLE, createGroupStore, groupMigrations } from './store.ts';
import { createGroupService } from './service.ts';
import { testBackends } from './testenv.ts';
import type { Actor } from '../services/types.ts';

const manager: Actor = { type: 'token', id: 'tok-m', permissions: new Set(['groups.manage', 'groups.read']) };
const reader: Actor = { type: 'token', id: 'tok-r', permissions: new Set(['groups.read']) };

for (const b of await testBackends()) {
  describe(`device groups: ${b.name}`, () => {
    it('create, add/remove members (all or nothing), list, members, delete; permissions and audit', async () => {
      const db = await b.open();
      const audit = await openTestAudit(() => new Date());
      try {
        await db.opened.migrateModule(GROUPS_MIGRATION_TABLE, groupMigrations(db.opened.backend));
        const now = new Date().toISOString();
        for (let i = 0; i < 30; i++) await db.opened.storage.devices.create(`D${String(i).padStart(2, '0')}`, { status: 'enrolled' }, now);
        const svc = createGroupService({ groups: createGroupStore(db.opened.db), audit, now: () => new Date() });
        await assert.rejects(svc.create(reader, { name: 'Lab' }), /forbidden/);
        assert.equal(audit.events.at(-1)?.outcome, 'denied');
        const g = await svc.create(manager, { name: 'Lab iPads', description: 'floor 2' });
        assert.match(g.id, /^grp_[0-9a-f]{32}$/);
        assert.equal(audit.events.at(-1)?.action, 'group.create');
        await assert.rejects(svc.create(manager, { name: 'Lab iPads' }), /already used/);
        await assert.rejects(svc.create(manager, { name: '<script>' }), /invalid group name/);
        const ids = Array.from({ length: 25 }, (_, i) => `D${String(i).padStart(2, '0')}`);
        assert.equal(await svc.addMembers(manager, g.id, ids), 25);
        assert.equal(await svc.addMembers(manager, g.id, ['D00', 'D25']), 1, 'existing members are not added twice');
        await assert.rejects(svc.addMembers(manager, g.id, ['D26', 'GHOST']), /device not found/);
        assert.equal((await svc.get(reader, g.id)).members, 26, 'a failed add changes nothing');
        assert.equal(audit.events.at(-1)?.outcome, 'failure');
        assert.equal(await svc.removeMembers(manager, g.id, ['D00', 'D01', 'NOT-A-MEMBER']), 2);
        const p1 = await svc.members(reader, g.id, { limit: 10 });
        assert.equal(p1.items.length, 10);
        assert.equal(p1.items[0], 'D02');
        const p2 = await svc.members(reader, g.id, { after: p1.next!, limit: 1000 });
        assert.equal(p1.items.length + p2.items.length, 24);
        assert.equal(p2.next, undefined);
        await svc.create(manager, { name: 'Kiosks' });
        const list = await svc.list(reader, { limit: 10 });
        assert.deepEqual(list.items.map((x) => x.members).sort((a, c) => a - c), [0, 24]);
        await assert.rejects(svc.delete(reader, g.id), /forbidden/);
        await svc.delete(manager, g.id);
        await assert.rejects(svc.get(reader, g.id), /not found/);
        await assert.rejects(svc.addMembers(manager, g.id, ['D02']), /group/);
        assert.ok((await db.opened.storage.devices.get('D02')), 'devices stay');
        await assert.rejects(svc.get(reader, 'nonsense'), /not found/);
      } finally {
        await audit.close();
        await db.cleanup();
      }
    });
  });
}
