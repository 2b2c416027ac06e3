import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { rc2CbcDecrypt, rc2CbcEncrypt, rc2DecryptBlock, rc2EncryptBlock, rc2ExpandKey } from './rc2.ts';
import { opensslHasLegacy } from './pkcs12-openssl.test.ts';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/ /g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// RFC 2268 section 5: effective key bits, key, plaintext, ciphertext.
const VECTORS: [number, string, string, string][] = [
  [63, '00000000 00000000', '00000000 00000000', 'ebb773f9 93278eff'],
  [64, 'ffffffff ffffffff', 'ffffffff ffffffff', '278b27e4 2e2f0d49'],
  [64, '30000000 00000000', '10000000 00000001', '30649edf 9be7d2c2'],
  [64, '88', '00000000 00000000', '61a8a244 adacccf0'],
  [64, '88bca90e 90875a', '00000000 00000000', '6ccf4308 974c267f'],
  [64, '88bca90e 90875a7f 0f79c384 627bafb2', '00000000 00000000', '1a807d27 2bbe5db1'],
  [128, '88bca90e 90875a7f 0f79c384 627bafb2', '00000000 00000000', '2269552a b0f85ca6'],
  [129, '88bca90e 90875a7f 0f79c384 627bafb2 16f80a6f 85920584 c42fceb0 be255daf 1e', '00000000 00000000', '5b78d3a4 3dfff1f1'],
];

describe('RC2 (RFC 2268)', () => {
  it('matches the RFC 2268 test vectors both ways', () => {
    for (const [bits, key, plain, cipher] of VECTORS) {
      assert.equal(toHex(rc2EncryptBlock(hex(key), bits, hex(plain))), cipher.replace(/ /g, ''), `encrypt ${key}/${bits}`);
      assert.equal(toHex(rc2DecryptBlock(hex(key), bits, hex(cipher))), plain.replace(/ /g, ''), `decrypt ${key}/${bits}`);
    }
  });

  it('CBC round-trips any data with PKCS#7 padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 128 }), fc.integer({ min: 1, max: 1024 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ maxLength: 100 }), (key, bits, iv, data) => {
        const c = rc2CbcEncrypt(key, bits, iv, data);
        assert.equal(c.length % 8, 0);
        assert.ok(c.length > data.length);
        assert.deepEqual(rc2CbcDecrypt(key, bits, iv, c), data);
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with OpenSSL (legacy provider) for RC2-40-CBC and RC2-CBC', { skip: !opensslHasLegacy() && 'OpenSSL without the legacy provider' }, () => {
    for (const [cipher, keyLen, bits] of [['rc2-40-cbc', 5, 40], ['rc2-cbc', 16, 128], ['rc2-64-cbc', 8, 64]] as const) {
      for (const len of [0, 1, 7, 8, 9, 100]) {
        const key = randomBytes(keyLen);
        const iv = randomBytes(8);
        const data = randomBytes(len);
        const ours = rc2CbcEncrypt(key, bits, iv, data);
        const theirs = execFileSync('openssl', ['enc', '-e', `-${cipher}`, '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-provider', 'legacy', '-provider', 'default'], { input: data, stdio: 'pipe' });
        assert.equal(toHex(ours), theirs.toString('hex'), `${cipher} ${len} bytes`);
        assert.deepEqual(Buffer.from(rc2CbcDecrypt(key, bits, iv, new Uint8Array(theirs))), data);
      }
    }
  });

  it('refuses bad sizes and bad padding', () => {
    assert.throws(() => rc2ExpandKey(new Uint8Array(0), 64), RangeError);
    assert.throws(() => rc2ExpandKey(new Uint8Array(129), 64), RangeError);
    assert.throws(() => rc2ExpandKey(new Uint8Array(8), 0), RangeError);
    assert.throws(() => rc2CbcDecrypt(new Uint8Array(5), 40, new Uint8Array(8), new Uint8Array(7)), RangeError);
    assert.throws(() => rc2CbcDecrypt(new Uint8Array(5), 40, new Uint8Array(8), new Uint8Array(0)), RangeError);
    assert.throws(() => rc2CbcDecrypt(new Uint8Array(5), 40, new Uint8Array(7), new Uint8Array(8)), RangeError);
    const c = rc2CbcEncrypt(hex('0102030405'), 40, new Uint8Array(8), new Uint8Array(16));
    // Another key gives garbage padding (almost always); a wrong-key decrypt must not return silently wrong data here.
    assert.throws(() => rc2CbcDecrypt(hex('0102030406'), 40, new Uint8Array(8), c), /padding/);
  });
});
