// The APNs client against a local HTTP/2 TLS server standing in for Apple
// (src/push/local-apns.ts): client certificate required, topic checked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, createApnsClient, type ApnsCredentials } from './apns.ts';
import { createLocalPushCertificate, startLocalApns, type LocalApns, type LocalApnsReply, type LocalPush } from './local-apns.ts';
import { parsePushCertificate } from './certificate.ts';

const TOPIC = 'com.apple.mgmt.External.apns-test';
const TOKEN = 'ab'.repeat(32);

describe('APNs client', () => {
  let apns: LocalApns;
  let creds: ApnsCredentials;
  let caPem: string;
  const pushes: LocalPush[] = [];
  let reply: (p: LocalPush) => LocalApnsReply = () => ({ status: 200 });
  const noSleep = { sleep: async () => {}, random: () => 0.5 };

  before(async () => {
    const pc = await createLocalPushCertificate({ topic: TOPIC });
    const parsed = parsePushCertificate(pc.certPem, pc.keyPem);
    creds = { certPem: parsed.certPem, keyPem: parsed.keyPem, topic: parsed.topic, sha256: parsed.sha256 };
    caPem = pc.caPem;
    apns = await startLocalApns({ clientCaPem: pc.caPem, onPush: (p) => pushes.push(p), reply: (p) => reply(p) });
  });
  after(async () => {
    await apns.close();
  });

  it('sends {"mdm": PushMagic} with the certificate topic over a client-authenticated HTTP/2 connection', async () => {
    const client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, ...noSleep });
    try {
      pushes.length = 0;
      const out = await client.push(creds, TOKEN, 'magic-1');
      assert.deepEqual(out, { status: 'sent', attempts: 1 });
      assert.deepEqual(pushes, [{ token: TOKEN, topic: TOPIC, pushMagic: 'magic-1' }]);
      // Many pushes share the pooled sessions.
      const many = await Promise.all(Array.from({ length: 300 }, (_, i) => client.push(creds, i.toString(16).padStart(64, '0'), `m${i}`)));
      assert.ok(many.every((o) => o.status === 'sent'));
      assert.equal(pushes.length, 301);
    } finally {
      client.close();
    }
  });

  it('retries 429, 5xx and dropped connections, then succeeds', async () => {
    const client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, ...noSleep });
    try {
      const answers: LocalApnsReply[] = [{ status: 429, reason: 'TooManyRequests' }, { status: 503, reason: 'ServiceUnavailable' }, { destroy: true }, { status: 200 }];
      reply = () => answers.shift() ?? { status: 200 };
      const out = await client.push(creds, TOKEN, 'magic-2');
      assert.deepEqual(out, { status: 'sent', attempts: 4 });
      assert.equal(client.stats().retries, 3);
    } finally {
      reply = () => ({ status: 200 });
      client.close();
    }
  });

  it('gives up after maxAttempts with the last reason', async () => {
    const client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, maxAttempts: 3, ...noSleep });
    try {
      reply = () => ({ status: 500, reason: 'InternalServerError' });
      const out = await client.push(creds, TOKEN, 'magic-3');
      assert.deepEqual(out, { status: 'failed', reason: 'InternalServerError', httpStatus: 500, attempts: 3 });
    } finally {
      reply = () => ({ status: 200 });
      client.close();
    }
  });

  it('410 and 400 BadDeviceToken mark the token invalid; other 4xx fail without retry', async () => {
    const client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, ...noSleep });
    try {
      reply = () => ({ status: 410, reason: 'Unregistered' });
      assert.deepEqual(await client.push(creds, TOKEN, 'm'), { status: 'invalid_token', reason: 'Unregistered', attempts: 1 });
      reply = () => ({ status: 400, reason: 'BadDeviceToken' });
      assert.deepEqual(await client.push(creds, TOKEN, 'm'), { status: 'invalid_token', reason: 'BadDeviceToken', attempts: 1 });
      reply = () => ({ status: 403, reason: 'BadCertificate' });
      assert.deepEqual(await client.push(creds, TOKEN, 'm'), { status: 'failed', reason: 'BadCertificate', httpStatus: 403, attempts: 1 });
      // A malformed token never leaves the process.
      assert.equal((await client.push(creds, 'not-hex', 'm')).status, 'invalid_token');
    } finally {
      reply = () => ({ status: 200 });
      client.close();
    }
  });

  it('the server refuses a wrong topic; a client without the right certificate cannot connect', async () => {
    const client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, maxAttempts: 2, ...noSleep });
    try {
      const out = await client.push({ ...creds, topic: 'com.apple.mgmt.External.other' }, TOKEN, 'm');
      assert.equal(out.status, 'invalid_token');
      const stranger = await createLocalPushCertificate({ topic: TOPIC });
      const p = parsePushCertificate(stranger.certPem, stranger.keyPem);
      const refused = await client.push({ certPem: p.certPem, keyPem: p.keyPem, topic: TOPIC, sha256: p.sha256 }, TOKEN, 'm');
      assert.equal(refused.status, 'failed');
      assert.equal(refused.attempts, 2);
    } finally {
      client.close();
    }
    assert.ok(caPem.includes('BEGIN CERTIFICATE'));
  });

  it('bounds pushes in flight', async () => {
    // The server holds every answer until released; with a bound of 5 it can never hold more than 5.
    let held = 0;
    let peak = 0;
    let release: () => void = () => {};
    let gate = new Promise<void>((r) => { release = r; });
    const slow = await startLocalApns({
      clientCaPem: caPem,
      reply: async () => {
        held++;
        peak = Math.max(peak, held);
        await gate;
        held--;
        return { status: 200 };
      },
    });
    const client = createApnsClient({ baseUrl: slow.url, ca: slow.caPem, concurrency: 5, ...noSleep });
    try {
      const all = Promise.all(Array.from({ length: 50 }, () => client.push(creds, TOKEN, 'm')));
      while (held < 5) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(held, 5);
      release();
      gate = Promise.resolve();
      const outs = await all;
      assert.ok(outs.every((o) => o.status === 'sent'));
      assert.ok(peak <= 5, `peak ${peak}`);
    } finally {
      client.close();
      await slow.close();
    }
  });

  it('back-off grows exponentially, is capped, and is jittered', () => {
    assert.equal(backoffMs(1, 100, 10_000, () => 1), 100);
    assert.equal(backoffMs(3, 100, 10_000, () => 1), 400);
    assert.equal(backoffMs(3, 100, 10_000, () => 0), 200);
    assert.equal(backoffMs(20, 100, 10_000, () => 1), 10_000);
  });
});
