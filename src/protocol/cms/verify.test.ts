import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { RampartError } from '../../lib/errors.ts';
import { createOpensslFixtures, opensslSign } from './openssl-fixtures.test.ts';
import type { OpensslFixtures } from './openssl-fixtures.test.ts';
import { signAttached, signDetached } from './sign.ts';
import { children, concat, parse, raw } from './der.ts';
import type { Node } from './der.ts';
import {
  createCmsVerifier, decodeSignatureHeader, parseSignedAttached, verifyDetachedSignature,
} from './verify.ts';

let fx: OpensslFixtures;
let anchors: Uint8Array[];
const body = new TextEncoder().encode('<?xml version="1.0"?><plist><dict><key>MessageType</key><string>Authenticate</string></dict></plist>');
const now = new Date(Date.now() + 60_000); // openssl certificates start "now"; fixtures are made after this line
const DAY = 86_400_000;

function rejects(fn: () => unknown, code: string, detail?: string): RampartError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RampartError, `expected RampartError, got ${String(caught)}`);
  assert.equal(caught.code, code, `code (detail: ${caught.detail})`);
  if (detail !== undefined) assert.equal(caught.detail, detail);
  return caught;
}

/** Re-frames selected constructed nodes with indefinite lengths (valid BER, same values). */
function toIndefinite(der: Uint8Array, pick: (n: Node, depth: number, parentTag: number) => boolean): Uint8Array {
  const walk = (n: Node, depth: number, parentTag: number): Uint8Array => {
    if (!n.constructed || !pick(n, depth, parentTag)) return raw(n);
    return concat([new Uint8Array([n.tag, 0x80]), ...children(n).map((k) => walk(k, depth + 1, n.tag)), new Uint8Array([0, 0])]);
  };
  return walk(parse(der), 0, 0);
}

before(() => {
  fx = createOpensslFixtures();
  anchors = [fx.ca.certDer];
});
after(() => fx.cleanup());

describe('verifyDetachedSignature with OpenSSL-made signatures', () => {
  it('accepts openssl cms -sign (RSA, SHA-256) and describes the signer', () => {
    const sig = opensslSign(fx, body, fx.device);
    const s = verifyDetachedSignature(sig, body, { trustAnchors: anchors, now });
    assert.equal(s.subject, 'CN=device-1,O=Rampart');
    assert.equal(s.serialHex, 'c0ffee01');
    assert.equal(s.certSha256, createHash('sha256').update(fx.device.certDer).digest('hex'));
    assert.deepEqual(s.certDer, fx.device.certDer);
    assert.ok(s.notAfter.getTime() > now.getTime());
  });

  for (const md of ['sha1', 'sha384', 'sha512']) {
    it(`accepts digest ${md}`, () => {
      const sig = opensslSign(fx, body, fx.device, ['-md', md]);
      assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }).subject, 'CN=device-1,O=Rampart');
    });
  }

  it('accepts ECDSA signers', () => {
    const sig = opensslSign(fx, body, fx.ecDevice);
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }).subject, 'CN=device-ec,O=Rampart');
  });

  it('accepts openssl smime (PKCS #7) detached signatures', () => {
    const sig = opensslSign(fx, body, fx.device, [], 'smime');
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }).serialHex, 'c0ffee01');
  });

  it('accepts signatures without signed attributes (signature over the content)', () => {
    const sig = opensslSign(fx, body, fx.device, ['-noattr']);
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }).serialHex, 'c0ffee01');
    rejects(() => verifyDetachedSignature(sig, body.subarray(1), { trustAnchors: anchors, now }), 'unauthorized', 'signature does not verify');
  });

  it('accepts BER with indefinite lengths, as some Apple devices send (OpenSSL agrees it is valid)', () => {
    const der = opensslSign(fx, body, fx.device);
    // Outer structure (ContentInfo .. SignerInfo) and, separately, also the signed attributes.
    const variants = [
      toIndefinite(der, (_n, depth) => depth <= 3),
      toIndefinite(der, (n, depth, parentTag) => depth <= 3 || (depth === 4 && parentTag === 0x31) || (depth === 5 && n.tag === 0xa0)),
    ];
    for (const ber of variants) {
      assert.equal(ber[1], 0x80, 'fixture really is indefinite-length BER');
      assert.notDeepEqual(ber, der);
      fx.run(['cms', '-verify', '-binary', '-inform', 'DER', '-in', fx.write('ber.der', ber), '-content', fx.write('ber.bin', body),
        '-CAfile', fx.ca.certPath, '-purpose', 'any', '-out', fx.path('ber.out')]);
      assert.equal(verifyDetachedSignature(ber, body, { trustAnchors: anchors, now }).serialHex, 'c0ffee01');
    }
  });

  it('accepts a subjectKeyIdentifier signer identifier (-keyid)', () => {
    const sig = opensslSign(fx, body, fx.device, ['-keyid']);
    assert.equal(verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }).serialHex, 'c0ffee01');
  });

  it('accepts an empty body', () => {
    const empty = new Uint8Array(0);
    const sig = opensslSign(fx, empty, fx.device);
    assert.equal(verifyDetachedSignature(sig, empty, { trustAnchors: anchors, now }).serialHex, 'c0ffee01');
  });
});

