import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RampartError } from '../lib/errors.ts';
import { createCertificateAuthority } from './authority.ts';
import type { CaMaterial } from './authority.ts';
import { createCrl } from './crl.ts';
import { toPem } from './pem.ts';

const now = new Date();
const dir = mkdtempSync(join(tmpdir(), 'rampart-crl-'));
let ca: CaMaterial;
before(async () => {
  ca = await createCertificateAuthority({ commonName: 'CRL CA', validityDays: 30, now, keyAlgorithm: 'ecdsa-p256' });
  writeFileSync(join(dir, 'ca.pem'), toPem('CERTIFICATE', ca.certDer));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('createCrl', () => {
  it('produces a CRL that openssl verifies, with entries, reasons and the CRL number', async () => {
    const crl = await createCrl(ca, [
      { serialHex: '00C0FFEE', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'keyCompromise' },
      { serialHex: '0a0b', revokedAt: now },
    ], { now, nextUpdateHours: 48, crlNumber: 12345678901234567890n });
    writeFileSync(join(dir, 'crl.der'), crl);
    const out = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'ca.pem'), '-noout', '-text'],
      { stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    assert.match(out, /Serial Number: C0FFEE/);
    assert.match(out, /Serial Number: 0A0B/);
    assert.match(out, /Key Compromise/);
    assert.match(out, /X509v3 CRL Number: \s*\n\s*12345678901234567890/);
    const err = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-CAfile', join(dir, 'ca.pem'), '-noout'],
      { stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    assert.equal(err, '');
  });

  it('an empty CRL is valid', async () => {
    const crl = await createCrl(ca, [], { now, nextUpdateHours: 1, crlNumber: 1 });
    assert.ok(crl.length > 50);
  });

  it('openssl crl -verify accepts the signature of an ECDSA and an RSA CA, and refuses another CA', async () => {
    const rsa = await createCertificateAuthority({ commonName: 'RSA CRL CA', validityDays: 30, now, keyAlgorithm: 'rsa-2048' });
    writeFileSync(join(dir, 'rsa.pem'), toPem('CERTIFICATE', rsa.certDer));
    for (const [c, file] of [[ca, 'ca.pem'], [rsa, 'rsa.pem']] as const) {
      const crl = await createCrl(c, [{ serialHex: '7f01', revokedAt: now, reason: 'superseded' }], { now, nextUpdateHours: 24, crlNumber: 3 });
      writeFileSync(join(dir, 'v.crl'), crl);
      const run = (caFile: string) => execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'v.crl'), '-noout', '-verify', '-CAfile', join(dir, caFile)], { stdio: ['pipe', 'pipe', 'pipe'] });
      run(file);
      assert.throws(() => run(file === 'ca.pem' ? 'rsa.pem' : 'ca.pem'));
    }
  });

  it('ten thousand entries in well under a second or two', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ serialHex: `7${(i + 1).toString(16).padStart(31, '0')}`, revokedAt: now, reason: 'superseded' }));
    const t0 = performance.now();
    const crl = await createCrl(ca, entries, { now, nextUpdateHours: 24, crlNumber: 9 });
    const ms = performance.now() - t0;
    console.log(`# createCrl: 10000 entries, ${crl.length} bytes, ${ms.toFixed(0)} ms`);
    writeFileSync(join(dir, 'big.crl'), crl);
    const out = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'big.crl'), '-noout', '-verify', '-CAfile', join(dir, 'ca.pem'), '-text'], { stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).toString();
    assert.equal((out.match(/Serial Number:/g) ?? []).length, 10_000);
    assert.ok(ms < 2000, `${ms} ms`);
  });

  it('refuses bad serials, duplicates, reasons and update windows', async () => {
    const opts = { now, nextUpdateHours: 1, crlNumber: 1 };
    await assert.rejects(createCrl(ca, [{ serialHex: 'zz', revokedAt: now }], opts), RampartError);
    await assert.rejects(createCrl(ca, [{ serialHex: '00', revokedAt: now }], opts), RampartError);
    await assert.rejects(createCrl(ca, [{ serialHex: '01', revokedAt: now }, { serialHex: '0001', revokedAt: now }], opts), RampartError);
    await assert.rejects(createCrl(ca, [{ serialHex: '01', revokedAt: now, reason: 'because' }], opts), RampartError);
    await assert.rejects(createCrl(ca, [], { ...opts, nextUpdateHours: 0 }), RampartError);
    await assert.rejects(createCrl(ca, [], { ...opts, crlNumber: -1 }), RampartError);
  });
});
