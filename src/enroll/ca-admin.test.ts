// The CA service on real SQLite storage, the real audit log and a real
// four-eyes gate-free set-up: importing an existing CA (openssl), making a CSR
// that an external root (openssl, @peculiar/x509) signs as an intermediate,
// and what devices then see: the profile's root and intermediate payloads,
// GetCACert's chain, identities that chain through the intermediate to the
// root (openssl verify, the core's verifier, the gateway's after setTrust).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { certInfo } from '../pki/info.ts';
import { toPem } from '../pki/pem.ts';
import { loadCa, loadOrCreateCa } from '../core/ca.ts';
import type { Actor } from '../services/types.ts';
import { readSignedProfile } from '../sim/enroll.ts';
import { buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, parseCertRep, parseDegenerateCertificates } from '../protocol/scep/index.ts';
import { createCmsVerifier } from '../protocol/cms/verify.ts';
import { signDetached } from '../protocol/cms/sign.ts';
import { createGatewayProtocol } from '../gateway/protocol.ts';
import { opensslExistingCa, opensslRoot, peculiarRoot, type OpensslRoot } from '../pki/external-root.test.ts';
import { previousCas } from './ca-admin.ts';
import { setupEnrollment, type Enrollment } from './setup.ts';

const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const ctx = { source: '192.0.2.9', requestId: 'req-1' };
const pemDer = (pem: string): Uint8Array => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));

