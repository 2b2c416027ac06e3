import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DerError, encodeOid, parse, seq, setOf, tlv } from './der.ts';
import { KU, formatName, parseCertificate } from './certificate.ts';
import { createOpensslFixtures } from './openssl-fixtures.test.ts';
import type { OpensslFixtures } from './openssl-fixtures.test.ts';

let fx: OpensslFixtures;
before(() => {
  fx = createOpensslFixtures();
});
after(() => fx.cleanup());

describe('parseCertificate', () => {
  it('reads what openssl reports', () => {
    const c = parseCertificate(fx.device.certDer);
    assert.equal(c.subject, 'CN=device-1,O=Rampart');
    assert.equal(c.issuer, 'CN=Rampart Test CA,O=Rampart');
    assert.equal(c.serialHex, 'c0ffee01');
    assert.deepEqual([...c.serialRaw], [0x00, 0xc0, 0xff, 0xee, 0x01]);
    assert.equal(c.isCa, false);
    assert.equal(c.keyUsage, KU.digitalSignature | KU.keyEncipherment);
    assert.ok(c.subjectKeyId && c.subjectKeyId.length === 20);
    assert.equal(c.hasUnknownCritical, false);
    const dates = fx.run(['x509', '-in', fx.device.certPath, '-noout', '-enddate']).toString().trim().replace('notAfter=', '');
    assert.equal(c.notAfter.getTime(), new Date(dates).getTime());
    const ca = parseCertificate(fx.ca.certDer);
    assert.equal(ca.isCa, true);
    assert.deepEqual(ca.subjectRaw, c.issuerRaw);
    assert.equal(parseCertificate(fx.criticalExtSigner.certDer).hasUnknownCritical, true);
  });

  it('refuses a certificate whose two algorithm fields differ, and garbage', () => {
    const der = Uint8Array.from(fx.device.certDer);
    // sha256WithRSAEncryption ends in 0x0b; patch the outer copy (after the TBS) to sha384 (0x0c).
    const pattern = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    let last = -1;
    for (let i = 0; i < der.length - pattern.length; i++) if (pattern.every((v, j) => der[i + j] === v)) last = i;
    der[last + 8] = 0x0c;
    assert.throws(() => parseCertificate(der), DerError);
    assert.throws(() => parseCertificate(new Uint8Array([0x30, 0x00])), DerError);
  });
});

describe('formatName', () => {
  it('escapes special and control characters so names are safe to log', () => {
    const atv = (o: string, v: string): Uint8Array => setOf([seq(encodeOid(o), tlv(0x0c, new TextEncoder().encode(v)))]);
    const name = seq(atv('2.5.4.3', 'a,b=c\n'), atv('2.5.4.10', ' #x '), atv('1.2.3.4', 'q'));
    assert.equal(formatName(parse(name)), 'CN=a\\,b\\=c\\0a,O=\\ #x\\ ,1.2.3.4=q');
  });
});
