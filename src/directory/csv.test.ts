import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RampartError } from '../lib/errors.ts';
import { csvToStaff, parseCsv, staffToCsvHeader, staffToCsvRow } from './csv.ts';
import type { StaffRecord } from './types.ts';

const rec = (over: Partial<StaffRecord>): StaffRecord => ({
  id: 'x', userName: 'u@example.org', externalId: null, displayName: null, givenName: null, familyName: null, email: null, phones: [], department: null,
  employeeNumber: null, status: 'active', deviceIds: [], invitationIds: [], version: 1, createdAt: '', updatedAt: '', ...over,
});

describe('CSV', () => {
  it('parses RFC 4180: quotes, doubled quotes, CRLF and LF, embedded newlines, BOM', () => {
    assert.deepEqual(parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\n"multi\nline",\n'), [['a', 'b'], ['x, y', 'say "hi"'], ['multi\nline', '']]);
    for (const bad of ['a,"b', 'a,b"c"', '"a"b', 'a\rb', 'a\u0000b']) assert.throws(() => parseCsv(bad), (e: unknown) => e instanceof RampartError && e.status === 400);
  });

  it('export rows parse back to the same values (fuzz, unicode)', () => {
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });
    fc.assert(fc.property(text, text, fc.array(fc.constantFrom('+32470123412', '+14155550100'), { maxLength: 3 }), (given, dept, phones) => {
      const r = rec({ givenName: given, department: dept, phones });
      const rows = parseCsv(staffToCsvHeader() + staffToCsvRow(r));
      return rows[1]?.[3] === given && rows[1]?.[7] === dept && rows[1]?.[6] === phones.join(';');
    }), { numRuns: 500 });
  });

  it('row by row: bad values, NUL, bidi controls, wrong field counts and duplicate identities are invalid, named by field only', () => {
    const rows = csvToStaff([
      'userName,externalId,givenName,email,phones,active',
      'ok@example.org,e1,Ok,ok@example.org,+32470000001,true',
      'bidi@example.org,e2,Evil\u202eexe,,,',
      'nul@example.org,e3,"a",not-mail,,',
      'ph@example.org,e4,P,,12345,',
      'short@example.org,e5',
      'dup@example.org,e6,A,,,',
      'DUP@example.org,e7,B,,,',
      'x@example.org,e1,C,,,',
      'act@example.org,e9,D,,,maybe',
      `${'l'.repeat(300)}@example.org,e10,E,,,`,
    ].join('\n'));
    assert.deepEqual(rows.map((r) => [r.row, r.data ? 'ok' : r.error]), [
      [2, 'duplicate externalId in file'],
      [3, 'invalid givenName'],
      [4, 'invalid email'],
      [5, 'invalid phones'],
      [6, 'wrong number of fields'],
      [7, 'duplicate userName in file'],
      [8, 'duplicate userName in file'],
      [9, 'duplicate externalId in file'],
      [10, 'invalid active'],
      [11, 'invalid userName'],
    ]);
    assert.throws(() => csvToStaff('name,email\nx,y'), (e: unknown) => e instanceof RampartError && e.message === 'unknown CSV column "name"');
    assert.throws(() => csvToStaff('email\nx@y.org'), (e: unknown) => e instanceof RampartError && e.message === 'CSV needs a userName column');
  });

  it('fuzz: arbitrary text either parses to rows with data or errors, or raises bad_request', () => {
    const cellArb = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('"', '""', ',', '\n', '\r\n', '\u0000', '\u202e', 'e\u0301', '+32 470 00 00 01', 'a@b.org'));
    fc.assert(fc.property(fc.array(fc.array(cellArb, { maxLength: 8 }), { maxLength: 8 }), (grid) => {
      const text = ['userName,email,phones,givenName', ...grid.map((r) => r.join(','))].join('\n');
      try {
        const out = csvToStaff(text);
        return out.every((r) => (r.data !== undefined) !== (r.error !== undefined) && (r.error === undefined || !/[\u0000\u202e]/.test(r.error)));
      } catch (e) {
        return e instanceof RampartError && e.status === 400;
      }
    }), { numRuns: 1000 });
  });
});
