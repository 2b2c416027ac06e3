import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { fromPem, sha256Hex, toPem } from './pem.ts';

describe('pem', () => {
  it('round-trips, wraps at 64 columns, and reads several blocks with an optional label filter', () => {
    const a = new Uint8Array(randomBytes(200));
    const b = new Uint8Array(randomBytes(3));
    const pem = toPem('CERTIFICATE', a) + 'junk\n' + toPem('PRIVATE KEY', b).replace(/\n/g, '\r\n');
    assert.ok(pem.split('\n').every((l) => l.length <= 65));
    assert.deepEqual(fromPem(pem), [a, b]);
    assert.deepEqual(fromPem(pem, 'CERTIFICATE'), [a]);
    assert.deepEqual(fromPem('nothing here'), []);
  });

  it('refuses bad labels and bad base64', () => {
    assert.throws(() => toPem('bad-label', new Uint8Array(1)));
    assert.throws(() => fromPem('-----BEGIN X-----\nab=c\n-----END X-----'), RampartError);
  });

  it('sha256Hex matches node:crypto', () => {
    const x = new Uint8Array(randomBytes(50));
    assert.equal(sha256Hex(x), createHash('sha256').update(x).digest('hex'));
  });
});
