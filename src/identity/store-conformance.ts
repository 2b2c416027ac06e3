// The identity store's conformance suite: every backend runs it unchanged
// (store.sqlite.test.ts, store.postgres.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IdentityStore } from './types.ts';
import type { Storage } from '../storage/types.ts';

export type OpenIdentityForTest = () => Promise<{ store: IdentityStore; storage: Storage; cleanup(): Promise<void> }>;

const T0 = '2026-01-01T00:00:00.000Z';
const at = (s: number): string => new Date(Date.parse(T0) + s * 1000).toISOString();
const h = (n: number): string => n.toString(16).padStart(64, '0');

export function runIdentityStoreConformance(name: string, open: OpenIdentityForTest): void {
  const it = (title: string, body: (s: IdentityStore, st: Storage) => Promise<void>) =>
    test(title, async () => {
      const o = await open();
      try {
        await body(o.store, o.storage);
      } finally {
        await o.cleanup();
      }
    });

  describe(`identity store conformance: ${name}`, () => {
    it('accounts round-trip, upsert, OIDC lookup, admin enable/disable', async (s, st) => {
      await st.admins.create({ id: 'a1', username: 'alice' }, T0);
      await s.putAccount({ adminId: 'a1', passwordHash: '$argon2id$x', passwordChangedAt: at(1), breakGlass: true, oidcIssuer: null, oidcSubject: null }, T0);
      assert.deepEqual(await s.getAccount('a1'), { adminId: 'a1', passwordHash: '$argon2id$x', passwordChangedAt: at(1), breakGlass: true, oidcIssuer: null, oidcSubject: null, createdAt: T0 });
      await s.putAccount({ adminId: 'a1', passwordHash: null, passwordChangedAt: null, breakGlass: false, oidcIssuer: 'https://idp', oidcSubject: 'sub-1' }, at(5));
      const a = await s.getAccount('a1');
      assert.equal(a?.createdAt, T0);
      assert.equal(a?.breakGlass, false);
      assert.equal((await s.getAccountByOidc('https://idp', 'sub-1'))?.adminId, 'a1');
      assert.equal(await s.getAccountByOidc('https://idp', 'sub-2'), undefined);
      assert.equal(await s.setDisabled('a1', at(9)), true);
      assert.equal((await st.admins.get('a1'))?.disabledAt, at(9));
      assert.equal(await s.setDisabled('a1', null), true);
      assert.equal((await st.admins.get('a1'))?.disabledAt, null);
      assert.equal(await s.setDisabled('nobody', null), false);
    });

    it('TOTP: steps only grow (replay guard), also under concurrency', async (s) => {
      await s.putTotp('a1', new Uint8Array([1, 2, 3]));
      assert.deepEqual(await s.getTotp('a1'), { adminId: 'a1', secretSealed: new Uint8Array([1, 2, 3]), confirmedAt: null, lastStep: -1 });
      await s.confirmTotp('a1', at(1));
      assert.equal(await s.useTotpStep('a1', 100), true);
      assert.equal(await s.useTotpStep('a1', 100), false);
      assert.equal(await s.useTotpStep('a1', 99), false);
      const results = await Promise.all(Array.from({ length: 8 }, () => s.useTotpStep('a1', 101)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await s.getTotp('a1'))?.lastStep, 101);
      assert.equal(await s.deleteTotp('a1'), true);
      assert.equal(await s.getTotp('a1'), undefined);
    });

    it('WebAuthn: counter must grow (or stay 0 for counterless keys)', async (s) => {
      await s.addWebAuthn({ id: 'c1', adminId: 'a1', publicKey: new Uint8Array([9]), counter: 5, transports: ['usb'], name: 'key', createdAt: T0 });
      await s.addWebAuthn({ id: 'c0', adminId: 'a1', publicKey: new Uint8Array([8]), counter: 0, transports: [], name: 'passkey', createdAt: at(1) });
      assert.deepEqual((await s.listWebAuthn('a1')).map((c) => c.id), ['c1', 'c0']);
      assert.equal(await s.useWebAuthn('c1', 5, at(2)), false);
      assert.equal(await s.useWebAuthn('c1', 4, at(2)), false);
      assert.equal(await s.useWebAuthn('c1', 6, at(2)), true);
      assert.equal((await s.getWebAuthn('c1'))?.counter, 6);
      assert.equal((await s.getWebAuthn('c1'))?.lastUsedAt, at(2));
      assert.equal(await s.useWebAuthn('c0', 0, at(3)), true);
      assert.equal(await s.useWebAuthn('c1', 0, at(3)), false);
      assert.equal(await s.deleteWebAuthn('other', 'c1'), false);
      assert.equal(await s.deleteWebAuthn('a1', 'c1'), true);
    });

    it('recovery codes: replaced as a set, each usable once', async (s) => {
      await s.replaceRecoveryCodes('a1', [h(1), h(2)], T0);
      assert.equal(await s.countRecoveryCodes('a1'), 2);
      assert.equal(await s.useRecoveryCode('a1', h(1), at(1)), true);
      assert.equal(await s.useRecoveryCode('a1', h(1), at(2)), false);
      assert.equal(await s.useRecoveryCode('a2', h(2), at(2)), false);
      assert.equal(await s.countRecoveryCodes('a1'), 1);
      await s.replaceRecoveryCodes('a1', [h(3)], at(3));
      assert.equal(await s.useRecoveryCode('a1', h(2), at(4)), false);
      assert.equal(await s.countRecoveryCodes('a1'), 1);
    });

    it('sessions: create, touch, step-up, list, revoke by handle, hash and admin', async (s) => {
      const base = { adminId: 'a1', kind: 'browser' as const, createdAt: T0, lastSeenAt: T0, absoluteExpiresAt: at(3600), mfaAt: T0, source: '10.0.0.1' };
      await s.createSession({ ...base, idHash: h(1), handle: 'handle-one-xxxxx' });
      await s.createSession({ ...base, idHash: h(2), handle: 'handle-two-xxxxx', kind: 'cli' });
      await s.createSession({ ...base, idHash: h(3), handle: 'handle-bob-xxxxx', adminId: 'b1', source: null });
      await s.touchSession(h(1), at(10));
      await s.setSessionMfa('handle-one-xxxxx', at(20));
      const one = await s.getSession(h(1));
      assert.deepEqual(one, { ...base, idHash: h(1), handle: 'handle-one-xxxxx', lastSeenAt: at(20), mfaAt: at(20), revokedAt: null });
      assert.deepEqual(await s.getSessionByHandle('handle-one-xxxxx'), one);
      assert.equal(await s.getSessionByHandle('nope'), undefined);
      assert.equal((await s.listSessions('a1', at(30))).length, 2);
      assert.equal((await s.listSessions(undefined, at(30))).length, 3);
      assert.equal((await s.listSessions(undefined, at(4000))).length, 0, 'past absolute expiry');
      assert.equal((await s.revokeSession('handle-one-xxxxx', at(40)))?.idHash, h(1));
      assert.equal(await s.revokeSession('handle-one-xxxxx', at(41)), undefined);
      assert.equal((await s.getSession(h(1)))?.revokedAt, at(40));
      assert.equal(await s.revokeSessionByHash(h(2), at(42)), true);
      assert.equal(await s.revokeSessionByHash(h(2), at(43)), false);
      assert.equal(await s.revokeAllSessions('b1', at(44)), 1);
      assert.equal((await s.listSessions(undefined, at(50))).length, 0);
    });

    it('tickets: attempts count, stage changes, consumed once', async (s) => {
      await s.createTicket({ idHash: h(7), adminId: 'a1', stage: 'enroll', kind: 'cli', source: null, expiresAt: at(300), needsPassword: true });
      assert.deepEqual(await s.getTicket(h(7)), { idHash: h(7), adminId: 'a1', stage: 'enroll', kind: 'cli', attempts: 0, source: null, expiresAt: at(300), needsPassword: true });
      assert.equal(await s.failTicket(h(7)), 1);
      assert.equal(await s.failTicket(h(7)), 2);
      await s.setTicketStage(h(7), 'mfa', false);
      assert.equal((await s.getTicket(h(7)))?.stage, 'mfa');
      const consumed = await Promise.all([s.consumeTicket(h(7)), s.consumeTicket(h(7))]);
      assert.deepEqual(consumed.sort(), [false, true]);
      assert.equal(await s.getTicket(h(7)), undefined);
    });

    it('one-time values: taken once, only for their purpose and before expiry', async (s) => {
      await s.putOneTime({ idHash: h(1), purpose: 'webauthn.register', adminId: 'a1', data: 'chal', expiresAt: at(60) });
      assert.equal(await s.takeOneTime(h(1), 'oidc', at(1)), undefined, 'wrong purpose consumes it');
      assert.equal(await s.takeOneTime(h(1), 'webauthn.register', at(1)), undefined);
      await s.putOneTime({ idHash: h(2), purpose: 'p', adminId: null, data: 'x', expiresAt: at(60) });
      assert.equal(await s.takeOneTime(h(2), 'p', at(61)), undefined, 'expired');
      await s.putOneTime({ idHash: h(3), purpose: 'p', adminId: null, data: 'y', expiresAt: at(60) });
      const both = await Promise.all([s.takeOneTime(h(3), 'p', at(1)), s.takeOneTime(h(3), 'p', at(1))]);
      assert.equal(both.filter((x) => x?.data === 'y').length, 1);
    });

    it('throttle counters and known sources', async (s) => {
      await s.putThrottle({ key: 'pair:x', failures: 3, windowStart: T0, lockedUntil: null });
      await s.putThrottle({ key: 'pair:x', failures: 6, windowStart: T0, lockedUntil: at(30) });
      await s.putThrottle({ key: 'source:y', failures: 1, windowStart: at(1), lockedUntil: null });
      const rows = (await s.getThrottle(['pair:x', 'source:y', 'none'])).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(rows, [
        { key: 'pair:x', failures: 6, windowStart: T0, lockedUntil: at(30) },
        { key: 'source:y', failures: 1, windowStart: at(1), lockedUntil: null },
      ]);
      await s.clearThrottle('pair:x');
      assert.equal((await s.getThrottle(['pair:x'])).length, 0);
      assert.equal(await s.isKnownSource('a1', 'src', T0), false);
      await s.rememberSource('a1', 'src', at(10));
      await s.rememberSource('a1', 'src', at(20));
      assert.equal(await s.isKnownSource('a1', 'src', at(15)), true);
      assert.equal(await s.isKnownSource('a1', 'src', at(25)), false);
      assert.equal(await s.isKnownSource('a2', 'src', T0), false);
    });

    it('purgeExpired removes expired tickets, one-time values and sessions', async (s) => {
      await s.createTicket({ idHash: h(1), adminId: 'a1', stage: 'mfa', kind: 'browser', source: null, expiresAt: at(10), needsPassword: false });
      await s.putOneTime({ idHash: h(2), purpose: 'p', adminId: null, data: 'x', expiresAt: at(10) });
      await s.createSession({ idHash: h(3), handle: 'h3', adminId: 'a1', kind: 'browser', createdAt: T0, lastSeenAt: T0, absoluteExpiresAt: at(10), mfaAt: T0, source: null });
      await s.createSession({ idHash: h(4), handle: 'h4', adminId: 'a1', kind: 'browser', createdAt: T0, lastSeenAt: T0, absoluteExpiresAt: at(100), mfaAt: T0, source: null });
      assert.equal(await s.purgeExpired(at(20)), 3);
      assert.ok(await s.getSession(h(4)));
    });
  });
}
