import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { AuditLog } from './log.ts';
import { generateNoteKey, parseSignerKey } from './note.ts';
import {
  SIGNATURE_HEADER, SiemForwarder, SyslogTlsTransport, WebhookTransport, formatSyslog, octetFrame, parseOctetFrames, webhookSignature,
} from './siem.ts';
import { sqliteStore, tempDir } from './testdata/helpers.ts';
import type { StoredEntry } from './store.ts';

const signer = parseSignerKey(generateNoteKey('rampart.test/audit').signerKey);

function selfSigned(dir: string): { key: string; cert: string } {
  const k = join(dir, 'key.pem');
  const c = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', k, '-out', c, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { key: readFileSync(k, 'utf8'), cert: readFileSync(c, 'utf8') };
}

const ev = (i: number) => ({ action: 'command.enqueue', actor: { type: 'admin' as const, id: 'a"]\\' }, outcome: 'success' as const, details: { i } });
const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('RFC 5424 formatting and octet-counting framing', () => {
  const e: StoredEntry = {
    index: 7, time: '2025-01-02T03:04:05.678Z', actorType: 'admin', actorId: 'x', action: 'admin.login', targetType: null, targetId: null,
    source: null, outcome: 'denied', requestId: null, entry: '{"a":"é"}', leafHash: Buffer.alloc(32, 0xab),
  };
  const m = formatSyslog(e, { hostname: 'mdm host', appName: 'rampart' });
  assert.equal(m, `<108>1 2025-01-02T03:04:05.678Z mdm_host rampart - admin.login [rampart@32473 index="7" leafHash="${'ab'.repeat(32)}" outcome="denied"] \ufeff{"a":"é"}`);
  const f = Buffer.concat([octetFrame(m), octetFrame('x')]);
  assert.ok(f.toString('utf8').startsWith(`${Buffer.byteLength(m)} <108>`));
  const p = parseOctetFrames(Buffer.concat([f, Buffer.from('12 partial')]));
  assert.deepEqual(p.messages, [m, 'x']);
  assert.equal(p.rest.toString(), '12 partial');
});

