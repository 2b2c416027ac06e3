// Push certificate management end to end: service (permission, audit, key
// sealed at rest, topic change refused), admin routes and the CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createTestStack, type TestStack } from '../admin/testkit.ts';
import { createAdminServer } from '../admin/server.ts';
import { SecretBox, createKeyRing } from '../keys/secret-box.ts';
import { runCli } from '../cli/program.ts';
import { CERT_SETTING, TOPIC_SETTING, createPushCertService, type PushCertService } from './cert-service.ts';
import { createLocalPushCertificate } from './local-apns.ts';
import { opensslP12 } from '../pki/pkcs12-openssl.test.ts';

const TOPIC = 'com.apple.mgmt.External.cert-service-test';

describe('push certificate management', () => {
  let s: TestStack;
  let certs: PushCertService;
  let app: FastifyInstance;
  let url: string;
  let pair: { certPem: string; keyPem: string };
  const dir = mkdtempSync(path.join(tmpdir(), 'push-cli-'));

  before(async () => {
    s = await createTestStack();
    const sealer = new SecretBox(createKeyRing([{ id: 'k1', key: randomBytes(32) }], 'k1'));
    certs = createPushCertService({ settings: s.storage.settings, sealer, audit: s.audit, now: () => new Date(), cacheMs: 0 });
    app = await createAdminServer({ ...s.adminDeps, push: certs });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `http://127.0.0.1:${addr.port}`;
    pair = await createLocalPushCertificate({ topic: TOPIC });
  });
  after(async () => {
    await app.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs push.manage; the refusal is on record', async () => {
    const weak = await s.tokenFor(['commands.send']);
    const res = await app.inject({ method: 'POST', url: '/api/v1/push/certificate', headers: { authorization: `Bearer ${weak}`, 'content-type': 'application/json' }, payload: JSON.stringify(pair) });
    assert.equal(res.statusCode, 403);
    assert.equal(s.audit.events.at(-1)?.outcome, 'denied');
    assert.equal(s.audit.events.at(-1)?.details?.permission, 'push.manage');
  });

  it('upload via the API: validated, topic stored, key sealed at rest, audited; show never returns the key', async () => {
    const token = await s.tokenFor(['push.manage']);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let res = await app.inject({ method: 'GET', url: '/api/v1/push/certificate', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 404);
    res = await app.inject({ method: 'POST', url: '/api/v1/push/certificate', headers, payload: JSON.stringify({ certPem: pair.certPem, keyPem: 'garbage' }) });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid private key' });
    assert.equal(s.audit.events.at(-1)?.outcome, 'failure');
    res = await app.inject({ method: 'POST', url: '/api/v1/push/certificate', headers, payload: JSON.stringify({ certPem: pair.certPem, keyPem: pair.keyPem }) });
    assert.equal(res.statusCode, 201, res.body);
    const view = res.json() as { topic: string; state: string; sha256: string };
    assert.equal(view.topic, TOPIC);
    assert.equal(view.state, 'valid');
    assert.equal(await s.storage.settings.get(TOPIC_SETTING), TOPIC);
    const stored = (await s.storage.settings.get(CERT_SETTING))!;
    const keyBody = pair.keyPem.split('\n')[1]!;
    assert.ok(!stored.includes(keyBody), 'the private key is not stored in clear');
    assert.ok(!stored.includes('PRIVATE KEY'));
    const ev = s.audit.events.at(-1)!;
    assert.equal(ev.action, 'push.certificate.upload');
    assert.equal(ev.outcome, 'success');
    assert.equal(ev.details?.sha256, view.sha256);
    res = await app.inject({ method: 'GET', url: '/api/v1/push/certificate', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    assert.ok(!res.body.includes('PRIVATE'));
    assert.equal(s.audit.events.at(-1)?.action, 'push.certificate.read');
    // The APNs side gets the key back.
    const cur = await certs.current();
    assert.equal(cur?.cert.topic, TOPIC);
    assert.match(cur!.cert.keyPem, /BEGIN PRIVATE KEY/);
  });

  it('refuses an expired certificate and a topic change unless asked', async () => {
    const admin = { type: 'token' as const, id: 't', permissions: new Set(['push.manage']) };
    const old = await createLocalPushCertificate({ topic: TOPIC, now: new Date(Date.now() - 400 * 86_400_000), validityDays: 30 });
    await assert.rejects(certs.upload(admin, old), /expired/);
    const other = await createLocalPushCertificate({ topic: 'com.apple.mgmt.External.other' });
    await assert.rejects(certs.upload(admin, other), /topic differs/);
    assert.equal((await certs.upload(admin, { ...other, allowTopicChange: true })).topic, 'com.apple.mgmt.External.other');
    await certs.upload(admin, { ...pair, allowTopicChange: true });
  });

  it('warns before expiry: state expiring, health status', async () => {
    const admin = { type: 'token' as const, id: 't', permissions: new Set(['push.manage']) };
    const soon = await createLocalPushCertificate({ topic: TOPIC, validityDays: 10 });
    await certs.upload(admin, soon);
    assert.equal((await certs.status()).state, 'expiring');
    assert.equal((await certs.current())?.state, 'expiring');
    await certs.upload(admin, pair);
    assert.equal((await certs.status()).state, 'valid');
  });

  it('rampart push cert upload|show', async () => {
    const token = await s.tokenFor(['push.manage']);
    writeFileSync(path.join(dir, 'c.pem'), pair.certPem);
    writeFileSync(path.join(dir, 'k.pem'), pair.keyPem);
    let o = '';
    let e = '';
    const io = { stdout: { write: (x: string) => (o += x) }, stderr: { write: (x: string) => (e += x) }, env: { RAMPART_URL: url, RAMPART_TOKEN: token } };
    assert.equal(await runCli(['push', 'cert', 'upload', '--cert', path.join(dir, 'c.pem'), '--key', path.join(dir, 'k.pem')], io), 0, e);
    assert.match(o, /push certificate installed/);
    assert.match(o, new RegExp(TOPIC.replace(/\./g, '\\.')));
    o = '';
    assert.equal(await runCli(['push', 'cert', 'show', '--json'], io), 0, e);
    assert.equal((JSON.parse(o) as { topic: string }).topic, TOPIC);
    assert.equal(await runCli(['push', 'cert', 'upload', '--cert', path.join(dir, 'missing.pem'), '--key', path.join(dir, 'k.pem')], io), 1);
  });

  it('upload of a .p12 via the API: clear 400s for a wrong password, bad base64 and mixed forms; the failure is on record', async () => {
    const token = await s.tokenFor(['push.manage']);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const post = (body: unknown) => app.inject({ method: 'POST', url: '/api/v1/push/certificate', headers, payload: JSON.stringify(body) });
    const p12 = Buffer.from(opensslP12({ ...pair, password: 'keychain pw', args: ['-legacy'] })).toString('base64');
    let res = await post({ p12, p12Password: 'Tr0ub4dor&3' });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'bad_request', message: 'wrong PKCS#12 password or corrupted file' });
    const ev = s.audit.events.at(-1)!;
    assert.equal(ev.action, 'push.certificate.upload');
    assert.equal(ev.outcome, 'failure');
    assert.ok(!JSON.stringify(ev).includes('Tr0ub4dor'), 'the password is not on record');
    res = await post({ p12: 'not base64!', p12Password: 'x' });
    assert.equal(res.statusCode, 400);
    res = await post({ p12, p12Password: 'keychain pw', certPem: pair.certPem });
    assert.equal(res.statusCode, 400);
    res = await post({ p12: Buffer.from('garbage!').toString('base64'), p12Password: 'x' });
    assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid PKCS#12 file' });
    res = await post({ p12, p12Password: 'keychain pw' });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((res.json() as { topic: string }).topic, TOPIC);
    assert.match((await certs.current())!.cert.keyPem, /BEGIN PRIVATE KEY/);
  });

  it('rampart push certificate upload --p12 --password-file', async () => {
    const token = await s.tokenFor(['push.manage']);
    writeFileSync(path.join(dir, 'push.p12'), opensslP12({ ...pair, password: 'from a file' }));
    writeFileSync(path.join(dir, 'pw.txt'), 'from a file\n');
    let o = '';
    let e = '';
    const io = { stdout: { write: (x: string) => (o += x) }, stderr: { write: (x: string) => (e += x) }, env: { RAMPART_URL: url, RAMPART_TOKEN: token } };
    assert.equal(await runCli(['push', 'certificate', 'upload', '--p12', path.join(dir, 'push.p12'), '--password-file', path.join(dir, 'pw.txt')], io), 0, e);
    assert.match(o, /push certificate installed/);
    e = '';
    assert.equal(await runCli(['push', 'cert', 'upload', '--p12', path.join(dir, 'push.p12')], io), 1);
    assert.match(e, /--password-file/);
    assert.equal(await runCli(['push', 'cert', 'upload', '--p12', path.join(dir, 'push.p12'), '--password-file', path.join(dir, 'pw.txt'), '--cert', path.join(dir, 'c.pem')], io), 1);
    writeFileSync(path.join(dir, 'bad.txt'), 'not it\n');
    e = '';
    assert.equal(await runCli(['push', 'cert', 'upload', '--p12', path.join(dir, 'push.p12'), '--password-file', path.join(dir, 'bad.txt')], io), 1);
    assert.match(e, /wrong PKCS#12 password/);
  });
});
