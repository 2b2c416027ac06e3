// The PKCS#12 reader against files made by `openssl pkcs12 -export` (default
// PBES2/AES, -legacy RC2/3DES, -descert, -keypbe/-certpbe variants, MAC
// digests, chains), files built here for the cases OpenSSL will not write
// (two keys, key without its certificate, nested bags), and malformed input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHmac, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { isRampartError } from '../lib/errors.ts';
import { fromPem } from './pem.ts';
import { MAX_PKCS12_BYTES, P12_ERRORS, readPkcs12 } from './pkcs12.ts';
import { KDF_MAC, bmpPassword, pkcs12Kdf } from './pkcs12-pbe.ts';
import { opensslHasLegacy, opensslP12, opensslP12Info } from './pkcs12-openssl.test.ts';

type Pair = { certPem: string; keyPem: string; certDer: Uint8Array; keyDer: Uint8Array };

const MESSAGES = new Set<string>(Object.values(P12_ERRORS));

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(isRampartError(e), `not a RampartError: ${String(e)}`);
    assert.equal(e.code, 'bad_request');
    assert.ok(MESSAGES.has(e.message), e.message);
    return e.message;
  }
  assert.fail('accepted');
}

// --- a small PFX writer for the files OpenSSL will not make ---------------
const O = (v: string): asn1js.ObjectIdentifier => new asn1js.ObjectIdentifier({ value: v });
const OS = (b: Uint8Array): asn1js.OctetString => new asn1js.OctetString({ valueHex: b });
const SEQ = (...v: asn1js.AsnType[]): asn1js.Sequence => new asn1js.Sequence({ value: v });
const E0 = (v: asn1js.AsnType): asn1js.Constructed => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [v] });
const der = (v: asn1js.AsnType): Uint8Array => new Uint8Array(v.toBER(false));
const fromDer = (b: Uint8Array): asn1js.AsnType => asn1js.fromBER(b).result;

const keyBag = (pkcs8: Uint8Array): asn1js.Sequence => SEQ(O('1.2.840.113549.1.12.10.1.1'), E0(fromDer(pkcs8)));
const certBag = (certDer: Uint8Array): asn1js.Sequence => SEQ(O('1.2.840.113549.1.12.10.1.3'), E0(SEQ(O('1.2.840.113549.1.9.22.1'), E0(OS(certDer)))));
const nestedBag = (...bags: asn1js.Sequence[]): asn1js.Sequence => SEQ(O('1.2.840.113549.1.12.10.1.6'), E0(SEQ(...bags)));
const dataCi = (...bags: asn1js.Sequence[]): asn1js.Sequence => SEQ(O('1.2.840.113549.1.7.1'), E0(OS(der(SEQ(...bags)))));

function buildPfx(contentInfos: asn1js.Sequence[], password: string, opts: { mac?: 'none' | 'sha256' | 'md5' } = {}): Uint8Array {
  const authSafe = der(SEQ(...contentInfos));
  const parts: asn1js.AsnType[] = [new asn1js.Integer({ value: 3 }), SEQ(O('1.2.840.113549.1.7.1'), E0(OS(authSafe)))];
  if (opts.mac !== 'none') {
    const salt = randomBytes(8);
    const mac = createHmac('sha256', pkcs12Kdf('sha256', bmpPassword(password), salt, KDF_MAC, 1000, 32)).update(authSafe).digest();
    const alg = opts.mac === 'md5' ? '1.2.840.113549.2.5' : '2.16.840.1.101.3.4.2.1';
    parts.push(SEQ(SEQ(SEQ(O(alg), new asn1js.Null()), OS(mac)), OS(salt), new asn1js.Integer({ value: 1000 })));
  }
  return der(SEQ(...parts));
}