test('syslog over TLS: outage loses nothing, delivery resumes in order', async () => {
  const fx = await sqliteStore();
  const td = tempDir();
  const { key, cert } = selfSigned(td.dir);
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const listen = (port = 0) => new Promise<ReturnType<typeof createTlsServer>>((resolve) => {
    const srv = createTlsServer({ key, cert }, (s) => {
      sockets.add(s);
      let buf: Buffer = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        const r = parseOctetFrames(Buffer.concat([buf, d]));
        buf = r.rest;
        received.push(...r.messages);
      });
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
  let srv = await listen();
  const port = (srv.address() as AddressInfo).port;
  const log = await AuditLog.open({ store: fx.store, origin: 'rampart.test/audit', signer });
  const fwd = new SiemForwarder({
    store: fx.store, name: 'syslog', transport: new SyslogTlsTransport({ host: '127.0.0.1', port, ca: cert, servername: 'localhost', hostname: 'mdm' }),
    batchSize: 7, pollMs: 20, retryMinMs: 20, retryMaxMs: 100,
  });
  try {
    for (let i = 0; i < 20; i++) await log.record(ev(i));
    fwd.start();
    await until(() => received.length >= 20);
    // Outage: server down, entries keep arriving.
    await new Promise<void>((r) => {
      srv.close(() => r());
      for (const s of sockets) s.destroy();
    });
    for (let i = 20; i < 50; i++) await log.record(ev(i));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(await fx.store.getCursor('syslog') < 50);
    srv = await listen(port);
    await until(() => new Set(received).size >= 50);
    const indices = received.map((m) => Number(/index="(\d+)"/.exec(m)![1]));
    // In order, nothing lost; a batch cut off by the outage may be repeated (at-least-once).
    const dedup = indices.filter((x, i) => i === 0 || x > indices[i - 1]!);
    assert.deepEqual(dedup, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(await fx.store.getCursor('syslog'), 50);
    assert.match(received[0]!, /^<110>1 \S+ mdm rampart - command\.enqueue \[rampart@32473 index="0" /);
  } finally {
    await fwd.stop();
    await log.close();
    await new Promise<void>((r) => {
      srv.close(() => r());
      for (const s of sockets) s.destroy();
    });
    await fx.cleanup();
    td.cleanup();
  }
});

test('JSON webhook with HMAC signature: retried through 503s, in order, complete', async () => {
  const fx = await sqliteStore();
  const td = tempDir();
  const { key, cert } = selfSigned(td.dir);
  const secret = 'shared-secret';
  let failing = true;
  const got: number[] = [];
  let badSig = 0;
  const srv = createHttpsServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const sig = String(req.headers[SIGNATURE_HEADER] ?? '');
      const t = Number(/^t=(\d+),/.exec(sig)?.[1]);
      if (sig !== webhookSignature(secret, t, body)) {
        badSig++;
        res.statusCode = 401;
        return res.end();
      }
      if (failing) {
        res.statusCode = 503;
        return res.end();
      }
      for (const e of (JSON.parse(body) as { entries: { index: number }[] }).entries) got.push(e.index);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `https://localhost:${(srv.address() as AddressInfo).port}/siem`;
  const log = await AuditLog.open({ store: fx.store, origin: 'rampart.test/audit', signer });
  const errors: unknown[] = [];
  const fwd = new SiemForwarder({
    store: fx.store, name: 'webhook', transport: new WebhookTransport({ url, secret, ca: cert }),
    batchSize: 10, pollMs: 20, retryMinMs: 10, retryMaxMs: 50, onError: (e) => errors.push(e),
  });
  try {
    for (let i = 0; i < 25; i++) await log.record(ev(i));
    fwd.start();
    await until(() => errors.length >= 3);
    assert.deepEqual(got, []);
    assert.equal(await fx.store.getCursor('webhook'), 0);
    failing = false;
    await until(() => got.length >= 25);
    for (let i = 25; i < 30; i++) await log.record(ev(i));
    fwd.kick();
    await until(() => got.length >= 30);
    assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => i));
    assert.equal(badSig, 0);
    // A receiver holding another secret refuses: the signature is checked.
    assert.notEqual(webhookSignature('other', 1, '{}'), webhookSignature(secret, 1, '{}'));
    assert.throws(() => new WebhookTransport({ url: 'http://x/', secret }), /https/);
  } finally {
    await fwd.stop();
    await log.close();
    await new Promise<void>((r) => srv.close(() => r()));
    await fx.cleanup();
    td.cleanup();
  }
});

test('kill -9 of the forwarder mid-delivery: the unacknowledged batch is resent after restart, nothing lost, in order', async () => {
  const { spawn } = await import('node:child_process');
  const fx = await sqliteStore();
  const td = tempDir();
  const { key, cert } = selfSigned(td.dir);
  const caPath = join(td.dir, 'cert.pem');
  const log = await AuditLog.open({ store: fx.store, origin: 'rampart.test/audit', signer });
  for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => log.record(ev(i + j))));
  await log.close();

  const accepted: number[] = [];
  const requests: number[][] = [];
  let child: ReturnType<typeof spawn> | null = null;
  let killAt = 3; // the 3rd request of the first run: SIGKILL before answering it
  const srv = createHttpsServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const idx = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { entries: { index: number }[] }).entries.map((e) => e.index);
      requests.push(idx);
      if (requests.length === killAt && child) {
        child.kill('SIGKILL');
        killAt = -1;
        res.destroy();
        return;
      }
      accepted.push(...idx);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `https://localhost:${(srv.address() as AddressInfo).port}/siem`;
  const run = () =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [join(import.meta.dirname, 'testdata', 'siem-child.ts'), fx.path, url, caPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      child = c;
      let out = '';
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code, signal) => resolve({ code, signal, out }));
    });
  try {
    const first = await run();
    assert.equal(first.signal, 'SIGKILL');
    assert.deepEqual(accepted, Array.from({ length: 50 }, (_, i) => i), 'two batches acknowledged before the kill');
    const second = await run();
    assert.equal(second.code, 0);
    assert.match(second.out, /done/);
    // The batch that was in flight at the kill is the first one resent; nothing skipped, nothing out of order.
    assert.deepEqual(requests[2], requests[3]);
    assert.deepEqual(accepted, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(await fx.store.getCursor('siem-test'), 200);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    await fx.cleanup();
    td.cleanup();
  }
});
