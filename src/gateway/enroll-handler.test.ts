// Enrollment through the real gateway request handler, IPC client and schema,
// core link, enrollment services, SQLite storage and audit log (one process,
// plain HTTP). Fuzzes the SCEP and profile routes: whatever arrives, only
// fixed 4xx bodies or a CertRep FAILURE come back, and nothing is issued or
// stored.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createCertificateAuthority } from '../pki/authority.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { parseGatewayMessage } from '../ipc/messages.ts';
import { caIdOf } from '../enroll/revocation.ts';
import { setupEnrollment, type Enrollment } from '../enroll/setup.ts';
import { statusText } from '../lib/status-text.ts';
import type { Actor } from '../services/types.ts';
import { readSignedProfile } from '../sim/enroll.ts';
import {
  buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, encryptEnvelope, parseCertRep, parseDegenerateCertificates,
} from '../protocol/scep/index.ts';
import { createRequestHandler, sendFixed } from './handler.ts';
import { createIpcClient } from './ipc-client.ts';
import { createGatewayProtocol } from './protocol.ts';

type Answer = { status: number; body: Buffer; type: string };
const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

describe('enrollment routes through the real gateway handler, IPC and core', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let enrollment: Enrollment;
  let server: http.Server;
  let port: number;
  let raCertDer: Uint8Array;

  before(async () => {
    const now = (): Date => new Date();
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const ca = await createCertificateAuthority({ commonName: 'Fuzz CA', validityDays: 30, now: now(), keyAlgorithm: 'rsa-2048' });
    enrollment = await setupEnrollment({
      opened, ca, sealer: createSecretBox(createKeyRing([{ id: 'k1', key: rnd(32) }], 'k1')), audit, lookup: audit.log, now,
      baseUrl: () => 'https://mdm.test', topic: () => 'com.apple.mgmt.External.test', log: { warn: () => {}, error: () => {} },
    });
    const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
    const toCore = (raw: unknown): void => {
      const m = parseGatewayMessage(roundTrip(raw));
      if (!m) throw new Error('the gateway sent a message outside the IPC schema');
      if (m.t === 'enroll') {
        enrollment.link.handleEnroll(m).then(
          (r) => client.onResponse(roundTrip(r)),
          () => client.onResponse({ t: 'response', id: m.id, status: 500 }),
        );
      }
    };
    const client = createIpcClient({ send: (m) => setImmediate(() => toCore(m)) }, 10_000);
    const handler = createRequestHandler(
      {
        protocol: createGatewayProtocol({ trustAnchors: [ca.certDer], maxBodyBytes: 64 * 1024, maxPlistDepth: 16 }),
        forward: () => Promise.reject(new Error('no MDM here')),
        forwardEnroll: (r) => client.enroll(r),
        reject: (r) => toCore({ t: 'rejected', ...r }),
      },
      { maxBodyBytes: 64 * 1024, proxyClientCertHeader: null, trustedProxies: new Set() },
    );
    server = http.createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => {
      handler(req, res).catch(() => sendFixed(res, 503));
    });
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const cacert = await send('GET', '/scep?operation=GetCACert');
    raCertDer = parseDegenerateCertificates(new Uint8Array(cacert.body))[0]!;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await audit.close();
    await opened.close();
  });

  function send(method: string, path: string, body?: Uint8Array): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: body ? { 'Content-Length': String(body.length), 'Content-Type': 'application/x-pki-message' } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type'] ?? '') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const counts = async () => ({
    issued: (await opened.db.withTables<{ enroll_issued: { cert_sha256: string } }>().selectFrom('enroll_issued').select('cert_sha256').execute()).length,
    certs: (await opened.db.withTables<{ issued_certificates: { serial: string } }>().selectFrom('issued_certificates').select('serial').execute()).length,
    used: (await enrollment.store.list({ limit: 1000, status: 'used' })).length,
  });

  async function downloadChallenge(): Promise<string> {
    const { url } = await enrollment.invitations.create(ROOT, {});
    const res = await send('GET', new URL(url).pathname);
    assert.equal(res.status, 200);
    assert.equal(res.type, 'application/x-apple-aspen-config');
    return readSignedProfile(new Uint8Array(res.body)).scep.challenge;
  }

  function request(challenge: string | undefined, opts: { transactionId?: string } = {}) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const name = encodeName('fuzz');
    const signer = { certDer: buildSelfSignedCert({ privateKey, name, serial: rnd(8), notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) }), privateKey };
    const csrDer = buildCsr({ privateKey, name, ...(challenge !== undefined ? { challengePassword: challenge } : {}) });
    const der = buildPkiMessage({
      messageType: 'PKCSReq', transactionId: opts.transactionId ?? Buffer.from(rnd(8)).toString('hex'), senderNonce: rnd(16), signer,
      recipientCertDer: raCertDer, csrDer, cipher: 'aes-128-cbc', now: new Date(), random: rnd,
    });
    return { der, signer };
  }

  it('GetCACaps and GetCACert; a profile once, then 410', async () => {
    const caps = await send('GET', '/scep?operation=GetCACaps');
    assert.equal(caps.status, 200);
    assert.match(caps.body.toString(), /POSTPKIOperation/);
    const { url } = await enrollment.invitations.create(ROOT, {});
    assert.equal((await send('GET', new URL(url).pathname)).status, 200);
    const again = await send('GET', new URL(url).pathname);
    assert.equal(again.status, 410);
    assert.equal(again.body.toString(), statusText(410));
  });

  it('route variants are 404 with the fixed body', async () => {
    const token = 'A'.repeat(43);
    for (const [method, path] of [
      ['POST', '/scep?operation=GetCACaps'], ['GET', '/scep?operation=GetCACaps&x=1'], ['GET', '/scep?operation=GetCACaps&operation=GetCACert'],
      ['GET', '/SCEP?operation=GetCACaps'], ['GET', '/scep/?operation=GetCACaps'], ['GET', '/scep'], ['GET', '/scep?'], ['PUT', '/scep?operation=PKIOperation'],
      ['GET', '/scep?operation=PKIOperation'], ['POST', '/scep?operation=PKIOperation&message=AA=='], ['GET', `/enroll/${token}/`],
      ['GET', `/enroll/${token}?x=1`], ['POST', `/enroll/${token}`], ['GET', '/enroll/short'], ['GET', `/enroll/../enroll/${token}`],
    ] as const) {
      const r = await send(method, path);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.body.toString(), statusText(404));
    }
    const unknown = await send('GET', `/enroll/${token}`);
    assert.equal(unknown.status, 404);
  });

  it('the CRL is served as DER (application/pkix-crl) by CA id; other ids and route variants are 404 with the fixed body', async () => {
    const id = caIdOf(enrollment.pki.current().ca.certDer);
    const r = await send('GET', `/pki/crl/${id}.crl`);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/pkix-crl');
    assert.equal(r.body[0], 0x30, 'DER SEQUENCE');
    for (const [method, path] of [
      ['GET', `/pki/crl/${'0'.repeat(32)}.crl`], ['GET', `/pki/crl/${id.toUpperCase()}.crl`], ['GET', `/pki/crl/${id}`], ['GET', `/pki/crl/${id}.crl?x=1`],
      ['POST', `/pki/crl/${id}.crl`], ['GET', `/pki/crl/${id}.pem`], ['GET', `/pki/crl/${id.slice(1)}.crl`], ['GET', `/pki/crl/../crl/${id}.crl`], ['GET', '/pki/crl/'],
    ] as const) {
      const x = await send(method, path);
      assert.equal(x.status, 404, `${method} ${path}`);
      assert.equal(x.body.toString(), statusText(404));
    }
  });

  it('a PKCSReq with the challenge succeeds once; a resend of the same transaction gets the same certificate; another is refused', async () => {
    const challenge = await downloadChallenge();
    const before = await counts();
    const r = request(challenge, { transactionId: 'tx-replay-1' });
    const first = await send('POST', '/scep?operation=PKIOperation', r.der);
    const rep1 = parseCertRep(new Uint8Array(first.body), { trustedSigners: [raCertDer], requester: r.signer });
    assert.equal(rep1.status, 'SUCCESS');
    const resend = await send('POST', '/scep?operation=PKIOperation', r.der);
    const rep2 = parseCertRep(new Uint8Array(resend.body), { trustedSigners: [raCertDer], requester: r.signer });
    assert.deepEqual(rep2.certificates, rep1.certificates);
    const other = request(challenge, { transactionId: 'tx-replay-1' });
    const rep3 = parseCertRep(new Uint8Array((await send('POST', '/scep?operation=PKIOperation', other.der)).body), { trustedSigners: [raCertDer], requester: other.signer });
    assert.equal(rep3.status, 'FAILURE');
    const after = await counts();
    assert.equal(after.issued, before.issued + 1);
    assert.equal(after.used, before.used + 1);
    // The same message in the GET form (base64, URL-encoded).
    const get = await send('GET', `/scep?operation=PKIOperation&message=${encodeURIComponent(Buffer.from(r.der).toString('base64'))}`);
    assert.equal(parseCertRep(new Uint8Array(get.body), { trustedSigners: [raCertDer], requester: r.signer }).status, 'SUCCESS');
    assert.equal((await counts()).issued, before.issued + 1);
  });

  it('fuzz: malformed DER, wrong content types, mutations, unknown challenges and huge messages store nothing', async () => {
    const valid = request('not-a-challenge').der;
    const envelopeOnly = encryptEnvelope(new Uint8Array([1, 2, 3]), raCertDer, 'aes-128-cbc', rnd);
    // FAILURE replies carry nothing encrypted, so any key will do for reading them.
    const bystander = { certDer: raCertDer, privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
    const before = await counts();
    const body = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 2048 }),
      fc.constant(envelopeOnly),
      fc.constant(valid),
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
        const m = Uint8Array.from(valid);
        m[i] = (m[i] as number) ^ x;
        return m;
      }),
      fc.nat(valid.length - 1).map((n) => valid.subarray(0, n + 1)),
      fc.constant(new Uint8Array(70 * 1024).fill(0x30)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const r = await send('POST', '/scep?operation=PKIOperation', b);
        if (r.status === 200) {
          assert.equal(r.type, 'application/x-pki-message');
          const rep = parseCertRep(new Uint8Array(r.body), { trustedSigners: [raCertDer], requester: bystander });
          assert.equal(rep.status, 'FAILURE');
        } else {
          assert.ok([400, 413].includes(r.status), `status ${r.status}`);
          assert.equal(r.body.toString(), statusText(r.status));
        }
      }),
      { numRuns: 60 },
    );
    for (let i = 0; i < 20; i++) {
      const r = await send('GET', `/enroll/${randomBytes(32).toString('base64url')}`);
      assert.equal(r.status, 404);
      assert.equal(r.body.toString(), statusText(404));
    }
    assert.deepEqual(await counts(), before);
  });
});
