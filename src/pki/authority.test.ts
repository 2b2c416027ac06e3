import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RampartError } from '../lib/errors.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import { signDetached } from '../protocol/cms/sign.ts';
import { verifyDetachedSignature } from '../protocol/cms/verify.ts';
import { createCertificateAuthority, issueCertificate } from './authority.ts';
import type { CaMaterial } from './authority.ts';
import { toPem } from './pem.ts';

const now = new Date();
const dir = mkdtempSync(join(tmpdir(), 'rampart-pki-'));
let ca: CaMaterial;
let ecCa: CaMaterial;
const device = generateKeyPairSync('rsa', { modulusLength: 2048 });

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}
function file(name: string, der: Uint8Array): string {
  writeFileSync(join(dir, name), toPem('CERTIFICATE', der));
  return join(dir, name);
}

before(async () => {
  [ca, ecCa] = await Promise.all([
    createCertificateAuthority({ commonName: 'Rampart Test CA', organization: 'Acme, Inc.', validityDays: 365, now, keyAlgorithm: 'rsa-2048' }),
    createCertificateAuthority({ commonName: 'Rampart EC CA', validityDays: 365, now, keyAlgorithm: 'ecdsa-p256' }),
  ]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('createCertificateAuthority', () => {
  it('makes a self-signed CA with basicConstraints, keyUsage, SKI and AKI', () => {
    for (const c of [ca, ecCa]) {
      const path = file('ca.pem', c.certDer);
      const text = openssl(['x509', '-in', path, '-noout', '-text']);
      assert.match(text, /CA:TRUE/);
      assert.match(text, /Certificate Sign, CRL Sign/);
      assert.match(text, /Subject Key Identifier/);
      assert.match(text, /Authority Key Identifier/);
      assert.match(openssl(['verify', '-CAfile', path, path]), /OK/);
    }
    const parsed = parseCertificate(ca.certDer);
    assert.equal(parsed.subject, 'CN=Rampart Test CA,O=Acme\\, Inc.');
    assert.equal(parsed.signatureAlgorithm, '1.2.840.113549.1.1.11');
    assert.ok(parsed.notBefore.getTime() <= now.getTime());
    assert.equal(ca.privateKey.asymmetricKeyType, 'rsa');
  });

  it('refuses bad parameters', async () => {
    await assert.rejects(createCertificateAuthority({ commonName: '', validityDays: 1, now }), RampartError);
    await assert.rejects(createCertificateAuthority({ commonName: 'x', validityDays: 0, now }), RampartError);
    await assert.rejects(createCertificateAuthority({ commonName: 'x', validityDays: 1.5, now }), RampartError);
  });
});

describe('issueCertificate', () => {
  it('device-identity: verifies under the CA with clientAuth, digitalSignature and keyEncipherment', async () => {
    const der = await issueCertificate(ca, { subject: 'CN=device-42,O=Rampart', publicKey: device.publicKey, validityDays: 365, now, profile: 'device-identity' });
    const path = file('dev.pem', der);
    assert.match(openssl(['verify', '-CAfile', file('ca.pem', ca.certDer), '-purpose', 'sslclient', path]), /OK/);
    const text = openssl(['x509', '-in', path, '-noout', '-text']);
    assert.match(text, /Digital Signature, Key Encipherment/);
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
    const c = parseCertificate(der);
    assert.deepEqual(c.issuerRaw, parseCertificate(ca.certDer).subjectRaw);
    assert.equal(c.subject, 'CN=device-42,O=Rampart');
    assert.equal(c.serialRaw.length, 16, '16-byte positive serial, no padding');
    assert.ok(((c.serialRaw[0] as number) & 0x80) === 0 && c.serialRaw[0] !== 0);
  });

  it('device-identity: CRL distribution point; validity never beyond the CA; bad CRL URLs refused', async () => {
    const der = await issueCertificate(ca, {
      subject: 'CN=device-crl', publicKey: device.publicKey, validityDays: 3650, now, profile: 'device-identity',
      crlDistributionPoints: ['https://mdm.example.org/pki/crl/0123456789abcdef0123456789abcdef.crl'],
    });
    const text = openssl(['x509', '-in', file('crl-dev.pem', der), '-noout', '-text']);
    assert.match(text, /X509v3 CRL Distribution Points:[\s\S]*URI:https:\/\/mdm\.example\.org\/pki\/crl\/0123456789abcdef0123456789abcdef\.crl/);
    assert.equal(parseCertificate(der).notAfter.getTime(), parseCertificate(ca.certDer).notAfter.getTime(), 'clamped to the CA');
    for (const u of ['ftp://x/y.crl', 'not a url', 'javascript:alert(1)']) {
      await assert.rejects(issueCertificate(ca, { subject: 'CN=x', publicKey: device.publicKey, validityDays: 1, now, profile: 'device-identity', crlDistributionPoints: [u] }), /invalid CRL URL/);
    }
  });

  it('serials are random unless given', async () => {
    const spki = device.publicKey.export({ format: 'der', type: 'spki' });
    const req = { subject: 'CN=x', publicKey: new Uint8Array(spki), validityDays: 1, now, profile: 'device-identity' as const };
    const [a, b] = await Promise.all([issueCertificate(ca, req), issueCertificate(ca, req)]);
    assert.notEqual(parseCertificate(a).serialHex, parseCertificate(b).serialHex);
    const fixed = await issueCertificate(ca, { ...req, serial: new Uint8Array([0x01, 0x02, 0xff]) });
    assert.equal(parseCertificate(fixed).serialHex, '0102ff');
  });

  it('tls-server: serverAuth with DNS and IP subject alternative names (EC CA too)', async () => {
    const tlsKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = await issueCertificate(ecCa, {
      subject: 'CN=mdm.example.com', publicKey: tlsKey.publicKey, validityDays: 397, now, profile: 'tls-server',
      dnsNames: ['mdm.example.com'], ipAddresses: ['10.0.0.1', '::1'],
    });
    const path = file('tls.pem', der);
    assert.match(openssl(['verify', '-CAfile', file('ecca.pem', ecCa.certDer), '-purpose', 'sslserver', path]), /OK/);
    const text = openssl(['x509', '-in', path, '-noout', '-text']);
    assert.match(text, /DNS:mdm\.example\.com, IP Address:10\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /TLS Web Server Authentication/);
  });

  it('scep-ra: signing and key encipherment, not a CA', async () => {
    const der = await issueCertificate(ca, { subject: 'CN=Rampart SCEP RA', publicKey: device.publicKey, validityDays: 30, now, profile: 'scep-ra' });
    const text = openssl(['x509', '-in', file('ra.pem', der), '-noout', '-text']);
    assert.match(text, /Digital Signature, Key Encipherment/);
    assert.doesNotMatch(text, /Extended Key Usage/);
  });

  it('refuses bad subjects, names, keys and profiles', async () => {
    const base = { subject: 'CN=x', publicKey: device.publicKey, validityDays: 1, now, profile: 'tls-server' as const };
    await assert.rejects(issueCertificate(ca, base), RampartError); // TLS without names
    await assert.rejects(issueCertificate(ca, { ...base, dnsNames: ['bad name'] }), RampartError);
    await assert.rejects(issueCertificate(ca, { ...base, ipAddresses: ['300.1.1.1'] }), RampartError);
    await assert.rejects(issueCertificate(ca, { ...base, subject: '' }), RampartError);
    await assert.rejects(issueCertificate(ca, { ...base, publicKey: new Uint8Array([1, 2, 3]) }), RampartError);
    await assert.rejects(issueCertificate(ca, { ...base, profile: 'root' as never, dnsNames: ['a'] }), RampartError);
    const leaf = await issueCertificate(ca, { ...base, profile: 'device-identity' });
    await assert.rejects(issueCertificate({ certDer: leaf, privateKey: device.privateKey }, { ...base, profile: 'device-identity' }), RampartError);
  });

  it('issued device identities sign check-ins that the CMS verifier accepts', async () => {
    const der = await issueCertificate(ca, { subject: 'CN=sim', publicKey: device.publicKey, validityDays: 1, now, profile: 'device-identity' });
    const body = new TextEncoder().encode('<plist/>');
    const sig = signDetached(body, { certDer: der, privateKey: device.privateKey }, { now });
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: [ca.certDer], now }).subject, 'CN=sim');
    assert.throws(() => verifyDetachedSignature(sig, body, { trustAnchors: [ecCa.certDer], now }), RampartError);
  });
});
