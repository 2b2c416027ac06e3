import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseCertificate } from '../cms/certificate.ts';
import { toPem } from '../../pki/pem.ts';
import { buildCsr, buildSelfSignedCert, encodeName, parseCsr } from './csr.ts';
import {
  buildCertRep, buildPkiMessage, degenerateCertificates, openPkiEnvelope, parseCertRep, parseDegenerateCertificates,
  parsePkiMessage, ScepRequestFailure,
} from './message.ts';
import { ScepMalformed, type CipherName } from './oids.ts';
import { makePki, openssl, opensslPkcsReq } from './scep-fixtures.test.ts';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const now = new Date();
const pkiP = makePki(now);

function ownRequest(raCertDer: Uint8Array, opts: { challenge?: string; cipher?: CipherName; type?: 'PKCSReq' | 'RenewalReq' } = {}) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const name = encodeName('own-device', 'Rampart');
  const csrDer = buildCsr({ privateKey, name, ...(opts.challenge !== undefined ? { challengePassword: opts.challenge } : {}) });
  const signerCertDer = buildSelfSignedCert({ privateKey, name, serial: rnd(16), notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 3_600_000) });
  const transactionId = Buffer.from(rnd(16)).toString('hex');
  const senderNonce = rnd(16);
  const der = buildPkiMessage({
    messageType: opts.type ?? 'PKCSReq', transactionId, senderNonce, signer: { certDer: signerCertDer, privateKey },
    recipientCertDer: raCertDer, csrDer, cipher: opts.cipher ?? 'aes-256-cbc', now, random: rnd,
  });
  return { der, privateKey, signerCertDer, transactionId, senderNonce, csrDer };
}

test('own PKCSReq: parse, decrypt with the RA key, CSR with challenge', async () => {
  const { ra } = await pkiP;
  for (const cipher of ['aes-128-cbc', 'aes-256-cbc', 'des-ede3-cbc'] as const) {
    const r = ownRequest(ra.certDer, { challenge: 'one-time-secret', cipher });
    const msg = parsePkiMessage(r.der);
    assert.equal(msg.messageType, 19);
    assert.equal(msg.transactionId, r.transactionId);
    assert.deepEqual(msg.senderNonce, r.senderNonce);
    assert.deepEqual(msg.signerCertDer, r.signerCertDer);
    const { content, cipher: used } = openPkiEnvelope(msg, [ra]);
    assert.equal(used, cipher);
    assert.deepEqual(content, r.csrDer);
    const csr = parseCsr(content);
    assert.equal(csr.challengePassword, 'one-time-secret');
    assert.equal(csr.subject, 'CN=own-device,O=Rampart');
  }
});

test('openssl-built PKCSReq (openssl req + cms -encrypt, PKCS#1 v1.5; pkijs signature) is accepted', async () => {
  const { ra } = await pkiP;
  for (const cipher of ['aes256', 'aes128', 'des3']) {
    const r = await opensslPkcsReq(ra.certDer, { challenge: 'from-openssl', cipher });
    const msg = parsePkiMessage(r.der);
    assert.equal(msg.transactionId, r.transactionId);
    const csr = parseCsr(openPkiEnvelope(msg, [ra]).content);
    assert.equal(csr.challengePassword, 'from-openssl');
    assert.equal(csr.subject, 'CN=openssl-device');
  }
});

