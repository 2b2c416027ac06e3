// Enrollment end to end against the real server process (sandboxed gateway):
// invitation → signed profile (once, then 410) → SCEP PKCSReq with the
// one-time challenge → Authenticate/TokenUpdate; replays refused and on
// record; renewal; re-enrollment of an erased device keeps its history.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import path from 'node:path';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SimDevice } from '../../src/sim/device.ts';
import { statusText } from '../../src/lib/status-text.ts';
import { enrollFromInvitation, httpsRequest, readSignedProfile, renewIdentity, scepServerInfo } from '../../src/sim/enroll.ts';
import { buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, parseCertRep } from '../../src/protocol/scep/index.ts';
import {
  api, createInvitation, enrollSimDevice, removeDataDir, startServerProcess, stopServerProcess, tlsCaPem, type ServerProcess,
} from './harness.ts';
import { parseCertificate } from '../../src/protocol/cms/certificate.ts';
import { toPem } from '../../src/pki/pem.ts';
import { opensslRoot } from '../../src/pki/external-root.test.ts';

let server: ServerProcess;
let tlsCa: string;

before(async () => {
  // Erase needs a second administrator's approval by default (src/authz); the
  // four-eyes flow has its own tests, these are about enrollment.
  server = await startServerProcess({ env: { RAMPART_AUTHZ: JSON.stringify({ approvals: { actions: [] } }) } });
  tlsCa = tlsCaPem(server);
});
after(async () => {
  await stopServerProcess(server);
  removeDataDir(server.dataDir);
});

type Json = Record<string, unknown>;

function auditActions(): { action: string; outcome: string; actor_id: string; target_id: string | null }[] {
  const db = new DatabaseSync(path.join(server.dataDir, 'audit.db'), { readOnly: true });
  try {
    return db.prepare('select action, outcome, actor_id, target_id from audit_entry order by idx').all() as never;
  } finally {
    db.close();
  }
}

test('a device enrolls from an invitation URL alone; the URL then answers 410 and the invitation is used', async () => {
  const { device, enrolled, invitationId } = await enrollSimDevice(server);
  try {
    assert.equal(enrolled.profile.mdm.signMessage, true);
    assert.ok(enrolled.profile.caCertDer, 'private CA is in the profile');
    const list = await api(server, 'GET', '/api/v1/devices');
    const mine = (list.json as { items: Json[] }).items.find((d) => d.id === device.udid);
    assert.equal(mine?.status, 'enrolled');
    const inv = await api(server, 'GET', '/api/v1/enrollment/invitations');
    const row = (inv.json as { items: Json[] }).items.find((i) => i.id === invitationId);
    assert.equal(row?.status, 'used');
    assert.ok(row?.certSerial);
    // Commands reach it.
    const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: [device.udid], requestType: 'DeviceInformation', payload: { Queries: ['OSVersion'] } });
    assert.equal(r.status, 201);
    const handled = await device.connect();
    assert.deepEqual(handled.map((h) => h.status), ['Acknowledged']);
    const actions = auditActions().filter((a) => a.target_id === invitationId).map((a) => a.action);
    for (const a of ['enroll.invitation.create', 'enroll.profile.download', 'enroll.challenge.use', 'enroll.certificate.issue']) {
      assert.equal(actions.filter((x) => x === a).length, 1, `${a} once`);
    }
  } finally {
    device.close();
  }
});

