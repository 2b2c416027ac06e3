import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { actorFor, covers, intersect } from './grants.ts';
import { KNOWN_SCOPES } from '../services/command-policy.ts';

const sorted = (s: ReadonlySet<string>) => [...s].sort();

describe('grants', () => {
  it('intersects under the scope order', () => {
    assert.deepEqual(sorted(intersect(['commands.send'], ['commands.send.lock', 'devices.read'])), ['commands.send.lock']);
    assert.deepEqual(sorted(intersect(['*'], ['devices.read'])), ['devices.read']);
    assert.deepEqual(sorted(intersect(['*'], ['*'])), ['*']);
    assert.deepEqual(sorted(intersect(['commands.send.erase'], ['commands.send.lock'])), []);
    assert.deepEqual(sorted(intersect(['audit.read', 'devices.read'], ['devices.read'])), ['devices.read']);
  });

  it('the intersection never covers more than either side (property)', () => {
    const perm = fc.constantFrom(...KNOWN_SCOPES);
    fc.assert(fc.property(fc.array(perm, { maxLength: 6 }), fc.array(perm, { maxLength: 6 }), perm, (a, b, p) => {
      const i = intersect(a, b);
      const both = covers(new Set(a), p) && covers(new Set(b), p);
      assert.equal(covers(i, p), both);
    }));
  });

  it('a token actor holds scopes ∩ role permissions; scoped grants keep device permissions only', () => {
    const a = actorFor({ type: 'token', id: 't1' }, 'admin1', {
      unscoped: new Set(['devices.read']),
      scoped: [{ permissions: new Set(['commands.send.lock', 'groups.manage']), groups: new Set(['g1']) }],
    }, ['*']);
    assert.deepEqual(sorted(a.authz!.unscoped), ['devices.read']);
    assert.deepEqual(a.authz!.scoped.map((g) => sorted(g.permissions as Set<string>)), [['commands.send.lock']]);
    assert.deepEqual(sorted(a.permissions as Set<string>), ['commands.send.lock', 'devices.read']);
    assert.equal(a.authz!.principalId, 'admin1');
    const narrow = actorFor({ type: 'token', id: 't1' }, 'admin1', { unscoped: new Set(['*']), scoped: [] }, ['devices.read']);
    assert.deepEqual(sorted(narrow.permissions as Set<string>), ['devices.read']);
  });
});
