// Installing an APNs push certificate is a four-eyes action: the upload is
// staged (key sealed), a second administrator approves its SHA-256, topic and
// expiry (never the key), and only then does it become the current one.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestStack, type TestStack } from '../admin/testkit.ts';
import { createAdminServer } from '../admin/server.ts';
import { SecretBox, createKeyRing } from '../keys/secret-box.ts';
import { CERT_SETTING, createPushCertService, registerPushExecutors } from './cert-service.ts';
import { createLocalPushCertificate } from './local-apns.ts';

let s: TestStack | undefined;
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers) await c();
  await s?.close();
});

describe('push certificate under four-eyes approval', () => {
  it('is staged, approved by a second administrator, then installed; the approval never carries the key', async () => {
    const st = (s = await createTestStack());
    const sealer = new SecretBox(createKeyRing([{ id: 'k1', key: randomBytes(32) }], 'k1'));
    const certs = createPushCertService({ settings: st.storage.settings, sealer, audit: st.audit, now: () => new Date(), cacheMs: 0, gate: st.authz.gate });
    registerPushExecutors(st.authz.gate, certs);
    const app = await createAdminServer({ ...st.adminDeps, push: certs });
    closers.push(() => app.close());
    const pair = await createLocalPushCertificate({ topic: 'com.apple.mgmt.External.four-eyes' });
    const auth = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

    const held = await app.inject({ method: 'POST', url: '/api/v1/push/certificate', headers: auth(st.rootToken), payload: JSON.stringify({ certPem: pair.certPem, keyPem: pair.keyPem }) });
    assert.equal(held.statusCode, 202, held.body);
    assert.ok(!held.body.includes('PRIVATE KEY'));
    const approval = held.json() as { id: string; action: string };
    assert.equal(approval.action, 'push.certificate');
    assert.equal(await st.storage.settings.get(CERT_SETTING), undefined, 'nothing installed yet');

    const officer = await st.adminWithToken('push-officer', ['owner']);
    assert.equal((await app.inject({ method: 'POST', url: `/api/v1/approvals/${approval.id}/approve`, headers: { authorization: `Bearer ${st.rootToken}` } })).statusCode, 403);
    const ok = await app.inject({ method: 'POST', url: `/api/v1/approvals/${approval.id}/approve`, headers: { authorization: `Bearer ${officer.token}` } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.ok(!ok.body.includes('PRIVATE KEY'));
    const installed = JSON.parse((await st.storage.settings.get(CERT_SETTING))!) as { topic: string; keySealed: string };
    assert.equal(installed.topic, 'com.apple.mgmt.External.four-eyes');
    assert.ok(!JSON.stringify(installed).includes('PRIVATE KEY'), 'the key is sealed at rest');
    const shown = await app.inject({ method: 'GET', url: '/api/v1/push/certificate', headers: { authorization: `Bearer ${st.rootToken}` } });
    assert.equal(shown.statusCode, 200, shown.body);
    // A replayed approval installs nothing twice.
    assert.equal((await app.inject({ method: 'POST', url: `/api/v1/approvals/${approval.id}/approve`, headers: { authorization: `Bearer ${officer.token}` } })).statusCode, 409);
  });
});