test('the profile URL works once; the challenge works once and a replay is refused and recorded', async () => {
  const { url, id } = await createInvitation(server);
  const first = await httpsRequest(url, { method: 'GET', tlsCa });
  assert.equal(first.status, 200);
  const second = await httpsRequest(url, { method: 'GET', tlsCa });
  assert.equal(second.status, 410);
  assert.equal(new TextDecoder().decode(second.body), statusText(410));
  const profile = readSignedProfile(first.body);
  const info = await scepServerInfo(profile.scep.url, { tlsCa });
  const pkcsReq = () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const name = encodeName('replay');
    const signer = { certDer: buildSelfSignedCert({ privateKey, name, serial: new Uint8Array(randomBytes(8)), notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) }), privateKey };
    const body = buildPkiMessage({
      messageType: 'PKCSReq', transactionId: randomBytes(8).toString('hex'), senderNonce: new Uint8Array(randomBytes(16)), signer,
      recipientCertDer: info.raCertDer, csrDer: buildCsr({ privateKey, name, challengePassword: profile.scep.challenge }),
      cipher: 'aes-256-cbc', now: new Date(), random: (n) => new Uint8Array(randomBytes(n)),
    });
    return { body, signer };
  };
  const send = async () => {
    const { body, signer } = pkcsReq();
    const res = await httpsRequest(`${profile.scep.url}?operation=PKIOperation`, { method: 'POST', body, contentType: 'application/x-pki-message', tlsCa });
    assert.equal(res.status, 200);
    return parseCertRep(res.body, { trustedSigners: [info.raCertDer], requester: signer });
  };
  assert.equal((await send()).status, 'SUCCESS');
  const replay = await send();
  assert.equal(replay.status, 'FAILURE');
  assert.equal(replay.failInfo, 'badRequest');
  const denied = auditActions().filter((a) => a.action === 'enroll.challenge.denied' && a.target_id === id);
  assert.equal(denied.length, 1);
  assert.equal(denied[0]!.outcome, 'denied');
});

test('a revoked invitation serves nothing; an unknown token is 404 with a fixed body', async () => {
  const { url, id } = await createInvitation(server);
  assert.equal((await api(server, 'DELETE', `/api/v1/enrollment/invitations/${id}`)).status, 200);
  assert.equal((await httpsRequest(url, { method: 'GET', tlsCa })).status, 410);
  const unknown = await httpsRequest(`${server.deviceUrl}/enroll/${'A'.repeat(43)}`, { method: 'GET', tlsCa });
  assert.equal(unknown.status, 404);
  assert.equal(new TextDecoder().decode(unknown.body), statusText(404));
  assert.equal((await httpsRequest(`${server.deviceUrl}/scep?operation=Nope`, { method: 'GET', tlsCa })).status, 404);
  assert.equal((await httpsRequest(`${server.deviceUrl}/scep?operation=PKIOperation`, { method: 'POST', body: new Uint8Array([1, 2, 3]), tlsCa })).status, 400);
});

test('renewal with the current identity; the device keeps working under the new identity', async () => {
  const { device, enrolled } = await enrollSimDevice(server);
  try {
    const renewed = await renewIdentity(enrolled.profile.scep.url, enrolled.identity, { tlsCa });
    assert.notDeepEqual(renewed.certDer, enrolled.identity.certDer);
    device.identity = renewed;
    const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: [device.udid], requestType: 'SecurityInfo', payload: {} });
    assert.equal(r.status, 201);
    assert.deepEqual((await device.connect()).map((h) => h.status), ['Acknowledged']);
    assert.ok(auditActions().some((a) => a.action === 'device.identity.renewed' && a.actor_id === device.udid));
    // The old identity no longer works.
    device.identity = enrolled.identity;
    await assert.rejects(device.connect());
  } finally {
    device.close();
  }
});