describe('verifyDetachedSignature refuses', () => {
  it('tampered content', () => {
    const sig = opensslSign(fx, body, fx.device);
    const tampered = Uint8Array.from(body);
    tampered[10] = (tampered[10] as number) ^ 1;
    const e = rejects(() => verifyDetachedSignature(sig, tampered, { trustAnchors: anchors, now }), 'unauthorized', 'message digest mismatch');
    assert.equal(e.message, 'invalid signature');
  });

  it('a tampered signature value', () => {
    const sig = Uint8Array.from(opensslSign(fx, body, fx.device));
    sig[sig.length - 5] = (sig[sig.length - 5] as number) ^ 0x40; // inside the RSA signature, the last field
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'signature does not verify');
  });

  it('a certificate from another CA (same CA name, different key)', () => {
    const sig = opensslSign(fx, body, fx.device);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: [fx.otherCa.certDer], now }),
      'unauthorized', 'certificate not issued by a trust anchor');
  });

  it('an expired or not yet valid certificate, also on a cache hit', () => {
    const sig = opensslSign(fx, body, fx.device);
    const v = createCmsVerifier({ trustAnchors: anchors });
    v.verifyDetached(sig, body, { now });
    rejects(() => v.verifyDetached(sig, body, { now: new Date(now.getTime() + 11 * DAY) }), 'unauthorized', 'certificate not valid at this time');
    rejects(() => v.verifyDetached(sig, body, { now: new Date(now.getTime() - DAY) }), 'unauthorized', 'certificate not valid at this time');
  });

  it('an expired trust anchor', () => {
    const sig = opensslSign(fx, body, fx.device);
    // The device certificate (10 days) outlives... nothing; move past the CA's 30 days instead.
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now: new Date(now.getTime() + 31 * DAY) }), 'unauthorized');
  });

  it('an unsupported digest algorithm', () => {
    const sig = opensslSign(fx, body, fx.device, ['-md', 'sha224']);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'unsupported digest algorithm');
  });

  it('two signers', () => {
    const input = fx.write('two.bin', body);
    const sig = new Uint8Array(fx.run(['cms', '-sign', '-binary', '-in', input, '-signer', fx.device.certPath, '-inkey', fx.device.keyPath,
      '-signer', fx.ecDevice.certPath, '-inkey', fx.ecDevice.keyPath, '-outform', 'DER']));
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'exactly one signer required');
  });

  it('a signature without the signer certificate', () => {
    const sig = opensslSign(fx, body, fx.device, ['-nocerts']);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'signer certificate not present');
  });

  it('a signature that carries only a different certificate than the signer', () => {
    const sig = opensslSign(fx, body, fx.device, ['-nocerts', '-certfile', fx.ecDevice.certPath]);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'signer certificate not present');
  });

  it('an attached signature where a detached one is expected, and the reverse', () => {
    const attached = opensslSign(fx, body, fx.device, ['-nodetach']);
    rejects(() => verifyDetachedSignature(attached, body, { trustAnchors: anchors, now }), 'unauthorized', 'expected a detached signature');
    const detached = opensslSign(fx, body, fx.device);
    rejects(() => parseSignedAttached(detached, anchors, now), 'unauthorized', 'expected encapsulated content');
  });

  it('a signer certificate that is itself a CA', () => {
    const sig = opensslSign(fx, body, fx.caLikeSigner);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'signer certificate is a CA');
  });

  it('the trust anchor signing directly', () => {
    const sig = opensslSign(fx, body, fx.ca);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'signer certificate is a CA');
  });

  it('a signer with an unknown critical extension', () => {
    const sig = opensslSign(fx, body, fx.criticalExtSigner);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'unknown critical extension');
  });

  it('a signer whose key usage does not allow signatures', () => {
    const sig = opensslSign(fx, body, fx.noSignUsageSigner);
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now }), 'unauthorized', 'key usage');
  });

  it('malformed DER with bad_request, oversized input with payload_too_large', () => {
    const sig = opensslSign(fx, body, fx.device);
    const e = rejects(() => verifyDetachedSignature(sig.subarray(0, sig.length - 1), body, { trustAnchors: anchors, now }), 'bad_request');
    assert.equal(e.message, 'malformed signature');
    rejects(() => verifyDetachedSignature(new Uint8Array([...sig, 0]), body, { trustAnchors: anchors, now }), 'bad_request');
    rejects(() => verifyDetachedSignature(new Uint8Array(0), body, { trustAnchors: anchors, now }), 'bad_request');
    rejects(() => verifyDetachedSignature(sig, body, { trustAnchors: anchors, now, maxSignatureBytes: 100 }), 'payload_too_large');
  });

  it('nesting deeper than the limit', () => {
    let x: number[] = [0x05, 0x00];
    for (let i = 0; i < 40; i++) x = [0x30, 0x80, ...x, 0, 0];
    rejects(() => verifyDetachedSignature(new Uint8Array(x), body, { trustAnchors: anchors, now }), 'bad_request');
  });

  it('never echoes input in messages', () => {
    const e = rejects(() => verifyDetachedSignature(new TextEncoder().encode('<script>x</script>'), body, { trustAnchors: anchors, now }), 'bad_request');
    assert.ok(!e.message.includes('script'));
  });
});

