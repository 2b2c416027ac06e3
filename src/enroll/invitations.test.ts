// The invitation service on real SQLite storage and the real audit log: the
// staff member and device group an invitation names must exist.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import type { Actor } from '../services/types.ts';
import { createEnrollmentStore, enrollMigrations, type EnrollmentStore } from './store.ts';
import { createInvitationService, tokenHash, type InvitationReferences, type InvitationService } from './invitations.ts';

const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };

describe('invitation service', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let store: EnrollmentStore;
  let svc: InvitationService;
  const refs: InvitationReferences = {};
  const staff = new Set(['staff-1']);
  const groups = new Set(['grp_0123456789abcdef0123456789abcdef']);
  const now = (): Date => new Date('2026-06-01T00:00:00.000Z');

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    await opened.migrateModule('rampart_enroll_migration', enrollMigrations(opened.backend));
    audit = await openTestAudit(now);
    store = createEnrollmentStore(opened.db);
    svc = createInvitationService({ store, audit, now, baseUrl: () => 'https://mdm.test', references: refs });
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  it('without lookups, an invitation naming a staff member or a group is refused; one naming neither is made', async () => {
    await assert.rejects(svc.create(ROOT, { staffId: 'staff-1' }), /unknown staff member/);
    await assert.rejects(svc.create(ROOT, { groupId: 'grp_0123456789abcdef0123456789abcdef' }), /unknown device group/);
    const r = await svc.create(ROOT, {});
    assert.equal((await store.findByTokenHash(tokenHash(r.token)))?.id, r.invitation.id);
  });

  it('with lookups: existing ids pass, unknown ones are a 400 on record and store nothing', async () => {
    refs.staffExists = async (id) => staff.has(id);
    refs.groupExists = async (id) => groups.has(id);
    const ok = await svc.create(ROOT, { staffId: 'staff-1', groupId: 'grp_0123456789abcdef0123456789abcdef' });
    assert.equal(ok.invitation.staffId, 'staff-1');
    const before = (await store.list({ limit: 100 })).length;
    for (const input of [{ staffId: 'staff-2' }, { groupId: 'grp_ffffffffffffffffffffffffffffffff' }, { staffId: 'staff-1', groupId: 'grp_ffffffffffffffffffffffffffffffff' }]) {
      await assert.rejects(svc.create(ROOT, input), (e: Error & { status?: number }) => e.status === 400);
    }
    assert.equal((await store.list({ limit: 100 })).length, before);
    const failures = (await audit.log.store.search({ action: 'enroll.invitation.create', limit: 100 })).filter((e) => e.outcome === 'failure');
    assert.equal(failures.length, 5);
  });
});
