import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RampartError } from '../../lib/errors.ts';
import { children, expectKids, oid, parse, time, TAG } from './der.ts';
import { createOpensslFixtures } from './openssl-fixtures.test.ts';
import type { OpensslFixtures } from './openssl-fixtures.test.ts';
import { signAttached, signDetached } from './sign.ts';
import { parseSignedAttached, verifyDetachedSignature } from './verify.ts';

let fx: OpensslFixtures;
const body = new TextEncoder().encode('<plist><dict><key>Status</key><string>Acknowledged</string></dict></plist>\n');
const now = new Date(Date.now() + 60_000);

before(() => {
  fx = createOpensslFixtures();
});
after(() => fx.cleanup());

function opensslVerify(sig: Uint8Array, content?: Uint8Array): Buffer {
  const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', fx.write('v.der', sig), '-CAfile', fx.ca.certPath, '-purpose', 'any'];
  if (content) args.push('-content', fx.write('v.bin', content));
  return fx.run(args);
}

describe('signDetached', () => {
  for (const [name, digest] of [['SHA-256', 'sha256'], ['SHA-1', 'sha1']] as const) {
    it(`RSA ${name} output verifies with openssl cms -verify`, () => {
      const sig = signDetached(body, fx.device, { digest, now });
      assert.deepEqual(new Uint8Array(opensslVerify(sig, body)), body);
    });
  }

  it('ECDSA output verifies with openssl cms -verify', () => {
    const sig = signDetached(body, fx.ecDevice, { now });
    assert.deepEqual(new Uint8Array(opensslVerify(sig, body)), body);
  });

  it('openssl refuses it for other content (the test can fail)', () => {
    const sig = signDetached(body, fx.device, { now });
    assert.throws(() => opensslVerify(sig, new TextEncoder().encode('other')));
  });

  it('carries contentType, signingTime and messageDigest signed attributes, in DER order', () => {
    const at = new Date('2031-05-06T07:08:09Z');
    const sig = signDetached(body, fx.device, { now: at });
    const [, wrapped] = expectKids(parse(sig), TAG.SEQUENCE, 2, 2);
    const sd = children(children(wrapped as never)[0] as never);
    const signerInfos = sd[sd.length - 1];
    const si = children(children(signerInfos as never)[0] as never);
    const attrs = children(si[3] as never);
    assert.equal(si[3]?.tag, 0xa0);
    const types = attrs.map((a) => oid(children(a)[0]));
    assert.deepEqual([...types].sort(), ['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4', '1.2.840.113549.1.9.5']);
    const st = attrs.find((a) => oid(children(a)[0]) === '1.2.840.113549.1.9.5');
    assert.equal(time(children(children(st as never)[1] as never)[0]).toISOString(), '2031-05-06T07:08:09.000Z');
    // DER SET OF order: encodings ascending.
    const enc = attrs.map((a) => Buffer.from(a.buf.subarray(a.start, a.end)));
    for (let i = 1; i < enc.length; i++) assert.ok(Buffer.compare(enc[i - 1] as Buffer, enc[i] as Buffer) <= 0);
  });

  it('includes extra chain certificates', () => {
    const sig = signDetached(body, fx.device, { now, includeChain: [fx.ca.certDer] });
    const pem = fx.run(['pkcs7', '-inform', 'DER', '-in', fx.write('c.der', sig), '-print_certs']).toString();
    assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: [fx.ca.certDer], now }).serialHex, 'c0ffee01');
  });

  it('refuses a private key that does not belong to the certificate', () => {
    assert.throws(() => signDetached(body, { certDer: fx.device.certDer, privateKey: fx.ecDevice.privateKey }), RampartError);
  });

  it('refuses a malformed certificate', () => {
    assert.throws(() => signDetached(body, { certDer: new Uint8Array([1, 2, 3]), privateKey: fx.device.privateKey }), RampartError);
  });
});

describe('signAttached', () => {
  it('openssl cms -verify extracts the content', () => {
    const der = signAttached(body, fx.device, { now });
    assert.deepEqual(new Uint8Array(opensslVerify(der)), body);
  });

  it('openssl smime -verify (PKCS #7) accepts it too', () => {
    const der = signAttached(body, fx.ecDevice, { now });
    const out = fx.run(['smime', '-verify', '-binary', '-inform', 'DER', '-in', fx.write('s.der', der), '-CAfile', fx.ca.certPath, '-purpose', 'any']);
    assert.deepEqual(new Uint8Array(out), body);
  });

  it('round-trips through parseSignedAttached, large content included', () => {
    const big = new Uint8Array(70_000).map((_, i) => (i * 7) % 256);
    const der = signAttached(big, fx.device, { now });
    const r = parseSignedAttached(der, [fx.ca.certDer], now);
    assert.deepEqual(r.content, big);
    assert.equal(r.signer.subject, 'CN=device-1,O=Rampart');
  });

  it('is refused by a verifier trusting another CA', () => {
    const der = signAttached(body, fx.device, { now });
    assert.throws(() => parseSignedAttached(der, [fx.otherCa.certDer], now), (e: unknown) => e instanceof RampartError && e.code === 'unauthorized');
  });
});