test('an erased device that enrolls again with the same UDID keeps its row and history; without an erase it cannot', async () => {
  const { device, enrolled } = await enrollSimDevice(server);
  const udid = device.udid;
  const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: [udid], requestType: 'DeviceInformation', payload: { Queries: ['OSVersion'] } });
  assert.equal(r.status, 201);
  await device.connect();
  // Someone else's invitation cannot take over an enrolled device's UDID.
  const other = await enrollFromInvitation((await createInvitation(server)).url, { tlsCa });
  const impostor = new SimDevice({ serverUrl: new URL(other.profile.mdm.serverUrl).origin, tlsCa, topic: other.profile.mdm.topic, identity: other.identity, udid });
  assert.equal((await impostor.authenticate()).status, 401);
  impostor.close();
  // Erase it.
  assert.equal((await api(server, 'POST', '/api/v1/commands', { deviceIds: [udid], requestType: 'EraseDevice', payload: {} })).status, 201);
  await device.connect();
  assert.equal(device.state.erased, true);
  device.close();
  // The erased device's identity is revoked (on record; listed in the CRL).
  const erasedSerial = parseCertificate(enrolled.identity.certDer).serialHex;
  assert.ok(auditActions().some((a) => a.action === 'ca.certificate.revoke' && a.outcome === 'success' && a.target_id === erasedSerial));
  const before = (await api(server, 'GET', `/api/v1/devices/${udid}/commands`)).json as { items: unknown[] };
  // Erased: a new invitation, a new identity, the same UDID.
  const { url } = await createInvitation(server);
  const again = await enrollFromInvitation(url, { tlsCa });
  assert.notDeepEqual(again.identity.certDer, enrolled.identity.certDer);
  const reborn = new SimDevice({ serverUrl: new URL(again.profile.mdm.serverUrl).origin, tlsCa, topic: again.profile.mdm.topic, identity: again.identity, udid });
  try {
    await reborn.enroll();
    const after = (await api(server, 'GET', `/api/v1/devices/${udid}/commands`)).json as { items: unknown[] };
    assert.equal(after.items.length, before.items.length);
    const auth = auditActions().filter((a) => a.action === 'device.authenticate' && a.actor_id === udid);
    assert.deepEqual(auth.map((a) => a.outcome), ['success', 'denied', 'success']);
    assert.deepEqual((await reborn.connect()), []);
  } finally {
    reborn.close();
  }
});

test('CA show over the admin API', async () => {
  const r = await api(server, 'GET', '/api/v1/ca');
  assert.equal(r.status, 200);
  const j = r.json as { current: { subject: string }; ra: { subject: string }; previous: unknown[] };
  assert.match(j.current.subject, /Enrollment CA/);
  assert.match(j.ra.subject, /SCEP RA/);
  assert.deepEqual(j.previous, []);
});

test('CA rotation and an intermediate import take effect without a restart; devices enrolled before keep working', async () => {
  const cmd = async (udid: string) => assert.equal((await api(server, 'POST', '/api/v1/commands', { deviceIds: [udid], requestType: 'SecurityInfo', payload: {} })).status, 201);
  const first = await enrollSimDevice(server);
  const root = opensslRoot();
  const devices = [first.device];
  try {
    const caBefore = ((await api(server, 'GET', '/api/v1/ca')).json as { current: { sha256: string } }).current.sha256;
    // Rotation: in effect at once.
    const rot = await api(server, 'POST', '/api/v1/ca/rotate', {});
    assert.equal(rot.status, 200, JSON.stringify(rot.json));
    const rotated = (rot.json as { current: { sha256: string; subject: string } }).current;
    assert.notEqual(rotated.sha256, caBefore);
    // The device enrolled under the old CA still checks in and gets commands (core and gateway still trust the old CA).
    await cmd(first.device.udid);
    assert.deepEqual((await first.device.connect()).map((h) => h.status), ['Acknowledged']);
    // A new device enrolls under the new CA and checks in: the gateway already has the new trust anchor.
    const second = await enrollSimDevice(server);
    devices.push(second.device);
    assert.equal(parseCertificate(second.enrolled.identity.certDer).issuer, rotated.subject);
    await cmd(second.device.udid);
    assert.deepEqual((await second.device.connect()).map((h) => h.status), ['Acknowledged']);

    // Intermediate: the core makes the key and CSR, an openssl root signs it, the chain is installed.
    const csr = await api(server, 'POST', '/api/v1/ca/csr', { commonName: 'E2E Issuing CA' });
    assert.equal(csr.status, 201);
    const intPem = root.signIntermediate((csr.json as { csrPem: string }).csrPem, { pathlen: 0 });
    const imp = await api(server, 'POST', '/api/v1/ca/import', { certPem: intPem, chainPem: root.rootPem });
    assert.equal(imp.status, 200, JSON.stringify(imp.json));
    const third = await enrollSimDevice(server);
    devices.push(third.device);
    assert.equal(parseCertificate(third.enrolled.identity.certDer).issuer, 'CN=E2E Issuing CA,O=Rampart');
    assert.equal(third.enrolled.profile.intermediateCertsDer.length, 1);
    root.file('e2e-int.pem', intPem);
    root.file('e2e-id.pem', toPem('CERTIFICATE', third.enrolled.identity.certDer));
    assert.match(root.run(['verify', '-CAfile', 'root.pem', '-untrusted', 'e2e-int.pem', 'e2e-id.pem']), /OK/);
    await cmd(third.device.udid);
    assert.deepEqual((await third.device.connect()).map((h) => h.status), ['Acknowledged']);
    // All three generations of devices keep working.
    for (const d of [first.device, second.device]) {
      await cmd(d.udid);
      assert.deepEqual((await d.connect()).map((h) => h.status), ['Acknowledged']);
    }
    const shown = (await api(server, 'GET', '/api/v1/ca')).json as { previous: unknown[]; chain: unknown[] };
    assert.equal(shown.previous.length, 2);
    assert.equal(shown.chain.length, 1);
    const actions = auditActions().map((a) => a.action);
    for (const a of ['ca.rotate', 'ca.rotate.applied', 'ca.csr', 'ca.import', 'ca.import.applied']) assert.ok(actions.includes(a), a);
  } finally {
    for (const d of devices) d.close();
    root.close();
  }
});

