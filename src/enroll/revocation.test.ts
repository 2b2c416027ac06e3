// Revocation and CRLs on real SQLite storage and the real audit log: the
// CRL is signed by the issuing CA (checked by `openssl crl -verify`), lists
// what was revoked with its reason, is made again on revocation (CRL number
// goes up) and when it is a day old; new identities point at it; rotated-out
// CAs keep publishing theirs; superseded and checked-out identities are
// revoked by the core; a revoked identity is refused at check-in and the
// attempt is a security event.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { certInfo } from '../pki/info.ts';
import { toPem } from '../pki/pem.ts';
import { loadOrCreateCa } from '../core/ca.ts';
import { createDevicePlane } from '../core/device-plane.ts';
import type { Actor } from '../services/types.ts';
import { readSignedProfile } from '../sim/enroll.ts';
import { buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, parseCertRep, parseDegenerateCertificates } from '../protocol/scep/index.ts';
import { signDetached } from '../protocol/cms/sign.ts';
import { buildPlist } from '../protocol/plist/index.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import { parseGatewayMessage, type MdmRequest } from '../ipc/messages.ts';
import { setupEnrollment, type Enrollment } from './setup.ts';
import { caIdOf, crlPath } from './revocation.ts';

const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };
const READER: Actor = { type: 'admin', id: 'reader', permissions: new Set(['ca.read']) };
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const ctx = { source: '192.0.2.9', requestId: 'req-1' };
const TOPIC = 'com.apple.mgmt.External.t';
type Identity = { certDer: Uint8Array; privateKey: KeyObject };

