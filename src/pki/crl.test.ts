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
