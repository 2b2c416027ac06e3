// The device plane end to end inside one process: a plain node:http server
// running the real request handler and the real gateway protocol (CMS
// verification, plist parsing), forwarding through the real IPC client and
// the IPC schema to the real core link, services, SQLite storage and audit log.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createCertificateAuthority, issueCertificate } from '../pki/authority.ts';
import { signDetached } from '../protocol/cms/sign.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { buildPlist, parsePlistDict, type PlistDict, type PlistValue } from '../protocol/plist/index.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { parseGatewayMessage, type Rejection } from '../ipc/messages.ts';
import { createRateCounter } from '../core/rate-counter.ts';
import { createDevicePlane } from '../core/device-plane.ts';
import { createRequestHandler, sendFixed } from './handler.ts';
import { createIpcClient } from './ipc-client.ts';
import { createGatewayProtocol } from './protocol.ts';

const TOPIC = 'com.apple.mgmt.External.rampart-test';
const MAX_BODY = 32 * 1024;
const MAX_DEPTH = 16;

interface Identity {
  certDer: Uint8Array;
  privateKey: KeyObject;
}

interface Answer {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

describe('device plane request handler (real gateway, IPC, core, storage)', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let server: http.Server;
  let port: number;
  let device: Identity;
  let device2: Identity;
  let stranger: Identity;
  const rejections: Rejection[] = [];
  const coreErrors: string[] = [];

  before(async () => {
    const now = (): Date => new Date();
    const ca = await createCertificateAuthority({ commonName: 'Test Enrollment CA', validityDays: 30, now: new Date(), keyAlgorithm: 'ecdsa-p256' });
    const otherCa = await createCertificateAuthority({ commonName: 'Test Enrollment CA', validityDays: 30, now: new Date(), keyAlgorithm: 'ecdsa-p256' });
    const issue = async (from: typeof ca, cn: string): Promise<Identity> => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      return { certDer: await issueCertificate(from, { subject: `CN=${cn}`, publicKey, validityDays: 30, now: new Date(), profile: 'device-identity' }), privateKey };
    };
    device = await issue(ca, 'device-1');
    device2 = await issue(ca, 'device-2');
    // Same CA name, different key: only the signature on the certificate tells them apart.
    stranger = await issue(otherCa, 'device-1');

    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));
    const link = createDevicePlane({
      storage: opened.storage,
      audit,
      lookup: audit.log,
      sealer: box,
      trustAnchors: [ca.certDer],
      limits: { maxBodyBytes: MAX_BODY, maxPlistDepth: MAX_DEPTH },
      log: { warn: () => {}, error: (obj, msg) => void coreErrors.push(`${msg} ${JSON.stringify(obj)}`) },
      now,
      topic: () => TOPIC,
    });
    const counter = createRateCounter(1000, 60_000);