describe('certificate cache', () => {
  it('is per anchor set: a certificate trusted under one set is not trusted under another', () => {
    const sig = opensslSign(fx, body, fx.device);
    const trusted = createCmsVerifier({ trustAnchors: anchors });
    const other = createCmsVerifier({ trustAnchors: [fx.otherCa.certDer] });
    trusted.verifyDetached(sig, body, { now });
    rejects(() => other.verifyDetached(sig, body, { now }), 'unauthorized', 'certificate not issued by a trust anchor');
    trusted.verifyDetached(sig, body, { now });
  });

  it('evicts least recently used entries and still verifies after eviction', () => {
    const a = opensslSign(fx, body, fx.device);
    const b = opensslSign(fx, body, fx.ecDevice);
    const v = createCmsVerifier({ trustAnchors: anchors, cacheSize: 1 });
    for (let i = 0; i < 3; i++) {
      assert.equal(v.verifyDetached(a, body, { now }).serialHex, 'c0ffee01');
      assert.equal(v.verifyDetached(b, body, { now }).serialHex, '1234');
    }
  });

  it('does not let a caller mutate cached results', () => {
    const sig = opensslSign(fx, body, fx.device);
    const first = verifyDetachedSignature(sig, body, { trustAnchors: anchors, now });
    first.certDer.fill(0);
    const second = verifyDetachedSignature(sig, body, { trustAnchors: anchors, now });
    assert.deepEqual(second.certDer, fx.device.certDer);
  });

  it('refuses a bad signature even when the certificate is cached', () => {
    const good = opensslSign(fx, body, fx.device);
    const v = createCmsVerifier({ trustAnchors: anchors });
    v.verifyDetached(good, body, { now });
    rejects(() => v.verifyDetached(good, new Uint8Array([1, 2, 3]), { now }), 'unauthorized', 'message digest mismatch');
  });
});

describe('parseSignedAttached', () => {
  it('returns the content of openssl -nodetach and smime -nodetach signatures', () => {
    for (const cmd of ['cms', 'smime'] as const) {
      const der = opensslSign(fx, body, fx.device, ['-nodetach'], cmd);
      const r = parseSignedAttached(der, anchors, now);
      assert.deepEqual(r.content, body);
      assert.equal(r.signer.serialHex, 'c0ffee01');
    }
  });

  it('reassembles constructed OCTET STRING content from streamed BER', () => {
    const big = new Uint8Array(5000).map((_, i) => i % 251);
    const der = opensslSign(fx, big, fx.device, ['-nodetach', '-stream']);
    assert.deepEqual(parseSignedAttached(der, anchors, now).content, big);
  });
});