describe('revocation and CRLs', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let e: Enrollment;
  let dir: string;
  let t = Date.now();
  const now = (): Date => new Date(t);
  const box = createSecretBox(createKeyRing([{ id: 'k1', key: rnd(32) }], 'k1'));
  const openssl = (args: string[]): string => execFileSync('openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  const file = (name: string, data: string | Uint8Array): string => {
    writeFileSync(join(dir, name), data);
    return name;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-crl-'));
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const { ca } = await loadOrCreateCa({ settings: opened.storage.settings, sealer: box, now }, { commonName: 'CRL CA', validityDays: 3650 });
    e = await setupEnrollment({
      opened, ca, sealer: box, audit, lookup: audit.log, now, baseUrl: () => 'https://mdm.test', topic: () => TOPIC,
      log: { warn: () => {}, error: () => {} }, challengeTtlMinutes: 30, identityValidityDays: 30,
    });
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await audit.close();
    await opened.close();
  });

  const entries = (action: string) => audit.log.store.search({ action, limit: 100 });

  async function enroll(): Promise<Identity> {
    const { token } = await e.invitations.create(ROOT, {});
    const profile = readSignedProfile((await e.device.profile(token, ctx)).body!, { now: now() });
    const raDer = parseDegenerateCertificates((await e.device.scep('GetCACert', undefined, ctx)).body!)[0]!;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const name = encodeName('crl');
    const signer = { certDer: buildSelfSignedCert({ privateKey, name, serial: rnd(8), notBefore: new Date(t - 60_000), notAfter: new Date(t + 3_600_000) }), privateKey };
    const der = buildPkiMessage({
      messageType: 'PKCSReq', transactionId: Buffer.from(rnd(8)).toString('hex'), senderNonce: rnd(16), signer, recipientCertDer: raDer,
      csrDer: buildCsr({ privateKey, name, challengePassword: profile.scep.challenge }), cipher: 'aes-256-cbc', now: now(), random: rnd,
    });
    const rep = parseCertRep((await e.device.scep('PKIOperation', der, ctx)).body!, { trustedSigners: [raDer], requester: signer });
    assert.equal(rep.status, 'SUCCESS');
    return { certDer: rep.certificates[0]!, privateKey };
  }

  async function crlText(caDer: Uint8Array): Promise<string> {
    const id = caIdOf(caDer);
    const der = await e.revocation.crl(id);
    assert.ok(der, 'a CRL is published');
    file(`${id}.crl`, der);
    file(`${id}.pem`, toPem('CERTIFICATE', caDer));
    // openssl prints "verify OK" on stderr; it exits non-zero when the signature does not verify.
    execFileSync('openssl', ['crl', '-inform', 'DER', '-in', `${id}.crl`, '-noout', '-verify', '-CAfile', `${id}.pem`], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    return openssl(['crl', '-inform', 'DER', '-in', `${id}.crl`, '-noout', '-text']);
  }

  it('new identities carry the CRL URL; the CRL is signed by the CA and lists revocations with reasons; the number goes up', async () => {
    const ca = e.pki.current().ca.certDer;
    const a = await enroll();
    const b = await enroll();
    file('a.pem', toPem('CERTIFICATE', a.certDer));
    assert.match(openssl(['x509', '-in', 'a.pem', '-noout', '-ext', 'crlDistributionPoints']), new RegExp(`URI:https://mdm.test${crlPath(caIdOf(ca)).replace(/\./g, '\\.')}`));
    const first = await crlText(ca);
    assert.match(first, /No Revoked Certificates/);
    assert.match(first, /X509v3 CRL Number:\s*\n\s*1\b/);
    const sa = certInfo(a.certDer).serialHex;
    const r = await e.revocation.revokeSerial(ROOT, sa.toUpperCase(), 'keyCompromise');
    assert.equal(r.alreadyRevoked, false);
    assert.equal(e.revocation.isRevoked(certInfo(a.certDer).sha256), true);
    assert.equal(e.revocation.isRevoked(certInfo(b.certDer).sha256), false);
    const second = await crlText(ca);
    assert.match(second, new RegExp(`Serial Number: ${sa.toUpperCase()}[\\s\\S]*Key Compromise`));
    assert.match(second, /X509v3 CRL Number:\s*\n\s*2\b/);
    assert.equal((await e.revocation.revokeSerial(ROOT, sa)).alreadyRevoked, true);
    // Refusals: unknown serial, bad input, no permission; all on record.
    await assert.rejects(e.revocation.revokeSerial(ROOT, 'abcdef'), /no certificate/);
    await assert.rejects(e.revocation.revokeSerial(ROOT, 'zz'), /invalid serial/);
    await assert.rejects(e.revocation.revokeSerial(READER, certInfo(b.certDer).serialHex), (x: { status?: number }) => x.status === 403);
    const ev = await entries('ca.certificate.revoke');
    assert.deepEqual(ev.map((x) => x.outcome), ['success', 'failure', 'failure', 'denied']);
    assert.equal(await e.revocation.crl('0'.repeat(32)), undefined);
    assert.equal(await e.revocation.crl('../../etc'), undefined);
  });

  it('a revoked identity is refused at check-in by the core and the attempt is a security event', async () => {
    const id = await enroll();
    const plane = createDevicePlane({
      storage: opened.storage, audit, lookup: audit.log, sealer: box,
      trust: () => {
        const p = e.pki.current();
        return { version: p.version, anchors: p.trust.anchors, intermediates: p.trust.intermediates };
      },
      revoked: (sha) => e.revocation.isRevoked(sha),
      limits: { maxBodyBytes: 65536, maxPlistDepth: 32 }, log: { warn: () => {}, error: () => {} }, now, topic: () => TOPIC, identities: e.device,
    });
    let n = 0;
    const request = (udid: string): MdmRequest => {
      const body = buildPlist({ MessageType: 'Authenticate', UDID: udid, Topic: TOPIC, SerialNumber: 'S1' });
      const m = parseGatewayMessage(JSON.parse(JSON.stringify({
        t: 'mdm', id: ++n, endpoint: 'checkin', requestId: `rv${n}`, source: '203.0.113.7', body: Buffer.from(body).toString('base64'),
        identity: { kind: 'signature', signature: Buffer.from(signDetached(body, id)).toString('base64') },
        message: parseDeviceMessage('checkin', body, { maxBytes: 65536, maxDepth: 32 }).json,
      })));
      assert.ok(m && m.t === 'mdm');
      return m;
    };
    assert.equal((await plane.handleMdm(request('UDID-REV'))).status, 200);
    await e.revocation.revokeDevice(ROOT, 'UDID-REV', 'privilegeWithdrawn');
    assert.equal((await plane.handleMdm(request('UDID-REV'))).status, 401);
    const sec = await entries('device.identity.revoked_used');
    assert.equal(sec.length, 1);
    assert.equal(sec[0]!.targetId, certInfo(id.certDer).sha256);
    await assert.rejects(e.revocation.revokeDevice(ROOT, 'UDID-REV'), /no unrevoked identity/);
  });

  it('binding a new identity revokes the old one (superseded); a checkout revokes the current one', async () => {
    const old = await enroll();
    await e.device.bound('UDID-SUP', certInfo(old.certDer).sha256, ctx);
    const renewed = await enroll();
    await e.device.bound('UDID-SUP', certInfo(renewed.certDer).sha256, ctx);
    assert.equal(e.revocation.isRevoked(certInfo(old.certDer).sha256), true);
    assert.equal(e.revocation.isRevoked(certInfo(renewed.certDer).sha256), false);
    await e.revocation.flush();
    assert.match(await crlText(e.pki.current().ca.certDer), new RegExp(`${certInfo(old.certDer).serialHex.toUpperCase()}[\\s\\S]*Superseded`));
    await e.device.checkedOut!('UDID-SUP', ctx);
    assert.equal(e.revocation.isRevoked(certInfo(renewed.certDer).sha256), true);
    await e.revocation.flush();
  });

  it('after a rotation the old CA keeps publishing its CRL (signed with its kept key); CRLs are made again when a day old', async () => {
    const oldCa = e.pki.current().ca.certDer;
    const before = await e.revocation.crl(caIdOf(oldCa));
    await e.ca.rotate(ROOT);
    const newCa = e.pki.current().ca.certDer;
    assert.notDeepEqual(newCa, oldCa);
    assert.match(await crlText(oldCa), /Superseded/);
    assert.match(await crlText(newCa), /No Revoked Certificates/);
    // Nothing due yet; a day later both are made again (new number, new thisUpdate).
    assert.equal((await e.revocation.maintain()).crlsMade, 0);
    t += 25 * 3_600_000;
    assert.equal((await e.revocation.maintain()).crlsMade, 2);
    const after = await e.revocation.crl(caIdOf(oldCa));
    assert.notDeepEqual(after, before);
    assert.match(await crlText(oldCa), new RegExp(`Last Update: ${new Date(t).toUTCString().slice(8, 11)}`));
    // Once the revoked identities (30 days) have expired, they leave the CRLs.
    t += 31 * 86_400_000;
    assert.equal((await e.revocation.maintain()).crlsMade, 2);
    assert.match(await crlText(oldCa), /No Revoked Certificates/);
  });
});