    // The IPC channel as the supervisor runs it: JSON both ways, the core validates what the gateway sends.
    const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
    const toCore = (raw: unknown): void => {
      const m = parseGatewayMessage(roundTrip(raw));
      if (!m) throw new Error('the gateway sent a message outside the IPC schema');
      if (m.t === 'mdm') {
        link.handleMdm(m).then(
          (r) => client.onResponse(roundTrip(r)),
          () => client.onResponse({ t: 'response', id: m.id, status: 500 }),
        );
      } else if (m.t === 'rejected') {
        rejections.push(m);
        void link.handleRejection(m, counter);
      }
    };
    const client = createIpcClient({ send: (m) => setImmediate(() => toCore(m)) }, 5000);
    const handler = createRequestHandler(
      {
        protocol: createGatewayProtocol({ trustAnchors: [ca.certDer], maxBodyBytes: MAX_BODY, maxPlistDepth: MAX_DEPTH }),
        forward: (r) => client.request(r),
        reject: (r) => toCore({ t: 'rejected', ...r }),
      },
      { maxBodyBytes: MAX_BODY, proxyClientCertHeader: null, trustedProxies: new Set() },
    );
    // The same server options and clientError handling as src/gateway/main.ts, without TLS.
    server = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000, maxHeaderSize: 32 * 1024 }, (req, res) => {
      handler(req, res).catch(() => sendFixed(res, 503));
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await audit.close();
    await opened.close();
  });

  function send(opts: { method?: string; path: string; headers?: Record<string, string>; body?: Uint8Array; chunked?: boolean; declaredLength?: number }): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      const body = opts.body ?? new Uint8Array(0);
      if (opts.declaredLength !== undefined) headers['Content-Length'] = String(opts.declaredLength);
      else if (!opts.chunked) headers['Content-Length'] = String(body.length);
      const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'PUT', path: opts.path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers });
        });
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no answer within 10 s: ${opts.method ?? 'PUT'} ${opts.path}`));
      }, 10_000);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      if (opts.declaredLength !== undefined) {
        req.flushHeaders();
        return; // the body never comes: the answer must not wait for it
      }
      if (opts.chunked) {
        // Several chunks, no Content-Length: the limit must hold on the stream too.
        for (let i = 0; i < body.length; i += 4096) req.write(body.subarray(i, i + 4096));
        req.end();
      } else req.end(body);
    });
  }

  const signature = (body: Uint8Array, who: Identity = device): string => Buffer.from(signDetached(body, who)).toString('base64');
  const signed = (path: string, dict: PlistDict | Uint8Array, who: Identity = device): Promise<Answer> => {
    const body = dict instanceof Uint8Array ? dict : buildPlist(dict);
    return send({ path, body, headers: { 'Content-Type': 'application/x-apple-aspen-mdm', 'Mdm-Signature': signature(body, who) } });
  };

  const deviceCount = () => opened.storage.devices.count();
  const UDID = 'A1B2C3D4-0000-4000-8000-000000000001';

  const fixed = (a: Answer, status: number, text: string): void => {
    assert.equal(a.status, status);
    assert.equal(a.body.toString(), text);
    assert.equal(a.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'no-store');
    assert.equal(a.headers['x-content-type-options'], 'nosniff');
    assert.match(String(a.headers['x-request-id']), /^[A-Za-z0-9_-]{16}$/);
  };

  it('unknown routes, methods and path variants answer a fixed 404, even when correctly signed', async () => {
    const body = buildPlist({ MessageType: 'Authenticate', UDID, Topic: TOPIC });
    const sig = signature(body);
    const variants: Array<[string, string]> = [
      ['GET', '/mdm/checkin'], ['POST', '/mdm/connect'], ['DELETE', '/mdm'], ['PATCH', '/mdm/checkin'],
      ['PUT', '/'], ['PUT', '/mdm/'], ['PUT', '/mdm/checkin/'], ['PUT', '//mdm/checkin'], ['PUT', '/MDM/checkin'],
      ['PUT', '/mdm/../mdm/checkin'], ['PUT', '/mdm/%2e%2e/mdm/checkin'], ['PUT', '/mdm%2Fcheckin'], ['PUT', '/mdm/checkin?x=1'],
      ['PUT', '/mdm/checkin;jsessionid=1'], ['PUT', '/./mdm/checkin'], ['PUT', '/api/v1/health'], ['GET', '/metrics'],
      ['PUT', '/mdm/checkin%00'], ['PUT', 'http://127.0.0.1/mdm/checkin'], ['PUT', '*'],
    ];
    for (const [method, path] of variants) {
      const a = await send({ method, path, body, headers: { 'Mdm-Signature': sig } });
      fixed(a, 404, 'not found\n');
    }
    assert.equal(await deviceCount(), 0);
  });

  it('a missing, garbage or foreign Mdm-Signature answers 401 and nothing is stored', async () => {
    const body = buildPlist({ MessageType: 'Authenticate', UDID, Topic: TOPIC });
    const cases: Array<Record<string, string>> = [
      {},
      { 'Mdm-Signature': '' },
      { 'Mdm-Signature': 'not base64 at all!' },
      { 'Mdm-Signature': 'AAA' },
      { 'Mdm-Signature': Buffer.from(randomBytes(512)).toString('base64') },
      { 'Mdm-Signature': 'A'.repeat(30_000) }, // oversized: refused before decoding
      { 'Mdm-Signature': signature(buildPlist({ MessageType: 'Authenticate', UDID: 'OTHER', Topic: TOPIC })) }, // over other bytes
      { 'Mdm-Signature': signature(body, stranger) }, // a certificate from another CA
      { 'Mdm-Signature': signature(body).slice(0, -8) + 'AAAAAAA=' },
    ];
    for (const headers of cases) {
      const a = await send({ path: '/mdm/checkin', body, headers });
      fixed(a, 401, 'unauthorized\n');
    }
    assert.equal(await deviceCount(), 0);
    assert.ok(rejections.some((r) => r.reason === 'missing_signature' && r.status === 401));
    assert.ok(rejections.some((r) => r.reason === 'bad_signature' && r.status === 401));
  });

  it('a body over the limit answers 413: declared up front, or streamed without a length', async () => {
    const a = await send({ path: '/mdm/checkin', declaredLength: MAX_BODY + 1, headers: { 'Mdm-Signature': signature(new Uint8Array([1])) } });
    fixed(a, 413, 'payload too large\n');
    const huge = await send({ path: '/mdm/connect', declaredLength: 10 ** 11, headers: { 'Mdm-Signature': signature(new Uint8Array([1])) } });
    fixed(huge, 413, 'payload too large\n');
    const big = new Uint8Array(MAX_BODY + 10).fill(0x41);
    const streamed = await send({ path: '/mdm/checkin', body: big, chunked: true, headers: { 'Mdm-Signature': signature(big) } });
    fixed(streamed, 413, 'payload too large\n');
    // The identity proof comes first: no signature, no body read, 401 whatever the length.
    const unsigned = await send({ path: '/mdm/checkin', declaredLength: MAX_BODY + 1 });
    fixed(unsigned, 401, 'unauthorized\n');
    assert.equal(await deviceCount(), 0);
  });

  it('an empty signed body answers 400', async () => {
    const a = await send({ path: '/mdm/checkin', body: new Uint8Array(0), headers: { 'Mdm-Signature': signature(new Uint8Array([0x20])) } });
    fixed(a, 400, 'bad request\n');
  });

  // Fuzz (a): anyone without a valid identity never gets past 400/401/404/413, and nothing is stored.
  it('fuzz: unsigned, mis-signed and malformed requests are refused without storing anything', async () => {
    const goodBody = buildPlist({ MessageType: 'Authenticate', UDID, Topic: TOPIC });
    const headerText = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 300 }).map((cs) => String.fromCharCode(...cs));
    const sigHeader = fc.oneof(
      fc.constant(undefined),
      headerText,
      fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => Buffer.from(b).toString('base64')),
      fc.constant(signature(goodBody)), // valid, but over other bytes (unless the body happens to be goodBody)
      fc.constant(signature(goodBody, stranger)),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }),
      // A well-formed check-in whose bytes no generated signature covers.
      fc.constant(buildPlist({ MessageType: 'Authenticate', UDID: 'FUZZ-OTHER', Topic: TOPIC })),
      fc.string({ maxLength: 500 }).map((s) => new TextEncoder().encode(`<?xml version="1.0"?><plist version="1.0"><dict>${s}</dict></plist>`)),
    );
    const path = fc.constantFrom('/mdm/checkin', '/mdm/connect', '/mdm', '/mdm/checkin/', '/x', '/mdm?x');
    const method = fc.constantFrom('PUT', 'PUT', 'PUT', 'POST', 'GET');
    const extra = fc.dictionary(fc.constantFrom('content-type', 'x-forwarded-for', 'client-cert', 'x-ssl-client-cert', 'transfer-encoding-x', 'mdm-signature-2'), headerText, { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(method, path, sigHeader, body, extra, async (m, p, sig, b, h) => {
        const headers: Record<string, string> = { ...h };
        if (sig !== undefined) headers['Mdm-Signature'] = sig;
        const a = await send({ method: m, path: p, body: b, headers });
        assert.ok([400, 401, 404, 413].includes(a.status), `status ${a.status}`);
        assert.equal(await deviceCount(), 0);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
    assert.deepEqual(coreErrors, []);
  });

  describe('an enrolled device', () => {
    const snapshot = async (): Promise<string> =>
      JSON.stringify({
        device: await opened.storage.devices.get(UDID),
        queue: await opened.storage.queue.entriesForDevice(UDID, { limit: 1000 }),
        apps: await opened.storage.devices.listApps(UDID),
        devices: await deviceCount(),
      });
    let uuidSeq = 0;
    const enqueue = async (requestType: string, payload: Record<string, unknown> = {}): Promise<string> => {
      const uuid = `CMD-${++uuidSeq}-${randomUUID()}`;
      const c = buildCommand({ uuid, requestType, payload });
      await opened.storage.queue.enqueue({ uuid, requestType, payload: c.plist, createdBy: 'test' }, [UDID], new Date().toISOString());
      return uuid;
    };

    it('Authenticate, TokenUpdate and connect: 200 through the whole pipeline', async () => {
      const auth = await signed('/mdm/checkin', { MessageType: 'Authenticate', UDID, Topic: TOPIC, SerialNumber: 'SER-1', Model: 'iPhone15,2', OSVersion: '18.1' });
      assert.equal(auth.status, 200);
      assert.equal(auth.body.length, 0);
      assert.equal((await opened.storage.devices.get(UDID))!.status, 'authenticated');
      const tu = await signed('/mdm/checkin', {
        MessageType: 'TokenUpdate', UDID, Topic: TOPIC, Token: new Uint8Array(randomBytes(32)), PushMagic: 'MAGIC', UnlockToken: new Uint8Array(randomBytes(32)),
      });
      assert.equal(tu.status, 200);
      assert.equal((await opened.storage.devices.get(UDID))!.status, 'enrolled');

      const idle = await signed('/mdm/connect', { UDID, Status: 'Idle' });
      assert.equal(idle.status, 200);
      assert.equal(idle.body.length, 0);

      const uuid = await enqueue('DeviceInformation', { Queries: ['SerialNumber', 'OSVersion'] });
      const got = await signed('/mdm/connect', { UDID, Status: 'Idle' });
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], 'application/xml');
      const cmd = parsePlistDict(new Uint8Array(got.body));
      assert.equal(cmd.CommandUUID, uuid);
      const ack = await signed('/mdm', { UDID, Status: 'Acknowledged', CommandUUID: uuid, QueryResponses: { SerialNumber: 'SER-2', OSVersion: '18.2' } });
      assert.equal(ack.status, 200);
      assert.equal((await opened.storage.queue.entry(UDID, uuid))!.status, 'acknowledged');
      assert.equal((await opened.storage.devices.get(UDID))!.osVersion, '18.2');
    });

    it('another enrolled identity cannot speak for this device (401, recorded, nothing changed)', async () => {
      const before = await snapshot();
      const a = await signed('/mdm/connect', { UDID, Status: 'Idle' }, device2);
      fixed(a, 401, 'unauthorized\n');
      const b = await signed('/mdm/checkin', { MessageType: 'Authenticate', UDID, Topic: TOPIC, SerialNumber: 'EVIL' }, device2);
      fixed(b, 401, 'unauthorized\n');
      assert.equal(await snapshot(), before);
      const denied = await audit.log.store.search({ actorId: UDID, outcome: 'denied', limit: 100 });
      assert.ok(denied.some((e) => e.action === 'device.connect'));
      assert.ok(denied.some((e) => e.action === 'device.authenticate'));
    });

    // Fuzz (b): bodies correctly signed by the enrolled device's identity.
    it('fuzz: signed random and mutated bodies never get a 5xx or hang, and a 4xx changes nothing', async () => {
      const plistLeaf: fc.Arbitrary<PlistValue> = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom('', UDID, 'Idle', 'Acknowledged', 'NotNow', 'Error', 'CommandFormatError', TOPIC, 'x'.repeat(300), '\u0000', '\uD800', 'a\u202Eb'),
        fc.integer(),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 40 }),
        fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
      );
      const { value: plistValue } = fc.letrec<{ value: PlistValue }>((tie) => ({
        value: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          plistLeaf,
          fc.array(tie('value'), { maxLength: 4 }),
          fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 4 }),
        ),
      }));
      const knownKey = fc.constantFrom(
        'MessageType', 'UDID', 'Topic', 'Token', 'PushMagic', 'UnlockToken', 'Status', 'CommandUUID', 'QueryResponses', 'SecurityInfo',
        'InstalledApplicationList', 'ErrorChain', 'BootstrapToken', 'EnrollmentID', 'UserID', 'SerialNumber', 'AwaitingConfiguration', '__proto__', 'constructor',
      );
      const pendingUuids: string[] = [];
      const base = fc.oneof(
        fc.constant<PlistDict>({ MessageType: 'Authenticate', UDID, Topic: TOPIC, SerialNumber: 'SER-3' }),
        fc.constant<PlistDict>({ MessageType: 'TokenUpdate', UDID, Topic: TOPIC, Token: new Uint8Array(32).fill(7), PushMagic: 'M2' }),
        fc.constantFrom<PlistDict>(
          { MessageType: 'CheckOut', UDID, Topic: TOPIC },
          { MessageType: 'SetBootstrapToken', UDID, BootstrapToken: new Uint8Array([1, 2, 3]) },
          { MessageType: 'GetBootstrapToken', UDID },
          { MessageType: 'DeclarativeManagement', UDID, Endpoint: 'tokens' },
          { MessageType: 'UserAuthenticate', UDID, UserID: 'U1' },
          { MessageType: 'GetToken', UDID, TokenServiceType: 'com.apple.maid' },
          { UDID, Status: 'Idle' },
        ),
        fc.record({
          status: fc.constantFrom('Acknowledged', 'Error', 'NotNow', 'CommandFormatError'),
          pick: fc.nat(),
          body: fc.constantFrom<PlistDict>(
            { QueryResponses: { SerialNumber: 'Q', OSVersion: '1', IsSupervised: true } },
            { SecurityInfo: { HardwareEncryptionCaps: 3, PasscodePresent: true } },
            { InstalledApplicationList: [{ Identifier: 'com.a' }, { Identifier: 'com.a' }] },
            { ErrorChain: [{ ErrorCode: 1, ErrorDomain: 'D' }] },
            {},
          ),
        }).map(({ status, pick, body }): PlistDict => ({ UDID, Status: status, CommandUUID: pendingUuids[pick % Math.max(1, pendingUuids.length)] ?? 'NONE', ...body })),
      );
      type Mutation = { kind: 'set'; key: string; value: PlistValue } | { kind: 'delete'; key: string } | { kind: 'bytes'; at: number; insert: Uint8Array; remove: number };
      const mutation: fc.Arbitrary<Mutation> = fc.oneof(
        fc.record({ kind: fc.constant('set' as const), key: fc.oneof(knownKey, fc.string({ maxLength: 10 })), value: plistValue }),
        fc.record({ kind: fc.constant('delete' as const), key: knownKey }),
        fc.record({
          kind: fc.constant('bytes' as const),
          at: fc.nat(),
          insert: fc.oneof(
            fc.uint8Array({ maxLength: 8 }),
            fc.constantFrom('<dict>', '</dict>', '<array>', '<!DOCTYPE plist [<!ENTITY e "x">]>', '&e;', '<![CDATA[x]]>', '<integer>99999999999999999999</integer>', '\u0000', '<key>Status</key><string>Idle</string>')
              .map((s) => new TextEncoder().encode(s)),
          ),
          remove: fc.nat({ max: 16 }),
        }),
      );
      const path = fc.constantFrom('/mdm/checkin', '/mdm/connect', '/mdm');

      const restore = async (): Promise<void> => {
        const d = await opened.storage.devices.get(UDID);
        if (d && (d.status !== 'enrolled' || d.identityCertSha256 === null)) {
          // A CheckOut or EraseDevice went through (200): put the device back so the run keeps exercising an enrolled device.
          await opened.storage.devices.update(UDID, { status: 'enrolled', checkedOutAt: null, pushToken: 'aa', pushMagic: 'M' }, new Date().toISOString());
        }
        if (pendingUuids.length < 3) {
          const type = ['DeviceInformation', 'SecurityInfo', 'InstalledApplicationList', 'ProfileList', 'EraseDevice'][uuidSeq % 5]!;
          const uuid = await enqueue(type, type === 'DeviceInformation' ? { Queries: ['SerialNumber'] } : {});
          await opened.storage.queue.next(UDID, { skipNotNow: false }, new Date().toISOString());
          pendingUuids.push(uuid);
        }
      };

      let refused = 0;
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(path, base, fc.array(mutation, { maxLength: 3 }), async (p, dict, mutations) => {
          await restore();
          let d: PlistDict = { ...dict };
          const byteMutations: Extract<Mutation, { kind: 'bytes' }>[] = [];
          for (const m of mutations) {
            if (m.kind === 'set') d = { ...d, [m.key]: m.value };
            else if (m.kind === 'delete') {
              d = { ...d };
              delete d[m.key];
            } else byteMutations.push(m);
          }
          let body: Uint8Array;
          try {
            body = buildPlist(d);
          } catch {
            body = buildPlist(dict); // a value the builder refuses: fall back to the base message
          }
          for (const m of byteMutations) {
            const at = m.at % (body.length + 1);
            body = new Uint8Array([...body.subarray(0, at), ...m.insert, ...body.subarray(Math.min(body.length, at + m.remove))]);
          }
          if (body.length === 0) body = new Uint8Array([0x3c]);
          const before = await snapshot();
          const a = await signed(p, body);
          // 501 is the documented answer to DeclarativeManagement and GetToken (not supported); no other 5xx.
          const unsupported = a.status === 501 && /^(DeclarativeManagement|GetToken) is not supported by this server\n$/.test(a.body.toString());
          assert.ok(a.status === 200 || (a.status >= 400 && a.status < 500) || unsupported, `${a.status} for ${Buffer.from(body).toString()}`);
          if (a.status === 200) {
            accepted++;
            for (const u of [...pendingUuids]) {
              const e = await opened.storage.queue.entry(UDID, u);
              if (e && e.status !== 'pending' && e.status !== 'not_now') pendingUuids.splice(pendingUuids.indexOf(u), 1);
            }
          } else {
            refused++;
            assert.equal(await snapshot(), before, `a ${a.status} changed the database: ${Buffer.from(body).toString()}`);
          }
        }),
        { numRuns: Number(process.env.FUZZ_RUNS ?? 200) },
      );
      assert.ok(accepted > 10, `accepted ${accepted}`);
      assert.ok(refused > 10, `refused ${refused}`);
      assert.deepEqual(coreErrors, []);
    });
  });
});