test('CertRep SUCCESS decrypts with openssl to the issued certificate', async () => {
  const { ca, ra } = await pkiP;
  const r = await opensslPkcsReq(ra.certDer, { challenge: 'x' });
  const msg = parsePkiMessage(r.der);
  const rep = buildCertRep({
    status: 'SUCCESS', certificates: [ca.certDer], cipher: 'aes-256-cbc', signer: ra, chain: [ca.certDer],
    request: msg, senderNonce: rnd(16), now, random: rnd,
  });
  // An independent implementation verifies the signature and decrypts.
  const envelope = openssl(['cms', '-verify', '-inform', 'DER', '-in', 'rep.der', '-CAfile', 'ca.pem', '-purpose', 'any', '-binary'],
    { 'rep.der': rep, 'ca.pem': toPem('CERTIFICATE', ca.certDer) });
  const degenerate = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', 'env.der', '-recip', 'signer.pem', '-inkey', 'key.pem', '-binary'],
    { 'env.der': envelope, 'signer.pem': toPem('CERTIFICATE', r.signerCertDer), 'key.pem': r.keyPem });
  const printed = openssl(['pkcs7', '-inform', 'DER', '-in', 'p7.der', '-print_certs'], { 'p7.der': degenerate }).toString();
  assert.match(printed, /Test SCEP CA/);
  // And our own client reads it.
  const parsed = parseCertRep(rep, { trustedSigners: [ra.certDer], requester: { certDer: r.signerCertDer, privateKey: r.privateKey } });
  assert.equal(parsed.status, 'SUCCESS');
  assert.equal(parsed.transactionId, r.transactionId);
  assert.deepEqual(parsed.recipientNonce, r.senderNonce);
  assert.deepEqual(parsed.certificates, [ca.certDer]);
});

test('CertRep FAILURE carries failInfo; PENDING has no content; an untrusted signer is refused', async () => {
  const { ra, ca } = await pkiP;
  const r = ownRequest(ra.certDer);
  const msg = parsePkiMessage(r.der);
  const requester = { certDer: r.signerCertDer, privateKey: r.privateKey };
  for (const failInfo of ['badAlg', 'badMessageCheck', 'badRequest', 'badTime', 'badCertId'] as const) {
    const rep = buildCertRep({ status: 'FAILURE', failInfo, signer: ra, request: msg, senderNonce: rnd(16), now, random: rnd });
    const parsed = parseCertRep(rep, { trustedSigners: [ra.certDer], requester });
    assert.equal(parsed.status, 'FAILURE');
    assert.equal(parsed.failInfo, failInfo);
  }
  const pending = buildCertRep({ status: 'PENDING', signer: ra, request: msg, senderNonce: rnd(16), now, random: rnd });
  assert.equal(parseCertRep(pending, { trustedSigners: [ra.certDer], requester }).status, 'PENDING');
  assert.throws(() => parseCertRep(pending, { trustedSigners: [ca.certDer], requester }));
});

test('a tampered signature is a badMessageCheck failure with the header; garbage is malformed', async () => {
  const { ra } = await pkiP;
  const r = ownRequest(ra.certDer);
  const bad = Uint8Array.from(r.der);
  bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0xff; // inside the signature value
  assert.throws(() => parsePkiMessage(bad), (e: unknown) => e instanceof ScepRequestFailure && e.failInfo === 'badMessageCheck' && e.header.transactionId === r.transactionId);
  assert.throws(() => parsePkiMessage(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), ScepMalformed);
  assert.throws(() => parsePkiMessage(new Uint8Array(70_000)), ScepMalformed);
});

test('SHA-1 signatures are refused with badAlg', async () => {
  const { ra } = await pkiP;
  const r = await opensslPkcsReq(ra.certDer, { challenge: 'x', digest: 'SHA-1' });
  assert.throws(() => parsePkiMessage(r.der), (e: unknown) => e instanceof ScepRequestFailure && e.failInfo === 'badAlg');
});

test('an envelope for another RA is badMessageCheck', async () => {
  const { ra } = await pkiP;
  const other = await makePki(now);
  const r = ownRequest(other.ra.certDer);
  const msg = parsePkiMessage(r.der);
  assert.throws(() => openPkiEnvelope(msg, [ra]), (e: unknown) => e instanceof ScepRequestFailure && e.failInfo === 'badMessageCheck');
});

test('degenerate certificates round trip and openssl reads them', async () => {
  const { ca, ra } = await pkiP;
  const p7 = degenerateCertificates([ra.certDer, ca.certDer]);
  assert.deepEqual(parseDegenerateCertificates(p7), [ra.certDer, ca.certDer]);
  const printed = openssl(['pkcs7', '-inform', 'DER', '-in', 'p7.der', '-print_certs'], { 'p7.der': p7 }).toString();
  assert.match(printed, /Test SCEP RA/);
  assert.equal(parseCertificate(ra.certDer).subject, 'CN=Test SCEP RA');
});
