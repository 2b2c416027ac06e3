import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { KDF_IV, KDF_KEY, KDF_MAC, MAX_KDF_ITERATIONS, bmpPassword, pbeDecrypt, pkcs12Kdf } from './pkcs12-pbe.ts';
import { rc2CbcEncrypt } from './rc2.ts';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** OpenSSL's own PKCS12KDF (`openssl kdf`), an independent implementation. */
function opensslKdf(digest: string, password: Uint8Array, salt: Uint8Array, id: number, iter: number, n: number): string {
  const out = execFileSync('openssl', ['kdf', '-keylen', String(n), '-kdfopt', `digest:${digest}`, '-kdfopt', `hexpass:${toHex(password)}`, '-kdfopt', `hexsalt:${toHex(salt)}`, '-kdfopt', `iter:${iter}`, '-kdfopt', `id:${id}`, 'PKCS12KDF'], { stdio: 'pipe' });
  return out.toString().trim().replace(/:/g, '').toLowerCase();
}

describe('PKCS#12 key derivation and PBE', () => {
  it('encodes the password as big-endian UTF-16 with a NUL terminator', () => {
    assert.equal(toHex(bmpPassword('smeg')), '0073006d006500670000');
    assert.equal(toHex(bmpPassword('')), '0000');
    assert.equal(toHex(bmpPassword('ä€')), '00e420ac0000');
  });

  it('RFC 7292 appendix B KDF agrees with OpenSSL for every digest, purpose, and odd lengths', () => {
    const cases: [string, string, number, number, number][] = [
      ['sha1', 'smeg', KDF_KEY, 1, 24],
      ['sha1', 'queeg', KDF_IV, 1000, 8],
      ['sha1', '', KDF_MAC, 2048, 20],
      ['sha256', 'pässwörd with a long tail that spans more than one block of 64 bytes', KDF_MAC, 2048, 32],
      ['sha224', 'x', KDF_KEY, 3, 61],
      ['sha384', 'y', KDF_MAC, 10, 48],
      ['sha512', 'z', KDF_KEY, 5, 130],
    ];
    for (const [digest, pw, id, iter, n] of cases) {
      for (const saltLen of [0, 8, 20, 65]) {
        const salt = randomBytes(saltLen);
        const pwb = bmpPassword(pw);
        assert.equal(toHex(pkcs12Kdf(digest, pwb, salt, id, iter, n)), opensslKdf(digest, pwb, salt, id, iter, n), `${digest} id ${id} salt ${saltLen}`);
      }
    }
  });

  it('refuses unknown digests and iteration counts out of range', () => {
    assert.throws(() => pkcs12Kdf('md5', bmpPassword('a'), new Uint8Array(8), 1, 1, 8), /digest/);
    assert.throws(() => pkcs12Kdf('sha1', bmpPassword('a'), new Uint8Array(8), 1, 0, 8), /iteration/);
    assert.throws(() => pkcs12Kdf('sha1', bmpPassword('a'), new Uint8Array(8), 1, MAX_KDF_ITERATIONS + 1, 8), /iteration/);
  });

  it('decrypts each legacy scheme and PBES2 (data encrypted here with independent primitives)', () => {
    const salt = randomBytes(8);
    const data = randomBytes(77);
    const pw = 'correct horse';
    const k = (id: number, n: number): Uint8Array => pkcs12Kdf('sha1', bmpPassword(pw), salt, id, 2048, n);
    const enc = (alg: string, key: Uint8Array, iv: Uint8Array): Uint8Array => {
      const c = createCipheriv(alg, key, iv);
      return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
    };
    assert.deepEqual(Buffer.from(pbeDecrypt({ kind: 'pkcs12', scheme: '3des', salt, iterations: 2048 }, pw, enc('des-ede3-cbc', k(KDF_KEY, 24), k(KDF_IV, 8)))), data);
    assert.deepEqual(Buffer.from(pbeDecrypt({ kind: 'pkcs12', scheme: '2des', salt, iterations: 2048 }, pw, enc('des-ede-cbc', k(KDF_KEY, 16), k(KDF_IV, 8)))), data);
    assert.deepEqual(Buffer.from(pbeDecrypt({ kind: 'pkcs12', scheme: 'rc2-40', salt, iterations: 2048 }, pw, rc2CbcEncrypt(k(KDF_KEY, 5), 40, k(KDF_IV, 8), data))), data);
    assert.deepEqual(Buffer.from(pbeDecrypt({ kind: 'pkcs12', scheme: 'rc2-128', salt, iterations: 2048 }, pw, rc2CbcEncrypt(k(KDF_KEY, 16), 128, k(KDF_IV, 8), data))), data);
    const iv = randomBytes(16);
    const key = pbkdf2Sync(pw, salt, 2048, 32, 'sha256');
    const params = { kind: 'pbes2' as const, prf: 'sha256', salt, iterations: 2048, cipher: 'aes-256-cbc' as const, iv };
    assert.deepEqual(Buffer.from(pbeDecrypt(params, pw, enc('aes-256-cbc', key, iv))), data);
    assert.throws(() => pbeDecrypt({ ...params, keyLength: 16 }, pw, enc('aes-256-cbc', key, iv)), /key length/);
    assert.throws(() => pbeDecrypt({ ...params, iv: randomBytes(8) }, pw, enc('aes-256-cbc', key, iv)), /IV/);
    assert.throws(() => pbeDecrypt({ ...params, iterations: 3_000_000 }, pw, enc('aes-256-cbc', key, iv)), /iteration/);
  });
});
