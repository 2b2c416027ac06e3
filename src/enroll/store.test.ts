// Enrollment store conformance, run on SQLite and on PostgreSQL (fresh random
// schema per test; a failure instead of a skip when RAMPART_TEST_REQUIRE_POSTGRES=1).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { openPostgresStorage, openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { createEnrollmentStore, enrollMigrations, type EnrollmentStore } from './store.ts';
import { TEST_DATABASE_URL, withPostgres } from '../storage/postgres/testing.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (m: number): string => new Date(Date.parse(T0) + m * 60_000).toISOString();
const h = (s: string): string => createHash('sha256').update(s).digest('hex');

type Open = () => Promise<{ store: EnrollmentStore; opened: OpenedStorage; cleanup(): Promise<void> }>;

async function invite(s: EnrollmentStore, id: string, expiresMin = 60) {
  return s.create({ id, tokenHash: h(`token-${id}`), staffId: 'staff-1', groupId: null, createdBy: 'admin-1', createdAt: T0, expiresAt: at(expiresMin) });
}

function suite(name: string, open: Open): void {
  const it = (title: string, body: (s: EnrollmentStore) => Promise<void>) =>
    test(title, async () => {
      const o = await open();
      try {
        await body(o.store);
      } finally {
        await o.cleanup();
      }
    });
  describe(`enrollment store: ${name}`, () => {
    it('create, get, list newest first, revoke once', async (s) => {
      await invite(s, 'inv-a');
      await s.create({ id: 'inv-b', tokenHash: h('token-inv-b'), staffId: null, groupId: 'g1', createdBy: 'admin-1', createdAt: at(1), expiresAt: at(60) });
      const a = await s.get('inv-a');
      assert.equal(a?.status, 'open');
      assert.equal(a?.staffId, 'staff-1');
      assert.equal(a?.expiresAt, at(60));
      assert.deepEqual((await s.list({ limit: 10 })).map((i) => i.id), ['inv-b', 'inv-a']);
      assert.equal(await s.revoke('inv-a', at(2)), true);
      assert.equal(await s.revoke('inv-a', at(3)), false);
      assert.deepEqual((await s.list({ limit: 10, status: 'revoked' })).map((i) => i.id), ['inv-a']);
      assert.equal(await s.get('nope'), undefined);
      await assert.rejects(invite(s, 'inv-a'));
    });

    it('claimProfile succeeds once; then used, revoked, expired and unknown are told apart', async (s) => {
      await invite(s, 'inv-1');
      const first = await s.claimProfile(h('token-inv-1'), h('ch-1'), at(30), at(1));
      assert.equal(first.ok, true);
      assert.equal(first.ok && first.invitation.status, 'downloaded');
      const again = await s.claimProfile(h('token-inv-1'), h('ch-2'), at(30), at(2));
      assert.deepEqual(again, { ok: false, reason: 'used', invitationId: 'inv-1' });
      assert.deepEqual(await s.claimProfile(h('token-x'), h('ch-3'), at(30), at(2)), { ok: false, reason: 'unknown' });
      await invite(s, 'inv-2', 5);
      assert.deepEqual(await s.claimProfile(h('token-inv-2'), h('ch-4'), at(30), at(6)), { ok: false, reason: 'expired', invitationId: 'inv-2' });
      await invite(s, 'inv-3');
      await s.revoke('inv-3', at(1));
      assert.deepEqual(await s.claimProfile(h('token-inv-3'), h('ch-5'), at(30), at(2)), { ok: false, reason: 'revoked', invitationId: 'inv-3' });
    });

    it('concurrent claims: exactly one wins', async (s) => {
      await invite(s, 'inv-c');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.claimProfile(h('token-inv-c'), h(`c${i}`), at(30), at(1))));
      assert.equal(results.filter((r) => r.ok).length, 1);
    });

    it('consumeChallenge: once, a resend of the same transaction is a replay, anything else is refused', async (s) => {
      await invite(s, 'inv-1');
      await s.claimProfile(h('token-inv-1'), h('ch-1'), at(30), at(1));
      const tx = { transactionId: 'tx-1', spkiSha256: h('key-1') };
      const first = await s.consumeChallenge(h('ch-1'), tx, at(2));
      assert.equal(first.ok && first.replay, false);
      assert.equal(first.ok && first.invitation.status, 'used');
      const resend = await s.consumeChallenge(h('ch-1'), tx, at(3));
      assert.equal(resend.ok && resend.replay, true);
      assert.deepEqual(await s.consumeChallenge(h('ch-1'), { transactionId: 'tx-2', spkiSha256: h('key-1') }, at(3)), { ok: false, reason: 'used', invitationId: 'inv-1' });
      assert.deepEqual(await s.consumeChallenge(h('ch-1'), { transactionId: 'tx-1', spkiSha256: h('key-2') }, at(3)), { ok: false, reason: 'used', invitationId: 'inv-1' });
      assert.deepEqual(await s.consumeChallenge(h('unknown'), tx, at(3)), { ok: false, reason: 'unknown' });
      // Expired challenge.
      await invite(s, 'inv-2');
      await s.claimProfile(h('token-inv-2'), h('ch-2'), at(10), at(1));
      assert.deepEqual(await s.consumeChallenge(h('ch-2'), tx, at(11)), { ok: false, reason: 'expired', invitationId: 'inv-2' });
      // Revoked after download.
      await invite(s, 'inv-3');
      await s.claimProfile(h('token-inv-3'), h('ch-3'), at(30), at(1));
      await s.revoke('inv-3', at(2));
      assert.deepEqual(await s.consumeChallenge(h('ch-3'), tx, at(3)), { ok: false, reason: 'revoked', invitationId: 'inv-3' });
    });

    it('issued identities: record once, bind once', async (s) => {
      const rec = { certSha256: h('cert'), serial: '0a', invitationId: 'inv-1', renewalOf: null, createdAt: T0 };
      await s.recordIssued(rec);
      await s.recordIssued(rec);
      await s.bindIssued(h('cert'), 'UDID-1');
      await s.bindIssued(h('cert'), 'UDID-2');
      assert.deepEqual(await s.getIssued(h('cert')), { ...rec, boundDeviceId: 'UDID-1' });
      assert.equal(await s.getIssued(h('other')), undefined);
      await s.recordIssued({ ...rec, certSha256: h('cert-2'), serial: '0b', createdAt: at(1) });
      await s.bindIssued(h('cert-2'), 'UDID-1');
      assert.deepEqual((await s.issuedBoundTo('UDID-1')).map((i) => i.serial), ['0a', '0b']);
      assert.deepEqual(await s.issuedBoundTo('UDID-2'), []);
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-enroll-'));
  const opened = await openSqliteStorage(path.join(dir, 'db.sqlite'));
  await opened.migrate();
  await opened.migrateModule('rampart_enroll_migration', enrollMigrations('sqlite'));
  return {
    store: createEnrollmentStore(opened.db),
    opened,
    cleanup: async () => {
      await opened.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

await withPostgres('enrollment store on PostgreSQL', () => {
  suite('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 8, statementTimeoutMs: 20_000 });
    await opened.migrate();
    await opened.migrateModule('rampart_enroll_migration', enrollMigrations('postgres'));
    return {
      store: createEnrollmentStore(opened.db),
      opened,
      cleanup: async () => {
        try {
          await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
        } finally {
          await opened.close();
        }
      },
    };
  });
});