describe('fuzzing', () => {
  it('random bytes never throw anything but a RampartError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        verifyDetachedSignature(bytes, body, { trustAnchors: anchors, now });
        return false;
      } catch (e) {
        return e instanceof RampartError;
      }
    }), { numRuns: 2000 });
  });

  it('random DER-ish prefixes never throw anything but a RampartError', () => {
    fc.assert(fc.property(
      fc.constantFrom(0x30, 0x31, 0xa0, 0x04, 0x24, 0x06, 0x02),
      fc.uint8Array({ maxLength: 300 }),
      (tag, rest) => {
        try {
          verifyDetachedSignature(new Uint8Array([tag, 0x80, ...rest]), body, { trustAnchors: anchors, now });
          return false;
        } catch (e) {
          return e instanceof RampartError;
        }
      },
    ), { numRuns: 1000 });
  });

  it('single-byte mutations of a valid signature are refused with a RampartError or change nothing signed', () => {
    const sig = opensslSign(fx, body, fx.device);
    const expected = verifyDetachedSignature(sig, body, { trustAnchors: anchors, now });
    fc.assert(fc.property(fc.nat(sig.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const m = Uint8Array.from(sig);
      m[pos] = (m[pos] as number) ^ x;
      try {
        const s = verifyDetachedSignature(m, body, { trustAnchors: anchors, now });
        // Only unsigned, informational bytes (e.g. the digestAlgorithms set) may change without effect.
        return s.certSha256 === expected.certSha256;
      } catch (e) {
        return e instanceof RampartError;
      }
    }), { numRuns: 1500 });
  });
});

describe('decodeSignatureHeader', () => {
  it('decodes base64, tolerating folded whitespace', () => {
    const sig = opensslSign(fx, body, fx.device);
    const b64 = Buffer.from(sig).toString('base64');
    const folded = b64.replace(/(.{76})/g, '$1\r\n ');
    assert.deepEqual(decodeSignatureHeader(folded), sig);
  });

  it('refuses missing, non-base64 and oversized values', () => {
    rejects(() => decodeSignatureHeader(undefined), 'unauthorized');
    rejects(() => decodeSignatureHeader(''), 'unauthorized');
    rejects(() => decodeSignatureHeader('abc*'), 'bad_request');
    rejects(() => decodeSignatureHeader('abc'), 'bad_request');
    rejects(() => decodeSignatureHeader('A'.repeat(200), 100), 'payload_too_large');
    rejects(() => decodeSignatureHeader('A'.repeat(1_000_000)), 'payload_too_large');
  });
});

describe('our signer against our verifier', () => {
  it('round-trips detached and attached signatures (RSA, EC; SHA-256, SHA-1)', () => {
    for (const signer of [fx.device, fx.ecDevice]) {
      for (const digest of ['sha256', 'sha1'] as const) {
        const s = { certDer: signer.certDer, privateKey: signer.privateKey };
        const d = signDetached(body, s, { digest, now });
        assert.ok(verifyDetachedSignature(d, body, { trustAnchors: anchors, now }).subject.startsWith('CN=device'));
        const a = signAttached(body, s, { digest, now });
        assert.deepEqual(parseSignedAttached(a, anchors, now).content, body);
      }
    }
  });
});

describe('verifyCertificate (client certificates forwarded by a trusted proxy)', () => {
  it('accepts a certificate issued by an anchor and refuses everything else', () => {
    const v = createCmsVerifier({ trustAnchors: anchors });
    const ok = v.verifyCertificate(fx.device.certDer, { now });
    assert.equal(ok.certSha256, createHash('sha256').update(fx.device.certDer).digest('hex'));
    // Cached the second time, and still checked against the clock.
    assert.equal(v.verifyCertificate(fx.device.certDer, { now }).certSha256, ok.certSha256);
    rejects(() => v.verifyCertificate(fx.device.certDer, { now: new Date(now.getTime() + 20 * 365 * DAY) }), 'unauthorized');
    rejects(() => v.verifyCertificate(fx.otherCa.certDer, { now }), 'unauthorized');
    rejects(() => v.verifyCertificate(fx.caLikeSigner.certDer, { now }), 'unauthorized');
    rejects(() => v.verifyCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), { now }), 'unauthorized');
    rejects(() => v.verifyCertificate(new Uint8Array(0), { now }), 'bad_request');
  });
});

