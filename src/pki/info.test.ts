import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { createCertificateAuthority, issueCertificate } from './authority.ts';
import { certInfo } from './info.ts';

describe('certInfo', () => {
  it('summarises a certificate', async () => {
    const now = new Date('2030-03-04T05:06:07Z');
    const ca = await createCertificateAuthority({ commonName: 'Info CA', validityDays: 10, now, keyAlgorithm: 'ecdsa-p256' });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = await issueCertificate(ca, { subject: 'CN=leaf', publicKey, validityDays: 2, now, profile: 'device-identity', serial: new Uint8Array([0x42]) });
    const i = certInfo(der);
    assert.deepEqual(i, {
      subject: 'CN=leaf',
      issuer: 'CN=Info CA',
      serialHex: '42',
      notBefore: new Date('2030-03-04T05:01:07Z'),
      notAfter: new Date('2030-03-06T05:06:07Z'),
      sha256: createHash('sha256').update(der).digest('hex'),
    });
  });

  it('refuses garbage with a fixed bad_request', () => {
    assert.throws(() => certInfo(new Uint8Array([0x30, 0x03, 1, 2, 3])), (e: unknown) => e instanceof RampartError && e.code === 'bad_request');
  });
});
