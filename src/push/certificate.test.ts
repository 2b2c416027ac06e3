import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certState, parsePushCertificate, parsePushCertificateP12, topicOf } from './certificate.ts';
import { opensslP12 } from '../pki/pkcs12-openssl.test.ts';
import { createLocalPushCertificate } from './local-apns.ts';
import { fromPem } from '../pki/pem.ts';

const TOPIC = 'com.apple.mgmt.External.0f4a5c1e-1111-2222-3333-444455556666';

describe('push certificate', () => {
  it('reads the topic and validity, and normalises the key to PKCS#8', async () => {
    const { certPem, keyPem } = await createLocalPushCertificate({ topic: TOPIC });
    const c = parsePushCertificate(certPem, keyPem);
    assert.equal(c.topic, TOPIC);
    assert.match(c.keyPem, /BEGIN PRIVATE KEY/);
    assert.match(c.sha256, /^[0-9a-f]{64}$/);
    assert.ok(Date.parse(c.notAfter) > Date.now());
    assert.equal(topicOf(fromPem(certPem)[0]!), TOPIC);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const { certPem } = await createLocalPushCertificate({ topic: TOPIC });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => parsePushCertificate(certPem, other), /does not match/);
  });

  it('refuses a certificate without a com.apple.mgmt UID, garbage, and oversized input', async () => {
    const { certPem, keyPem } = await createLocalPushCertificate({ topic: 'org.example.not-mdm' });
    assert.throws(() => parsePushCertificate(certPem, keyPem), /not an MDM push certificate/);
    assert.throws(() => parsePushCertificate('nonsense', keyPem), /invalid certificate/);
    assert.throws(() => parsePushCertificate(certPem, 'nonsense'), /invalid private key/);
    assert.throws(() => parsePushCertificate('x'.repeat(100_000), keyPem), /invalid certificate/);
  });

  it('reads a pair made by the openssl command line (independent implementation)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'push-cert-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
        '-subj', `/UID=${TOPIC}/CN=APSP:openssl/C=US`], { stdio: 'ignore' });
      const c = parsePushCertificate(readFileSync(join(dir, 'c.pem'), 'utf8'), readFileSync(join(dir, 'k.pem'), 'utf8'));
      assert.equal(c.topic, TOPIC);
      assert.equal(certState(c, new Date(), 30), 'expiring');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts an encrypted key with its passphrase only', async () => {
    const { certPem, keyPem } = await createLocalPushCertificate({ topic: TOPIC });
    const { createPrivateKey } = await import('node:crypto');
    const enc = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    assert.throws(() => parsePushCertificate(certPem, enc), /invalid private key/);
    assert.equal(parsePushCertificate(certPem, enc, { keyPassphrase: 'pw' }).topic, TOPIC);
  });

  it('reads a .p12 made by openssl pkcs12 -export (default and -legacy) with the same checks as PEM', async () => {
    const pair = await createLocalPushCertificate({ topic: TOPIC });
    const pem = parsePushCertificate(pair.certPem, pair.keyPem);
    for (const args of [[], ['-legacy']]) {
      const c = parsePushCertificateP12(opensslP12({ ...pair, password: 'secret', args }), 'secret');
      assert.equal(c.topic, TOPIC);
      assert.equal(c.sha256, pem.sha256);
      assert.equal(c.keyPem, pem.keyPem);
    }
    assert.throws(() => parsePushCertificateP12(opensslP12({ ...pair, password: 'secret' }), 'nope'), /wrong PKCS#12 password/);
    const notPush = await createLocalPushCertificate({ topic: 'org.example.not-mdm' });
    assert.throws(() => parsePushCertificateP12(opensslP12({ ...notPush, password: 'x' }), 'x'), /not an MDM push certificate/);
  });

  it('states: valid, expiring within the warning window, expired, not yet valid', () => {
    const c = { notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-12-31T00:00:00.000Z' };
    assert.equal(certState(c, new Date('2026-06-01T00:00:00Z'), 30), 'valid');
    assert.equal(certState(c, new Date('2026-12-15T00:00:00Z'), 30), 'expiring');
    assert.equal(certState(c, new Date('2026-12-31T00:00:00Z'), 30), 'expired');
    assert.equal(certState(c, new Date('2025-12-31T00:00:00Z'), 30), 'not_yet_valid');
  });
});
