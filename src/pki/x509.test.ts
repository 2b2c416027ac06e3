import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from './x509.ts';

describe('x509 shim', () => {
  it('loads @peculiar/x509 with its metadata polyfill in place', () => {
    assert.equal(typeof x509.X509CertificateGenerator.create, 'function');
    assert.equal(new x509.Name('CN=a,O=b').toString(), 'CN=a, O=b');
  });
});