describe('enrollment CA: import, intermediate under an external root', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  let e: Enrollment;
  let ext: OpensslRoot;
  const now = (): Date => new Date();
  const box = createSecretBox(createKeyRing([{ id: 'k1', key: rnd(32) }], 'k1'));
  const changes: string[] = [];

  before(async () => {
    ext = opensslRoot();
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
    const { ca } = await loadOrCreateCa({ settings: opened.storage.settings, sealer: box, now }, { commonName: 'Built-in CA', validityDays: 3650 });
    e = await setupEnrollment({
      opened, ca, sealer: box, audit, lookup: audit.log, now, baseUrl: () => 'https://mdm.test', topic: () => 'com.apple.mgmt.External.t',
      log: { warn: () => {}, error: () => {} }, challengeTtlMinutes: 30, identityValidityDays: 10,
    });
    e.pki.onChange((p) => changes.push(p.version));
  });
  after(async () => {
    ext.close();
    await audit.close();
    await opened.close();
  });

  const entries = (action: string) => audit.log.store.search({ action, limit: 100 });

  /** Invitation → profile → PKCSReq, as a device does; returns the identity and what it was shown. */
  async function enroll() {
    const { token } = await e.invitations.create(ROOT, {});
    const reply = await e.device.profile(token, ctx);
    assert.equal(reply.status, 200);
    const profile = readSignedProfile(reply.body!, {});
    const caCert = await e.device.scep('GetCACert', undefined, ctx);
    const certs = parseDegenerateCertificates(caCert.body!);
    const raDer = certs[0]!;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const name = encodeName('unit');
    const t = Date.now();
    const signer = { certDer: buildSelfSignedCert({ privateKey, name, serial: rnd(8), notBefore: new Date(t - 60_000), notAfter: new Date(t + 3_600_000) }), privateKey };
    const der = buildPkiMessage({
      messageType: 'PKCSReq', transactionId: Buffer.from(rnd(8)).toString('hex'), senderNonce: rnd(16), signer, recipientCertDer: raDer,
      csrDer: buildCsr({ privateKey, name, challengePassword: profile.scep.challenge }), cipher: 'aes-256-cbc', now: now(), random: rnd,
    });
    const r = await e.device.scep('PKIOperation', der, ctx);
    const rep = parseCertRep(r.body!, { trustedSigners: [raDer], requester: signer });
    assert.equal(rep.status, 'SUCCESS');
    return { identity: { certDer: rep.certificates[0]!, privateKey } as { certDer: Uint8Array; privateKey: KeyObject }, profile, getCaCert: certs };
  }

  function coreAccepts(identity: { certDer: Uint8Array; privateKey: KeyObject }): boolean {
    const { trust } = e.pki.current();
    const body = new TextEncoder().encode('<plist/>');
    try {
      createCmsVerifier({ trustAnchors: trust.anchors, intermediates: trust.intermediates }).verifyDetached(signDetached(body, identity), body, { now: now() });
      return true;
    } catch {
      return false;
    }
  }

  it('import refuses a mismatched key, a non-CA and garbage, on record, and changes nothing', async () => {
    const before = e.pki.current().version;
    const a = opensslExistingCa(ext, 'import-a');
    const b = opensslExistingCa(ext, 'import-b');
    const leaf = opensslExistingCa(ext, 'import-leaf', { ca: false, keyUsage: 'digitalSignature' });
    await assert.rejects(e.ca.importCa(ROOT, { certPem: a.certPem, keyPem: b.keyPem }), /does not match/);
    await assert.rejects(e.ca.importCa(ROOT, { certPem: leaf.certPem, keyPem: leaf.keyPem }), /not a CA/);
    await assert.rejects(e.ca.importCa(ROOT, { certPem: 'x', keyPem: a.keyPem }), (x: { status?: number }) => x.status === 400);
    await assert.rejects(e.ca.importCa(ROOT, { certPem: a.certPem }), /no pending CSR/);
    assert.equal(e.pki.current().version, before);
    assert.deepEqual((await entries('ca.import')).map((x) => x.outcome), ['failure', 'failure', 'failure', 'failure']);
  });

  it('an existing CA (openssl) with its key: in effect at once, key sealed, old CA still trusted for its devices', async () => {
    const old = await enroll();
    const oldCa = (await loadCa({ settings: opened.storage.settings, sealer: box }))!;
    const a = opensslExistingCa(ext, 'existing-ca');
    const r = await e.ca.importCa(ROOT, { certPem: a.certPem, keyPem: a.keyPem });
    assert.equal(r.current.sha256, certInfo(pemDer(a.certPem)).sha256);
    const stored = (await opened.storage.settings.get('ca.key.sealed'))!;
    assert.ok(!stored.includes('PRIVATE KEY') && !Buffer.from(stored, 'base64').toString('latin1').includes('BEGIN'));
    assert.deepEqual(await previousCas(opened.storage.settings), [oldCa.certDer]);
    assert.equal(changes.length, 1);
    const fresh = await enroll();
    assert.equal(certInfo(fresh.identity.certDer).issuer, 'CN=existing-ca');
    assert.deepEqual(fresh.profile.caCertDer, pemDer(a.certPem));
    ext.file('existing-id.pem', toPem('CERTIFICATE', fresh.identity.certDer));
    assert.match(ext.run(['verify', '-CAfile', 'existing-ca.pem', 'existing-id.pem']), /OK/);
    assert.equal(coreAccepts(fresh.identity), true);
    assert.equal(coreAccepts(old.identity), true, 'an identity from the previous CA keeps working');
    assert.deepEqual((await entries('ca.import.applied')).length, 1);
  });

  it('intermediate: CSR in the core, signed by openssl, installed with the root; devices chain through it to the root', async () => {
    const csr = await e.ca.createCsr(ROOT, { commonName: 'Rampart Issuing CA', organization: 'Example' });
    assert.equal((await e.ca.show(ROOT)).csrPending, true);
    ext.file('rampart.csr', csr.csrPem);
    ext.run(['req', '-in', 'rampart.csr', '-noout', '-verify']); // throws when the self-signature does not verify
    const intPem = ext.signIntermediate(csr.csrPem, { pathlen: 0, useCa: true });
    // Refused: the chain is not the root that signed it, or the certificate is not for the CSR's key.
    const other = opensslRoot({ cn: 'Unrelated Root' });
    try {
      await assert.rejects(e.ca.importCa(ROOT, { certPem: intPem, chainPem: other.rootPem }), /did not sign/);
    } finally {
      other.close();
    }
    const stray = opensslExistingCa(ext, 'stray');
    await assert.rejects(e.ca.importCa(ROOT, { certPem: stray.certPem }), /not for the key of the pending CSR/);
    const r = await e.ca.importCa(ROOT, { certPem: intPem, chainPem: ext.rootPem });
    assert.equal(r.current.subject, 'CN=Rampart Issuing CA, O=Example'.replace(', ', ','));
    const shown = await e.ca.show(ROOT);
    assert.equal(shown.csrPending, false);
    assert.deepEqual(shown.chain.map((c) => c.sha256), [certInfo(pemDer(ext.rootPem)).sha256]);
    const { trust } = e.pki.current();
    assert.ok(trust.anchors.some((a) => certInfo(a).sha256 === certInfo(pemDer(ext.rootPem)).sha256));
    assert.ok(trust.intermediates.some((a) => certInfo(a).sha256 === r.current.sha256));

    const dev = await enroll();
    // The profile installs the root as root payload and the intermediate as a certificate payload.
    assert.deepEqual(dev.profile.caCertDer, pemDer(ext.rootPem));
    assert.deepEqual(dev.profile.intermediateCertsDer, [pemDer(intPem)]);
    // GetCACert: RA, issuing CA, root.
    assert.deepEqual(dev.getCaCert.slice(1).map((c) => certInfo(c).sha256), [r.current.sha256, certInfo(pemDer(ext.rootPem)).sha256]);
    // The identity chains through the intermediate to the root: openssl, the core's verifier, the gateway's.
    ext.file('int-id.pem', toPem('CERTIFICATE', dev.identity.certDer));
    ext.file('int.pem', intPem);
    assert.match(ext.run(['verify', '-CAfile', 'root.pem', '-untrusted', 'int.pem', 'int-id.pem']), /OK/);
    assert.throws(() => ext.run(['verify', '-CAfile', 'root.pem', 'int-id.pem']));
    assert.equal(coreAccepts(dev.identity), true);
    const gw = createGatewayProtocol({ trustAnchors: [pemDer(stray.certPem)], maxBodyBytes: 65536, maxPlistDepth: 16 });
    const body = new TextEncoder().encode('<plist/>');
    const sig = signDetached(body, dev.identity);
    assert.throws(() => gw.verifySignature(sig, body));
    gw.setTrust(trust.anchors, trust.intermediates);
    gw.verifySignature(sig, body);
    // Without the intermediate, the root alone does not vouch for the identity.
    gw.setTrust([pemDer(ext.rootPem)], []);
    assert.throws(() => gw.verifySignature(sig, body));
  });

  it('intermediate signed by a @peculiar/x509 root (ECDSA P-256)', async () => {
    const root = await peculiarRoot(now());
    const csr = await e.ca.createCsr(ROOT, {});
    const intPem = await root.sign(csr.csrPem);
    await e.ca.importCa(ROOT, { certPem: intPem, chainPem: root.rootPem });
    const dev = await enroll();
    assert.deepEqual(dev.profile.caCertDer, root.rootDer);
    assert.equal(coreAccepts(dev.identity), true);
    ext.file('p-root.pem', root.rootPem);
    ext.file('p-int.pem', intPem);
    ext.file('p-id.pem', toPem('CERTIFICATE', dev.identity.certDer));
    assert.match(ext.run(['verify', '-CAfile', 'p-root.pem', '-untrusted', 'p-int.pem', 'p-id.pem']), /OK/);
    // Every CA so far stays trusted for the identities it issued.
    assert.equal((await e.ca.show(ROOT)).previous.length, 3);
  });
});
