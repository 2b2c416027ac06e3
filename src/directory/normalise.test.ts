import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RampartError } from '../lib/errors.ts';
import { cleanText, normaliseEmail, normaliseEmployeeNumber, normalisePhone } from './normalise.ts';
import { maskEmail, maskId, maskName, maskPhone } from './mask.ts';

const refused = (fn: () => unknown, value: string): void =>
  assert.throws(fn, (e: unknown) => e instanceof RampartError && e.status === 400 && !e.message.includes(value));

describe('normalisation', () => {
  it('phones to E.164', () => {
    assert.equal(normalisePhone('+32 470 12 34 12'), '+32470123412');
    assert.equal(normalisePhone('0032 (470) 12-34-12'), '+32470123412');
    assert.equal(normalisePhone('+1 415 555 0100'), '+14155550100');
    for (const bad of ['0470123412', '+0470123412', '+32 47', '+3247012341212345', '+32 470 12 34 1x', '']) refused(() => normalisePhone(bad), bad || '\u0000');
  });
  it('e-mail lower-cased, employee number upper-cased', () => {
    assert.equal(normaliseEmail(' Jane.Doe@Example.ORG '), 'jane.doe@example.org');
    for (const bad of ['jane', 'jane@', '@x.org', 'a b@x.org', 'a@x..org', 'a@x']) refused(() => normaliseEmail(bad), bad);
    assert.equal(normaliseEmployeeNumber(' e-1234 '), 'E-1234');
    assert.equal(normaliseEmployeeNumber('ｅ１２'), 'E12');
  });
  it('text: NFC, no controls, no bidi formatting, bounded', () => {
    assert.equal(cleanText('givenName', 'Zoe\u0301'), 'Zo\u00e9');
    for (const bad of ['a\u0000b', 'evil\u202eexe', 'x\u2066y', 'a\u0085', 'x'.repeat(257), '   ', '\ud800']) refused(() => cleanText('givenName', bad), bad);
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      try {
        const out = cleanText('f', s);
        return out === out.normalize('NFC') && !/[\u0000-\u001f\u202a-\u202e]/.test(out);
      } catch (e) {
        return e instanceof RampartError && e.message === 'invalid f';
      }
    }), { numRuns: 2000 });
  });
});

describe('masking', () => {
  it('matches the documented forms', () => {
    assert.equal(maskName('John Doe'), 'J*** D***');
    assert.equal(maskName('Élodie  van der Berg'), 'É*** v*** d*** B***');
    assert.equal(maskPhone('+32470123412'), '+32 *** ** 12');
    assert.equal(maskPhone('+14155550100'), '+1 *** ** 00');
    assert.equal(maskPhone('+352621123456'), '+352 *** ** 56');
    assert.equal(maskEmail('john.doe@example.org'), 'j***@example.org');
    assert.equal(maskId('E-123456'), '***56');
    assert.equal(maskName(null), null);
  });
});