describe('intermediate CAs (an enrollment CA under an external root)', () => {
  it('accepts signers that chain through checked intermediates to an anchor, and nothing else', async () => {
    const { opensslRoot } = await import('../../pki/external-root.test.ts');
    const { createCaRequest } = await import('../../pki/ca-import.ts');
    const { issueCertificate } = await import('../../pki/authority.ts');
    const { fromPem, toPem } = await import('../../pki/pem.ts');
    const { generateKeyPairSync } = await import('node:crypto');
    const root = opensslRoot();
    const other = opensslRoot({ cn: 'Other Root' });
    try {
      const t = new Date();
      const pem1 = (p: string): Uint8Array => fromPem(p, 'CERTIFICATE')[0]!;
      const int1Req = await createCaRequest({ commonName: 'Level One' });
      const int1 = pem1(root.signIntermediate(toPem('CERTIFICATE REQUEST', int1Req.csrDer), { pathlen: 1, days: 20 }));
      const int2 = await issueCertificate({ certDer: int1, privateKey: int1Req.privateKey }, {
        subject: 'CN=Level Two', publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, validityDays: 10, now: t, profile: 'device-identity',
      });
      // int2 above is a leaf (device-identity profile): listed as an intermediate it must be left out.
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const device = { certDer: await issueCertificate({ certDer: int1, privateKey: int1Req.privateKey }, { subject: 'CN=dev', publicKey, validityDays: 60, now: t, profile: 'device-identity' }), privateKey };
      const rootDer = pem1(root.rootPem);
      const sig = signDetached(body, device);
      const at = new Date(t.getTime() + 60_000);
      createCmsVerifier({ trustAnchors: [rootDer], intermediates: [int1] }).verifyDetached(sig, body, { now: at });
      createCmsVerifier({ trustAnchors: [rootDer], intermediates: [int1] }).verifyCertificate(device.certDer, { now: at });
      rejects(() => createCmsVerifier({ trustAnchors: [rootDer] }).verifyDetached(sig, body, { now: at }), 'unauthorized', 'certificate not issued by a trust anchor');
      rejects(() => createCmsVerifier({ trustAnchors: [pem1(other.rootPem)], intermediates: [int1] }).verifyDetached(sig, body, { now: at }), 'unauthorized');
      // The intermediate expires before the root and before a device certificate that openssl made to outlive it
      // (Rampart itself never issues beyond its CA): refused from then on.
      root.file('int1.pem', toPem('CERTIFICATE', int1));
      root.file('int1.key', int1Req.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
      root.run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'long.key', '-subj', '/CN=long-lived', '-out', 'long.csr']);
      root.file('long.ext', 'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n');
      root.run(['x509', '-req', '-in', 'long.csr', '-CA', 'int1.pem', '-CAkey', 'int1.key', '-CAcreateserial', '-days', '60', '-extfile', 'long.ext', '-outform', 'DER', '-out', 'long.der']);
      const { readFileSync } = await import('node:fs');
      const { createPrivateKey } = await import('node:crypto');
      const longLived = {
        certDer: new Uint8Array(readFileSync(`${root.dir}/long.der`)),
        privateKey: createPrivateKey(readFileSync(`${root.dir}/long.key`)),
      };
      const longSig = signDetached(body, longLived);
      const v2 = createCmsVerifier({ trustAnchors: [rootDer], intermediates: [int1] });
      v2.verifyDetached(longSig, body, { now: at });
      rejects(() => v2.verifyDetached(longSig, body, { now: new Date(t.getTime() + 25 * DAY) }), 'unauthorized', 'trust anchor not valid at this time');
      rejects(() => v2.verifyCertificate(longLived.certDer, { now: new Date(t.getTime() + 25 * DAY) }), 'unauthorized', 'trust anchor not valid now');
      // A non-CA listed as an intermediate is left out (it is not a signer's issuer either).
      const v = createCmsVerifier({ trustAnchors: [rootDer], intermediates: [int2, int1] });
      v.verifyCertificate(device.certDer, { now: at });
    } finally {
      root.close();
      other.close();
    }
  });
});
