import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox, type SecretBox } from '../keys/secret-box.ts';
import { parsePlistDict } from '../protocol/plist/index.ts';
import { isRampartError } from '../lib/errors.ts';
import { bootstrapTokenAad, createCheckinService, unlockTokenAad, type CheckinInput, type CheckinService } from './checkin.ts';
import type { RequestContext } from './device-identity.ts';

const TOPIC = 'com.apple.mgmt.External.rampart-test';
const CERT_A = 'a'.repeat(64);
const CERT_B = 'b'.repeat(64);
const CERT_C = 'c'.repeat(64);

let n = 0;
const ctx = (certSha256: string): RequestContext => ({ certSha256, source: '192.0.2.7', requestId: `req-${++n}` });
const unauthorized = (e: unknown): boolean => isRampartError(e) && e.status === 401;

describe('check-in service (real SQLite storage, real audit log, real secret box)', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let box: SecretBox;
  let checkin: CheckinService;
  let t = Date.parse('2026-03-01T00:00:00.000Z');
  const now = (): Date => new Date(t);
  const tick = (): void => {
    t += 1000;
  };

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));
    checkin = createCheckinService({ devices: opened.storage.devices, audit, lookup: audit.log, sealer: box, now, topic: () => TOPIC });
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  const device = async (id: string) => opened.storage.devices.get(id);
  const entries = (q: { action?: string; actorId?: string; targetId?: string; outcome?: string }) => audit.log.store.search({ ...q, limit: 1000 });
  const authenticate = (id: string, cert: string, extra: Partial<Extract<CheckinInput, { type: 'Authenticate' }>> = {}) =>
    checkin.handle({ type: 'Authenticate', deviceId: id, topic: TOPIC, serialNumber: 'SER1', model: 'iPhone15,2', osVersion: '18.1', ...extra }, ctx(cert));
  const tokenUpdate = (id: string, cert: string, token: Uint8Array, unlockToken?: Uint8Array) =>
    checkin.handle(
      { type: 'TokenUpdate', deviceId: id, topic: TOPIC, token, pushMagic: 'MAGIC-1', ...(unlockToken ? { unlockToken } : {}) },
      ctx(cert),
    );

  it('Authenticate of a new device creates it bound to the signing certificate, on record first', async () => {
    tick();
    const r = await authenticate('DEV-1', CERT_A);
    assert.equal(r.status, 200);
    assert.equal(r.body, undefined);
    const d = (await device('DEV-1'))!;
    assert.equal(d.status, 'authenticated');
    assert.equal(d.identityCertSha256, CERT_A);
    assert.equal(d.topic, TOPIC);
    assert.equal(d.serialNumber, 'SER1');
    assert.equal(d.lastSeenAt, now().toISOString());
    const e = await entries({ action: 'device.authenticate', actorId: 'DEV-1' });
    assert.equal(e.length, 1);
    assert.equal(e[0]!.outcome, 'success');
    assert.deepEqual(JSON.parse(e[0]!.entry).details, { certSha256: CERT_A, enrollment: 'new' });
  });

  it('a wrong push topic is refused and stores nothing', async () => {
    await assert.rejects(authenticate('DEV-TOPIC', CERT_A, { topic: 'com.apple.mgmt.External.other' }), (e) => isRampartError(e) && e.status === 400);
    assert.equal(await device('DEV-TOPIC'), undefined);
  });

  it('a repeated Authenticate with the same certificate is a repeat and updates the inventory', async () => {
    tick();
    await authenticate('DEV-1', CERT_A, { osVersion: '18.2' });
    const d = (await device('DEV-1'))!;
    assert.equal(d.status, 'authenticated');
    assert.equal(d.osVersion, '18.2');
    const e = await entries({ action: 'device.authenticate', actorId: 'DEV-1' });
    assert.deepEqual(e.map((x) => JSON.parse(x.entry).details.enrollment), ['new', 'repeat']);
  });

  it('TokenUpdate enrolls; the unlock token is sealed, never stored in plaintext', async () => {
    tick();
    const token = new Uint8Array(randomBytes(32));
    const unlock = new Uint8Array(randomBytes(64));
    assert.equal((await tokenUpdate('DEV-1', CERT_A, token, unlock)).status, 200);
    const d = (await device('DEV-1'))!;
    assert.equal(d.status, 'enrolled');
    assert.equal(d.enrolledAt, now().toISOString());
    assert.equal(d.pushToken, Buffer.from(token).toString('hex'));
    assert.equal(d.pushMagic, 'MAGIC-1');
    assert.ok(d.unlockTokenSealed);
    assert.notDeepEqual(d.unlockTokenSealed, unlock);
    assert.equal(Buffer.from(d.unlockTokenSealed).indexOf(Buffer.from(unlock)), -1, 'plaintext does not appear in the stored bytes');
    assert.deepEqual(new Uint8Array(box.open(d.unlockTokenSealed, unlockTokenAad('DEV-1'))), unlock);
    // Bound to its purpose and device: it does not open as another device's or as a bootstrap token.
    assert.throws(() => box.open(d.unlockTokenSealed!, unlockTokenAad('DEV-2')));
    assert.throws(() => box.open(d.unlockTokenSealed!, bootstrapTokenAad('DEV-1')));
    // The database file itself does not hold the plaintext either.
    const rows = await opened.db.withTables<{ devices: { id: string; unlock_token_sealed: Uint8Array | null } }>().selectFrom('devices').selectAll().execute();
    const row = rows.find((r) => r.id === 'DEV-1')!;
    assert.ok(row.unlock_token_sealed);
    assert.equal(Buffer.from(row.unlock_token_sealed).indexOf(Buffer.from(unlock)), -1);
    const enroll = await entries({ action: 'device.enroll', actorId: 'DEV-1' });
    assert.equal(enroll.length, 1);
    assert.deepEqual(JSON.parse(enroll[0]!.entry).details, { unlockToken: true });
  });

  it('a repeated TokenUpdate is not a second enrollment; a new push token is recorded as token_update', async () => {
    tick();
    const d0 = (await device('DEV-1'))!;
    await tokenUpdate('DEV-1', CERT_A, Buffer.from(d0.pushToken!, 'hex'));
    assert.equal((await entries({ action: 'device.enroll', actorId: 'DEV-1' })).length, 1);
    assert.equal((await entries({ action: 'device.token_update', actorId: 'DEV-1' })).length, 0, 'same token: nothing new on record');
    assert.equal((await device('DEV-1'))!.enrolledAt, d0.enrolledAt);
    await tokenUpdate('DEV-1', CERT_A, new Uint8Array(randomBytes(32)));
    assert.equal((await entries({ action: 'device.token_update', actorId: 'DEV-1' })).length, 1);
    assert.equal((await device('DEV-1'))!.status, 'enrolled');
    assert.ok((await device('DEV-1'))!.unlockTokenSealed, 'a TokenUpdate without UnlockToken keeps the sealed one');
  });

  it('a repeat Authenticate of an enrolled device keeps it enrolled', async () => {
    tick();
    await authenticate('DEV-1', CERT_A);
    assert.equal((await device('DEV-1'))!.status, 'enrolled');
  });

  it('Authenticate with another certificate for an enrolled device is refused and recorded as denied', async () => {
    const before = await device('DEV-1');
    tick();
    await assert.rejects(authenticate('DEV-1', CERT_B, { serialNumber: 'EVIL' }), unauthorized);
    assert.deepEqual(await device('DEV-1'), before, 'nothing changed');
    const denied = await entries({ action: 'device.authenticate', actorId: 'DEV-1', outcome: 'denied' });
    assert.equal(denied.length, 1);
    assert.deepEqual(JSON.parse(denied[0]!.entry).details, { certSha256: CERT_B, reason: 'identity_mismatch', boundCertSha256: CERT_A });
  });

  it('every other message signed by another certificate is refused and recorded as denied', async () => {
    const before = await device('DEV-1');
    const msgs: CheckinInput[] = [
      { type: 'TokenUpdate', deviceId: 'DEV-1', topic: TOPIC, token: new Uint8Array(32), pushMagic: 'X' },
      { type: 'CheckOut', deviceId: 'DEV-1' },
      { type: 'SetBootstrapToken', deviceId: 'DEV-1', bootstrapToken: new Uint8Array([1]) },
      { type: 'GetBootstrapToken', deviceId: 'DEV-1' },
      { type: 'UserAuthenticate', deviceId: 'DEV-1' },
      { type: 'DeclarativeManagement', deviceId: 'DEV-1' },
      { type: 'GetToken', deviceId: 'DEV-1' },
    ];
    for (const m of msgs) {
      const c = ctx(CERT_B);
      await assert.rejects(checkin.handle(m, c), unauthorized, m.type);
      const e = (await audit.log.store.search({ actorId: 'DEV-1', limit: 1000 })).filter((x) => x.requestId === c.requestId);
      assert.equal(e.length, 1, m.type);
      assert.equal(e[0]!.outcome, 'denied');
      assert.equal(JSON.parse(e[0]!.entry).details.reason, 'identity_mismatch');
    }
    assert.deepEqual(await device('DEV-1'), before);
  });

  it('messages for an unknown device are refused', async () => {
    for (const m of [
      { type: 'TokenUpdate', deviceId: 'NOPE', topic: TOPIC, token: new Uint8Array(32), pushMagic: 'X' },
      { type: 'CheckOut', deviceId: 'NOPE' },
      { type: 'GetBootstrapToken', deviceId: 'NOPE' },
    ] as CheckinInput[]) {
      await assert.rejects(checkin.handle(m, ctx(CERT_A)), unauthorized);
    }
    assert.equal(await device('NOPE'), undefined);
    assert.equal((await entries({ actorId: 'NOPE', outcome: 'denied' })).length, 3);
  });

  it('bootstrap token: set (sealed), get, clear', async () => {
    const secret = new Uint8Array(randomBytes(48));
    assert.equal((await checkin.handle({ type: 'SetBootstrapToken', deviceId: 'DEV-1', bootstrapToken: secret }, ctx(CERT_A))).status, 200);
    const d = (await device('DEV-1'))!;
    assert.ok(d.bootstrapTokenSealed);
    assert.equal(Buffer.from(d.bootstrapTokenSealed).indexOf(Buffer.from(secret)), -1);
    assert.deepEqual(new Uint8Array(box.open(d.bootstrapTokenSealed, bootstrapTokenAad('DEV-1'))), secret);

    const got = await checkin.handle({ type: 'GetBootstrapToken', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.equal(got.status, 200);
    assert.equal(got.contentType, 'application/xml');
    assert.deepEqual(parsePlistDict(got.body!).BootstrapToken, secret);

    await checkin.handle({ type: 'SetBootstrapToken', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.equal((await device('DEV-1'))!.bootstrapTokenSealed, null);
    const empty = await checkin.handle({ type: 'GetBootstrapToken', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.deepEqual(parsePlistDict(empty.body!), {});

    const sets = await entries({ action: 'device.bootstrap_token.set', actorId: 'DEV-1', outcome: 'success' });
    assert.deepEqual(sets.map((e) => JSON.parse(e.entry).details.cleared), [false, true]);
    const gets = await entries({ action: 'device.bootstrap_token.get', actorId: 'DEV-1', outcome: 'success' });
    assert.deepEqual(gets.map((e) => JSON.parse(e.entry).details.present), [true, false]);
    // The token itself never goes on record.
    for (const e of [...sets, ...gets]) assert.equal(e.entry.includes(Buffer.from(secret).toString('base64')), false);
  });

  it('bootstrap token messages are refused before enrollment completes', async () => {
    tick();
    await authenticate('DEV-HALF', CERT_A);
    await assert.rejects(checkin.handle({ type: 'SetBootstrapToken', deviceId: 'DEV-HALF', bootstrapToken: new Uint8Array([1]) }, ctx(CERT_A)), unauthorized);
    await assert.rejects(checkin.handle({ type: 'GetBootstrapToken', deviceId: 'DEV-HALF' }, ctx(CERT_A)), unauthorized);
    assert.equal((await device('DEV-HALF'))!.bootstrapTokenSealed, null);
  });

  it('UserAuthenticate answers 410, DeclarativeManagement and GetToken 501', async () => {
    const u = await checkin.handle({ type: 'UserAuthenticate', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.equal(u.status, 410);
    const dm = await checkin.handle({ type: 'DeclarativeManagement', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.equal(dm.status, 501);
    const gt = await checkin.handle({ type: 'GetToken', deviceId: 'DEV-1' }, ctx(CERT_A));
    assert.equal(gt.status, 501);
  });

  it('CheckOut, then re-enrollment with a new identity', async () => {
    tick();
    assert.equal((await checkin.handle({ type: 'CheckOut', deviceId: 'DEV-1' }, ctx(CERT_A))).status, 200);
    let d = (await device('DEV-1'))!;
    assert.equal(d.status, 'checked_out');
    assert.equal(d.checkedOutAt, now().toISOString());
    assert.equal(d.pushToken, null);
    assert.equal(d.pushMagic, null);
    assert.equal((await entries({ action: 'device.checkout', actorId: 'DEV-1', outcome: 'success' })).length, 1);
    // A checked-out device gets nothing more on its old identity.
    await assert.rejects(tokenUpdate('DEV-1', CERT_A, new Uint8Array(32)), unauthorized);

    tick();
    await authenticate('DEV-1', CERT_C);
    d = (await device('DEV-1'))!;
    assert.equal(d.status, 'authenticated');
    assert.equal(d.identityCertSha256, CERT_C);
    assert.equal(d.checkedOutAt, null);
    const auths = await entries({ action: 'device.authenticate', actorId: 'DEV-1', outcome: 'success' });
    assert.equal(JSON.parse(auths.at(-1)!.entry).details.enrollment, 're-enrollment');
    // The old identity is no longer accepted.
    await assert.rejects(tokenUpdate('DEV-1', CERT_A, new Uint8Array(32)), unauthorized);

    tick();
    await tokenUpdate('DEV-1', CERT_C, new Uint8Array(randomBytes(32)));
    d = (await device('DEV-1'))!;
    assert.equal(d.status, 'enrolled');
    assert.equal(d.enrolledAt, now().toISOString());
    assert.equal((await entries({ action: 'device.enroll', actorId: 'DEV-1' })).length, 2, 'the re-enrollment is on record');
  });

  it('crash between the enroll audit entry and the state change: the retry does not record it twice', async () => {
    tick();
    await authenticate('DEV-CRASH', CERT_A);
    tick();
    // The audit write happened, the state change did not (the process died in between).
    await audit.record({
      action: 'device.enroll',
      actor: { type: 'device', id: 'DEV-CRASH' },
      target: { type: 'device', id: 'DEV-CRASH' },
      outcome: 'success',
      details: { unlockToken: false },
    });
    assert.equal((await device('DEV-CRASH'))!.status, 'authenticated');
    tick();
    await tokenUpdate('DEV-CRASH', CERT_A, new Uint8Array(randomBytes(32)));
    assert.equal((await device('DEV-CRASH'))!.status, 'enrolled');
    assert.equal((await entries({ action: 'device.enroll', actorId: 'DEV-CRASH' })).length, 1);
  });

  it('an enroll entry from an earlier enrollment does not hide a new one', async () => {
    tick();
    await checkin.handle({ type: 'CheckOut', deviceId: 'DEV-CRASH' }, ctx(CERT_A));
    tick();
    await authenticate('DEV-CRASH', CERT_B);
    tick();
    await tokenUpdate('DEV-CRASH', CERT_B, new Uint8Array(randomBytes(32)));
    assert.equal((await entries({ action: 'device.enroll', actorId: 'DEV-CRASH' })).length, 2);
  });

  it('racing Authenticates for one new device create it once', async () => {
    tick();
    const rs = await Promise.allSettled([authenticate('DEV-RACE', CERT_A), authenticate('DEV-RACE', CERT_A), authenticate('DEV-RACE', CERT_A)]);
    assert.deepEqual(rs.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled']);
    assert.equal((await device('DEV-RACE'))!.identityCertSha256, CERT_A);
    assert.equal(await opened.storage.devices.count({ serialNumber: 'SER1' }) >= 1, true);
  });

  it('racing Authenticates with different certificates bind exactly one', async () => {
    tick();
    const rs = await Promise.allSettled([authenticate('DEV-RACE2', CERT_A), authenticate('DEV-RACE2', CERT_B)]);
    assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 1);
    const d = (await device('DEV-RACE2'))!;
    const winner = rs[0]!.status === 'fulfilled' ? CERT_A : CERT_B;
    assert.equal(d.identityCertSha256, winner);
  });
});
