// The enrollment services on real SQLite storage and the real audit log:
// exactly-once records across a crash between record and claim, challenge
// refusals on record, renewal rules, CA rotation applied at start.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createCertificateAuthority, issueCertificate } from '../pki/authority.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { certInfo } from '../pki/info.ts';
import { loadCa, loadOrCreateCa } from '../core/ca.ts';
import type { Actor } from '../services/types.ts';
import { readSignedProfile } from '../sim/enroll.ts';
import { buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, parseCertRep, type FailInfo } from '../protocol/scep/index.ts';
import { applyPendingRotation, previousCas } from './ca-admin.ts';
import { setupEnrollment, type Enrollment } from './setup.ts';
import { tokenHash } from './invitations.ts';

const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const ctx = { source: '192.0.2.9', requestId: 'req-1' };

describe('device enrollment service', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let e: Enrollment;
  let t = Date.parse('2026-06-01T00:00:00.000Z');
  const now = (): Date => new Date(t);
  const box = createSecretBox(createKeyRing([{ id: 'k1', key: rnd(32) }], 'k1'));

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const { ca } = await loadOrCreateCa({ settings: opened.storage.settings, sealer: box, now }, { commonName: 'Unit CA', validityDays: 3650 });
    e = await setupEnrollment({
      opened, ca, sealer: box, audit, lookup: audit.log, now, baseUrl: () => 'https://mdm.test', topic: () => 'com.apple.mgmt.External.t',
      log: { warn: () => {}, error: () => {} }, challengeTtlMinutes: 30, identityValidityDays: 30,
    });
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  const entries = (action: string) => audit.log.store.search({ action, limit: 100 });
  const ra = async () => (await e.ca.show(ROOT)).ra;

  async function pkcs(challenge: string | undefined, opts: { type?: 'PKCSReq' | 'RenewalReq'; signer?: { certDer: Uint8Array; privateKey: KeyObject } } = {}) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const name = encodeName('unit');
    const signer = opts.signer ?? { certDer: buildSelfSignedCert({ privateKey, name, serial: rnd(8), notBefore: new Date(t - 60_000), notAfter: new Date(t + 3_600_000) }), privateKey };
    const raDer = new Uint8Array(Buffer.from((await ra()).pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
    const der = buildPkiMessage({
      messageType: opts.type ?? 'PKCSReq', transactionId: Buffer.from(rnd(8)).toString('hex'), senderNonce: rnd(16), signer, recipientCertDer: raDer,
      csrDer: buildCsr({ privateKey, name, ...(challenge !== undefined ? { challengePassword: challenge } : {}) }), cipher: 'aes-256-cbc', now: now(), random: rnd,
    });
    const reply = await e.device.scep('PKIOperation', der, ctx);
    assert.equal(reply.status, 200);
    const rep = parseCertRep(reply.body!, { trustedSigners: [raDer], requester: signer });
    return { rep, identity: { certDer: rep.certificates[0]!, privateKey } };
  }

  it('a crash between the download record and the claim: the retry claims without a second record', async () => {
    const { token, invitation } = await e.invitations.create(ROOT, {});
    // What a process killed right after record() leaves behind: the entry, an open invitation.
    await audit.record({
      actor: { type: 'anonymous', id: `invitation:${invitation.id}` }, source: ctx.source, requestId: 'crashed', action: 'enroll.profile.download',
      target: { type: 'invitation', id: invitation.id }, outcome: 'success', details: { staffId: null, groupId: null },
    });
    assert.equal((await e.store.get(invitation.id))?.status, 'open');
    const r = await e.device.profile(token, ctx);
    assert.equal(r.status, 200);
    assert.equal((await e.store.get(invitation.id))?.status, 'downloaded');
    assert.equal((await entries('enroll.profile.download')).filter((x) => x.targetId === invitation.id).length, 1);
    // Once claimed, never again, even concurrently.
    const again = await Promise.all([e.device.profile(token, ctx), e.device.profile(token, ctx)]);
    assert.deepEqual(again.map((a) => a.status), [410, 410]);
  });

  it('concurrent downloads of a fresh invitation: one profile, one record', async () => {
    const { token, invitation } = await e.invitations.create(ROOT, {});
    const rs = await Promise.all([1, 2, 3, 4].map(() => e.device.profile(token, ctx)));
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 410, 410, 410]);
    assert.equal((await entries('enroll.profile.download')).filter((x) => x.targetId === invitation.id).length, 1);
    assert.equal(tokenHash(token).length, 64);
  });

  it('unknown, missing and expired challenges are refused with badRequest and recorded', async () => {
    const before = (await entries('enroll.challenge.denied')).length;
    assert.equal((await pkcs('made-up')).rep.failInfo, 'badRequest' satisfies FailInfo);
    assert.equal((await pkcs(undefined)).rep.failInfo, 'badRequest');
    const { token } = await e.invitations.create(ROOT, {});
    const profile = readSignedProfile((await e.device.profile(token, ctx)).body!, {});
    t += 31 * 60_000; // past the challenge's 30 minutes
    assert.equal((await pkcs(profile.scep.challenge)).rep.failInfo, 'badRequest');
    const denied = await entries('enroll.challenge.denied');
    assert.equal(denied.length, before + 2); // unknown + expired (a missing challenge is an enroll.scep.refused)
    assert.equal((await entries('enroll.scep.refused')).length >= 1, true);
  });

  it('renewal: only an identity we issued and bound, unexpired, under a trusted CA', async () => {
    const { token } = await e.invitations.create(ROOT, {});
    const profile = readSignedProfile((await e.device.profile(token, ctx)).body!, {});
    const { rep, identity } = await pkcs(profile.scep.challenge);
    assert.equal(rep.status, 'SUCCESS');
    // Not yet bound to a device: badCertId.
    assert.equal((await pkcs(undefined, { type: 'RenewalReq', signer: identity })).rep.failInfo, 'badCertId');
    const sha = certInfo(identity.certDer).sha256;
    await e.device.bound('UDID-R', sha);
    const renewed = await pkcs(undefined, { type: 'RenewalReq', signer: identity });
    assert.equal(renewed.rep.status, 'SUCCESS');
    const newSha = certInfo(renewed.identity.certDer).sha256;
    assert.equal(await e.device.mayRebind('UDID-R', newSha), 'renewal');
    assert.equal(await e.device.mayRebind('UDID-OTHER', newSha), undefined);
    // An identity from another CA: badCertId. An expired one: badTime.
    const other = await createCertificateAuthority({ commonName: 'Other', validityDays: 30, now: now(), keyAlgorithm: 'rsa-2048' });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = { certDer: await issueCertificate(other, { subject: 'CN=x', publicKey, validityDays: 1, now: now(), profile: 'device-identity' }), privateKey };
    assert.equal((await pkcs(undefined, { type: 'RenewalReq', signer: foreign })).rep.failInfo, 'badCertId');
    t += 40 * 86_400_000;
    assert.equal((await pkcs(undefined, { type: 'RenewalReq', signer: renewed.identity })).rep.failInfo, 'badTime');
  });

  it('CA rotation applies at once: new identities come from the new CA, the old CA stays trusted; applying again changes nothing', async () => {
    const settings = opened.storage.settings;
    const old = (await loadCa({ settings, sealer: box }))!;
    // An identity under the old CA, bound to a device.
    const { token } = await e.invitations.create(ROOT, {});
    const before = await pkcs(readSignedProfile((await e.device.profile(token, ctx)).body!, {}).scep.challenge);
    await e.device.bound('UDID-OLD', certInfo(before.identity.certDer).sha256);
    const versionBefore = e.pki.current().version;
    const rotated = await e.ca.rotate(ROOT);
    assert.equal(await applyPendingRotation(settings, now), false, 'nothing left staged');
    const current = (await loadCa({ settings, sealer: box }))!;
    assert.equal(certInfo(current.certDer).sha256, rotated.current.sha256);
    assert.deepEqual(await previousCas(settings), [old.certDer]);
    assert.notEqual(e.pki.current().version, versionBefore);
    const shown = await e.ca.show(ROOT);
    assert.equal(shown.current.sha256, rotated.current.sha256);
    assert.equal(shown.rotationPending, false);
    assert.deepEqual(shown.previous.map((p) => p.sha256), [certInfo(old.certDer).sha256]);
    // The RA was re-issued by the new CA; a new enrollment gets an identity from the new CA.
    assert.equal(certInfo(Buffer.from(shown.ra.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).issuer, certInfo(current.certDer).subject);
    const { token: t2 } = await e.invitations.create(ROOT, {});
    const profile = readSignedProfile((await e.device.profile(t2, ctx)).body!, {});
    assert.deepEqual(profile.caCertDer, current.certDer);
    const fresh = await pkcs(profile.scep.challenge);
    assert.equal(certInfo(fresh.identity.certDer).issuer, certInfo(current.certDer).subject);
    // The old identity still renews (its CA is still trusted); the renewal comes from the new CA.
    const renewed = await pkcs(undefined, { type: 'RenewalReq', signer: before.identity });
    assert.equal(renewed.rep.status, 'SUCCESS');
    assert.equal(certInfo(renewed.identity.certDer).issuer, certInfo(current.certDer).subject);
    assert.deepEqual((await entries('ca.rotate')).map((x) => x.outcome), ['success']);
    assert.equal((await entries('ca.rotate.applied')).length, 1);
    // A reload with nothing new changes nothing.
    assert.deepEqual(await e.pki.reload(), { changed: false, raCreated: false });
  });
});