describe('PKCS#12 reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-p12-test-'));
  let rsa: Pair;
  let ec: Pair;
  let ca: Pair;

  function makePair(name: string, alg: string[], subj: string): Pair {
    const k = join(dir, `${name}.key`);
    const c = join(dir, `${name}.crt`);
    execFileSync('openssl', ['req', '-x509', '-newkey', ...alg, '-nodes', '-keyout', k, '-out', c, '-days', '30', '-subj', subj], { stdio: 'pipe' });
    const certPem = readFileSync(c, 'utf8');
    const keyPem = readFileSync(k, 'utf8');
    return { certPem, keyPem, certDer: fromPem(certPem, 'CERTIFICATE')[0]!, keyDer: new Uint8Array(createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' })) };
  }

  before(() => {
    rsa = makePair('rsa', ['rsa:2048'], '/UID=com.apple.mgmt.External.p12-test/CN=APSP:p12-test');
    ec = makePair('ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=ec');
    ca = makePair('ca', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=Some CA');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function assertIdentity(p12: Uint8Array, password: string, pair: Pair): void {
    const id = readPkcs12(p12, password);
    assert.deepEqual(Buffer.from(id.certDer), Buffer.from(pair.certDer));
    const key = createPrivateKey({ key: Buffer.from(id.keyDer), format: 'der', type: 'pkcs8' });
    assert.deepEqual(key.export({ type: 'pkcs8', format: 'der' }), Buffer.from(pair.keyDer));
    assert.ok(new X509Certificate(id.certDer).checkPrivateKey(key));
  }

  const legacy = opensslHasLegacy();
  const variants: { name: string; args: string[]; info: RegExp; legacy?: boolean }[] = [
    { name: 'OpenSSL 3 default (PBES2, AES-256-CBC, SHA-256 MAC)', args: [], info: /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC[\s\S]*MAC: sha256|MAC: sha256[\s\S]*AES-256-CBC/ },
    { name: '-legacy (RC2-40 certificates, 3DES key, SHA-1 MAC)', args: ['-legacy'], info: /40BitRC2[\s\S]*3-KeyTripleDES/, legacy: true },
    { name: '-legacy -descert (3DES certificates and key)', args: ['-legacy', '-descert'], info: /Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC/, legacy: true },
    { name: '-descert -keypbe PBE-SHA1-3DES -macalg sha1', args: ['-descert', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'], info: /MAC: sha1[\s\S]*3-KeyTripleDES/ },
    { name: '-legacy -keypbe PBE-SHA1-RC2-40', args: ['-legacy', '-keypbe', 'PBE-SHA1-RC2-40'], info: /Shrouded Keybag: pbeWithSHA1And40BitRC2-CBC/, legacy: true },
    { name: '-legacy -certpbe PBE-SHA1-RC2-128 -keypbe PBE-SHA1-RC2-128', args: ['-legacy', '-certpbe', 'PBE-SHA1-RC2-128', '-keypbe', 'PBE-SHA1-RC2-128'], info: /128BitRC2/, legacy: true },
    { name: '-legacy -keypbe PBE-SHA1-2DES', args: ['-legacy', '-keypbe', 'PBE-SHA1-2DES'], info: /2-KeyTripleDES/, legacy: true },
    { name: '-certpbe NONE -keypbe AES-128-CBC -macalg sha512 -iter 1', args: ['-certpbe', 'NONE', '-keypbe', 'AES-128-CBC', '-macalg', 'sha512', '-iter', '1'], info: /MAC: sha512[\s\S]*AES-128-CBC/ },
    { name: '-keypbe DES-EDE3-CBC -certpbe AES-192-CBC (PBES2 with 3DES)', args: ['-keypbe', 'DES-EDE3-CBC', '-certpbe', 'AES-192-CBC'], info: /DES-EDE3-CBC/ },
  ];
  for (const v of variants) {
    it(`reads ${v.name}`, { skip: v.legacy === true && !legacy && 'OpenSSL without the legacy provider' }, () => {
      const password = 'Kéychain pässword ✓';
      const p12 = opensslP12({ ...rsa, password, args: v.args });
      assert.match(opensslP12Info(p12, password), v.info, 'the fixture uses the algorithms named');
      assertIdentity(p12, password, rsa);
      assert.equal(refusal(() => readPkcs12(p12, 'wrong')), P12_ERRORS.password);
    });
  }

  it('reads EC keys, an empty password and a certificate chain (the certificate that fits the key is chosen)', () => {
    assertIdentity(opensslP12({ ...ec, password: '' }), '', ec);
    assertIdentity(opensslP12({ ...ec, password: 'pw', args: ['-legacy'] }), 'pw', ec);
    // Outside the BMP: UTF-16 surrogate pairs for the legacy KDF, UTF-8 for PBKDF2 (as OpenSSL writes them).
    assertIdentity(opensslP12({ ...ec, password: '🔑 clé', args: ['-legacy'] }), '🔑 clé', ec);
    assertIdentity(opensslP12({ ...ec, password: '🔑 clé' }), '🔑 clé', ec);
    const chained = opensslP12({ ...rsa, extraPem: ca.certPem, password: 'pw' });
    const id = readPkcs12(chained, 'pw');
    assert.deepEqual(Buffer.from(id.certDer), Buffer.from(rsa.certDer));
    assert.equal(id.otherCerts.length, 1);
    assert.deepEqual(Buffer.from(id.otherCerts[0]!), Buffer.from(ca.certDer));
    // Chain first, leaf last, unencrypted key bag inside a nested SafeContents bag.
    const built = buildPfx([dataCi(certBag(ca.certDer), nestedBag(keyBag(rsa.keyDer), certBag(rsa.certDer)))], 'pw');
    assertIdentity(built, 'pw', rsa);
  });

  it('refuses with a clear message: wrong password, no MAC, no key, two keys, no certificate, key-certificate mismatch', () => {
    const ok = opensslP12({ ...rsa, password: 'right' });
    assert.equal(refusal(() => readPkcs12(ok, 'Right')), P12_ERRORS.password);
    assert.equal(refusal(() => readPkcs12(ok, '')), P12_ERRORS.password);
    assert.equal(refusal(() => readPkcs12(opensslP12({ ...rsa, password: 'pw', args: ['-nomac'] }), 'pw')), P12_ERRORS.noMac);
    assert.equal(refusal(() => readPkcs12(opensslP12({ certPem: rsa.certPem, password: 'pw' }), 'pw')), P12_ERRORS.noKey);
    assert.equal(refusal(() => readPkcs12(buildPfx([dataCi(keyBag(rsa.keyDer), keyBag(ec.keyDer), certBag(rsa.certDer))], 'pw'), 'pw')), P12_ERRORS.manyKeys);
    assert.equal(refusal(() => readPkcs12(buildPfx([dataCi(keyBag(rsa.keyDer))], 'pw'), 'pw')), P12_ERRORS.noCert);
    assert.equal(refusal(() => readPkcs12(buildPfx([dataCi(keyBag(rsa.keyDer), certBag(ec.certDer), certBag(ca.certDer))], 'pw'), 'pw')), P12_ERRORS.mismatch);
    assert.equal(refusal(() => readPkcs12(buildPfx([dataCi(keyBag(rsa.keyDer), certBag(rsa.certDer))], 'pw', { mac: 'none' }), 'pw')), P12_ERRORS.noMac);
    assert.equal(refusal(() => readPkcs12(buildPfx([dataCi(keyBag(rsa.keyDer), certBag(rsa.certDer))], 'pw', { mac: 'md5' }), 'pw')), P12_ERRORS.unsupported);
    assert.equal(refusal(() => readPkcs12(new Uint8Array(MAX_PKCS12_BYTES + 1), 'pw')), P12_ERRORS.invalid);
    assert.equal(refusal(() => readPkcs12(new Uint8Array(0), 'pw')), P12_ERRORS.invalid);
    assert.equal(refusal(() => readPkcs12(new TextEncoder().encode(rsa.certPem), 'pw')), P12_ERRORS.invalid);
  });

  it('never fails other than with a fixed 400 on random, truncated or mutated files', () => {
    const good = opensslP12({ ...rsa, password: 'pw', args: legacy ? ['-legacy'] : [] });
    for (let n = 0; n < good.length; n += 7) refusal(() => readPkcs12(good.subarray(0, n), 'pw'));
    refusal(() => readPkcs12(Buffer.concat([good, new Uint8Array([0])]), 'pw'));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4096 }), (bytes) => {
        refusal(() => readPkcs12(bytes, 'pw'));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const bad = Uint8Array.from(good);
        for (const [i, x] of flips) bad[i]! ^= x;
        // A flip the MAC does not cover (the MacData itself, the version) may still read; it must never read a different identity.
        try {
          const id = readPkcs12(bad, 'pw');
          assert.deepEqual(Buffer.from(id.certDer), Buffer.from(rsa.certDer));
        } catch (e) {
          assert.ok(isRampartError(e) && MESSAGES.has(e.message), String(e));
        }
      }),
      { numRuns: 300 },
    );
    // Deep nesting is refused, not a stack overflow escaping as a 500.
    const deep = new Uint8Array(60_000);
    for (let i = 0; i < deep.length; i += 2) {
      deep[i] = 0x30;
      deep[i + 1] = 0x80;
    }
    refusal(() => readPkcs12(deep, 'pw'));
  });
});
