import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createCertificateAuthority, issueCertificate } from '../pki/authority.ts';
import { signDetached } from '../protocol/cms/sign.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import { buildPlist, type PlistDict } from '../protocol/plist/index.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { parseGatewayMessage, type MdmRequest } from '../ipc/messages.ts';
import type { GatewayLink } from './gateway-link.ts';
import { createDevicePlane } from './device-plane.ts';
import { createRateCounter } from './rate-counter.ts';

const TOPIC = 'com.apple.mgmt.External.rampart-test';
const MAX_BODY = 64 * 1024;

interface Identity {
  certDer: Uint8Array;
  privateKey: KeyObject;
}

describe('gateway link: the core re-verifies what the gateway claims', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let link: GatewayLink;
  let device: Identity;
  let stranger: Identity;
  const logged: Array<{ level: string; obj: object; msg: string }> = [];
  let id = 0;

  before(async () => {
    const now = (): Date => new Date();
    const ca = await createCertificateAuthority({ commonName: 'Test Enrollment CA', validityDays: 30, now: new Date(), keyAlgorithm: 'ecdsa-p256' });
    const otherCa = await createCertificateAuthority({ commonName: 'Someone Else CA', validityDays: 30, now: new Date(), keyAlgorithm: 'ecdsa-p256' });
    const issue = async (from: typeof ca, cn: string): Promise<Identity> => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      return { certDer: await issueCertificate(from, { subject: `CN=${cn}`, publicKey, validityDays: 30, now: new Date(), profile: 'device-identity' }), privateKey };
    };
    device = await issue(ca, 'device');
    stranger = await issue(otherCa, 'stranger');

    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));
    link = createDevicePlane({
      storage: opened.storage,
      audit,
      lookup: audit.log,
      sealer: box,
      trustAnchors: [ca.certDer],
      limits: { maxBodyBytes: MAX_BODY, maxPlistDepth: 32 },
      log: {
        warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
        error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
      },
      now,
      topic: () => TOPIC,
    });
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

  /** What an honest gateway forwards for a body, passed through the IPC schema as the supervisor does. */
  function request(endpoint: 'checkin' | 'connect', body: Uint8Array, opts: { signer?: Identity; signedBytes?: Uint8Array; message?: unknown } = {}): MdmRequest {
    const signature = signDetached(opts.signedBytes ?? body, opts.signer ?? device);
    let message = opts.message;
    if (message === undefined) message = parseDeviceMessage(endpoint, body, { maxBytes: MAX_BODY, maxDepth: 32 }).json;
    const m = JSON.parse(
      JSON.stringify({
        t: 'mdm',
        id: ++id,
        endpoint,
        requestId: `r${id}`,
        source: '203.0.113.9',
        body: b64(body),
        identity: { kind: 'signature', signature: b64(signature) },
        message,
      }),
    ) as unknown;
    const parsed = parseGatewayMessage(m);
    assert.ok(parsed && parsed.t === 'mdm', 'the request fits the IPC schema');
    return parsed;
  }

  const violations = async (requestId: string) =>
    (await audit.log.store.search({ action: 'gateway.integrity_violation', limit: 1000 })).filter((e) => e.requestId === requestId);

  async function expectViolation(req: MdmRequest, reason: string): Promise<void> {
    const devicesBefore = await opened.storage.devices.count();
    const r = await link.handleMdm(req);
    assert.equal(r.status, 400);
    assert.equal(r.id, req.id);
    assert.equal(Buffer.from(r.body ?? '', 'base64').toString(), 'bad request\n');
    const v = await violations(req.requestId);
    assert.equal(v.length, 1, reason);
    assert.equal(v[0]!.outcome, 'denied');
    assert.equal(v[0]!.actorType, 'gateway');
    assert.deepEqual(JSON.parse(v[0]!.entry).details, { reason, endpoint: req.endpoint });
    assert.equal(await opened.storage.devices.count(), devicesBefore, 'nothing stored');
  }

  const authenticate = (udid: string): PlistDict => ({ MessageType: 'Authenticate', UDID: udid, Topic: TOPIC, SerialNumber: 'S1' });

  it('an honest request is dispatched and answered', async () => {
    const req = request('checkin', buildPlist(authenticate('LINK-OK')));
    const r = await link.handleMdm(req);
    assert.equal(r.status, 200);
    assert.equal(r.id, req.id);
    assert.equal((await opened.storage.devices.get('LINK-OK'))!.status, 'authenticated');
    assert.equal((await violations(req.requestId)).length, 0);
  });

  it('refuses a claimed message that differs from the body', async () => {
    const body = buildPlist(authenticate('LINK-A'));
    const honest = parseDeviceMessage('checkin', body, {}).json as Record<string, unknown>;
    await expectViolation(request('checkin', body, { message: { ...honest, UDID: 'LINK-B' } }), 'message_mismatch');
    await expectViolation(request('checkin', body, { message: { ...honest, Extra: 1 } }), 'message_mismatch');
    await expectViolation(request('checkin', body, { message: null }), 'message_mismatch');
    await expectViolation(request('checkin', body, { message: 'anything' }), 'message_mismatch');
    assert.equal(await opened.storage.devices.get('LINK-A'), undefined);
    assert.equal(await opened.storage.devices.get('LINK-B'), undefined);
  });

  it('refuses a body swapped under a claimed message (gateway parsed one body, forwarded another)', async () => {
    const real = buildPlist(authenticate('LINK-C'));
    const claimed = parseDeviceMessage('checkin', buildPlist(authenticate('LINK-D')), {}).json;
    await expectViolation(request('checkin', real, { message: claimed }), 'message_mismatch');
  });

  it('refuses a signature over other bytes', async () => {
    const body = buildPlist(authenticate('LINK-E'));
    const other = buildPlist(authenticate('LINK-F'));
    await expectViolation(request('checkin', body, { signedBytes: other }), 'identity_not_verified');
    // One byte appended after signing.
    const longer = new Uint8Array([...body, 0x0a]);
    await expectViolation(request('checkin', longer, { signedBytes: body, message: parseDeviceMessage('checkin', longer, {}).json }), 'identity_not_verified');
  });

  it('refuses a signature by a certificate from another CA', async () => {
    await expectViolation(request('checkin', buildPlist(authenticate('LINK-G')), { signer: stranger }), 'identity_not_verified');
  });

  it('refuses garbage identity proofs', async () => {
    const base = request('checkin', buildPlist(authenticate('LINK-H')));
    await expectViolation({ ...base, requestId: 'garbage1', identity: { kind: 'signature', signature: '' } }, 'identity_not_verified');
    await expectViolation({ ...base, requestId: 'garbage2', identity: { kind: 'signature', signature: b64(randomBytes(300)) } }, 'identity_not_verified');
    await expectViolation({ ...base, requestId: 'garbage3', identity: { kind: 'client-cert', certDer: b64(stranger.certDer) } }, 'identity_not_verified');
  });

  it('refuses an empty or oversized body', async () => {
    const base = request('checkin', buildPlist(authenticate('LINK-I')));
    await expectViolation({ ...base, requestId: 'empty', body: '' }, 'body_size');
    const big = new Uint8Array(MAX_BODY + 1).fill(0x20);
    await expectViolation({ ...base, requestId: 'big', body: b64(big) }, 'body_size');
  });

  it('refuses a signed body the core cannot parse', async () => {
    const body = new TextEncoder().encode('<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x "y">]><plist><dict/></plist>');
    await expectViolation(request('checkin', body, { message: {} }), 'body_not_parsed');
    const deep = new TextEncoder().encode(`<plist version="1.0">${'<array>'.repeat(40)}${'</array>'.repeat(40)}</plist>`);
    await expectViolation(request('checkin', deep, { message: {} }), 'body_not_parsed');
  });

  it('a check-in body claimed as a connect report is refused', async () => {
    const body = buildPlist(authenticate('LINK-J'));
    const claimed = parseDeviceMessage('checkin', body, {}).json;
    await expectViolation(request('connect', body, { message: claimed }), 'body_not_parsed');
  });

  it('a client certificate from the enrollment CA is accepted as the identity', async () => {
    const body = buildPlist(authenticate('LINK-CERT'));
    const base = request('checkin', body);
    const r = await link.handleMdm({ ...base, identity: { kind: 'client-cert', certDer: b64(device.certDer) } });
    assert.equal(r.status, 200);
    assert.ok(await opened.storage.devices.get('LINK-CERT'));
  });

  it('service refusals become their fixed status, without a violation entry', async () => {
    // Connect from an unknown device: the service answers 401.
    const req = request('connect', buildPlist({ UDID: 'LINK-NOBODY', Status: 'Idle' }));
    const r = await link.handleMdm(req);
    assert.equal(r.status, 401);
    assert.equal(Buffer.from(r.body!, 'base64').toString(), 'unauthorized\n');
    assert.equal((await violations(req.requestId)).length, 0);
    // A valid plist with an invalid device identifier: 400 from device-input.
    const bad = request('checkin', buildPlist({ MessageType: 'Authenticate', UDID: 'LINK+PLUS', Topic: TOPIC }));
    const rb = await link.handleMdm(bad);
    assert.equal(rb.status, 400);
    assert.equal(await opened.storage.devices.get('LINK+PLUS'), undefined);
  });

  it('gateway rejections are recorded, a flood from one source summarised', async () => {
    const counter = createRateCounter(3, 60_000);
    const before = (await audit.log.store.search({ action: 'device_plane.rejected', limit: 1000 })).length;
    for (let i = 0; i < 10; i++) {
      await link.handleRejection({ t: 'rejected', endpoint: 'checkin', reason: 'bad_signature', status: 401, source: '203.0.113.50', requestId: `rej${i}` }, counter);
    }
    const after = await audit.log.store.search({ action: 'device_plane.rejected', limit: 1000 });
    assert.equal(after.length - before, 3);
    assert.equal(after.at(-1)!.outcome, 'denied');
  });
});
