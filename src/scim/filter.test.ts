import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFilter } from './filter.ts';
import { ScimError } from './errors.ts';

describe('SCIM filter parser', () => {
  it('parses the filters Entra ID and Okta send', () => {
    assert.deepEqual(parseFilter('userName eq "jdoe@example.org"'), { kind: 'cmp', attr: 'userName', op: 'eq', value: 'jdoe@example.org' });
    assert.deepEqual(parseFilter('externalId eq "0a1b"'), { kind: 'cmp', attr: 'externalId', op: 'eq', value: '0a1b' });
    assert.deepEqual(parseFilter('emails[type eq "work"].value eq "a@b.org"'), {
      kind: 'valuePath', attr: 'emails',
      filter: { kind: 'and', left: { kind: 'cmp', attr: 'type', op: 'eq', value: 'work' }, right: { kind: 'cmp', attr: 'value', op: 'eq', value: 'a@b.org' } },
    });
    const f = parseFilter('userName sw "j" and (externalId co "x" or active eq true)');
    assert.equal(f.kind, 'and');
    assert.deepEqual(parseFilter('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "E1"'), {
      kind: 'cmp', attr: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', op: 'eq', value: 'E1',
    });
    assert.deepEqual(parseFilter('emails[type eq "work"]'), { kind: 'valuePath', attr: 'emails', filter: { kind: 'cmp', attr: 'type', op: 'eq', value: 'work' } });
    assert.deepEqual(parseFilter('title pr'), { kind: 'pr', attr: 'title' });
    assert.equal(parseFilter('userName EQ "a" OR userName Eq "b"').kind, 'or');
    assert.deepEqual(parseFilter('displayName eq "say \\"hi\\""'), { kind: 'cmp', attr: 'displayName', op: 'eq', value: 'say "hi"' });
  });

  it('refuses malformed filters with invalidFilter and a fixed message', () => {
    for (const bad of ['', 'userName', 'userName eq', 'userName eq jdoe', 'userName xx "a"', '(userName eq "a"', 'userName eq "a" and', 'not (userName eq "a")', 'userName eq "a\u0000"', 'x'.repeat(2000), '((((((((((a eq 1))))))))))', 'a eq 1 or '.repeat(20) + 'a eq 1', 'userName eq "a" userName']) {
      assert.throws(() => parseFilter(bad), (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter' && !e.message.includes('userName'), JSON.stringify(bad).slice(0, 40));
    }
  });

  it('fuzz: any input either parses or raises invalidFilter', () => {
    const tokens = fc.constantFrom('userName', 'emails', '[', ']', '(', ')', ' ', 'eq', 'co', 'sw', 'and', 'or', 'not', 'pr', '"', '"x"', '\\', '.', 'value', 'true', '1', '\u0000', '\u202e', 'é', 'urn:a:b:', '"\ud800"');
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(tokens, { maxLength: 40 }).map((a) => a.join(''))), (s) => {
      try {
        parseFilter(s);
        return true;
      } catch (e) {
        return e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter';
      }
    }), { numRuns: 5000 });
  });
});