test('revocation: the CRL from the identity\'s distribution point verifies with openssl and lists it; the revoked device is refused', async () => {
  const { device, enrolled } = await enrollSimDevice(server);
  const work = opensslRoot(); // a scratch directory with an openssl runner
  try {
    const cert = new X509Certificate(Buffer.from(enrolled.identity.certDer));
    work.file('id.pem', cert.toString());
    const dp = /URI:(\S+)/.exec(work.run(['x509', '-in', 'id.pem', '-noout', '-ext', 'crlDistributionPoints']))?.[1];
    assert.ok(dp && dp.startsWith(server.deviceUrl) && /\/pki\/crl\/[0-9a-f]{32}\.crl$/.test(dp), dp);
    const r = await api(server, 'POST', '/api/v1/ca/revoke', { deviceId: device.udid, reason: 'keyCompromise' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual((r.json as { serials: string[] }).serials, [cert.serialNumber.toLowerCase().replace(/^(?:00)+/, '')]);
    const crl = await httpsRequest(dp, { method: 'GET', tlsCa });
    assert.equal(crl.status, 200);
    assert.equal(crl.contentType, 'application/pkix-crl');
    work.file('ca.crl', crl.body);
    const caPem = ((await api(server, 'GET', '/api/v1/ca')).json as { current: { pem: string } }).current.pem;
    work.file('ca.pem', caPem);
    work.run(['crl', '-inform', 'DER', '-in', 'ca.crl', '-noout', '-verify', '-CAfile', 'ca.pem']); // throws unless "verify OK"
    assert.match(work.run(['crl', '-inform', 'DER', '-in', 'ca.crl', '-noout', '-text']), new RegExp(`Serial Number: ${cert.serialNumber}[\\s\\S]*Key Compromise`, 'i'));
    // openssl checks the identity against the CRL: revoked (-partial_chain: the CA here is the intermediate of the test above).
    assert.throws(() => work.run(['verify', '-partial_chain', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'ca.crl', 'id.pem']), /revoked/);
    // The device's next request is refused by the core; the attempt is on record as a security event.
    await assert.rejects(device.connect());
    assert.ok(auditActions().some((a) => a.action === 'device.identity.revoked_used' && a.outcome === 'denied'));
    // Malformed CRL requests: 404, fixed body.
    const bad = await httpsRequest(`${server.deviceUrl}/pki/crl/not-an-id.crl`, { method: 'GET', tlsCa });
    assert.equal(bad.status, 404);
    assert.equal(new TextDecoder().decode(bad.body), statusText(404));
  } finally {
    device.close();
    work.close();
  }
});
