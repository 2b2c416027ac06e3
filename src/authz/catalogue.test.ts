import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUILT_IN_ROLES, isCatalogued, PERMISSION_CATALOGUE } from './catalogue.ts';
import { KNOWN_SCOPES } from '../services/command-policy.ts';

describe('permission catalogue', () => {
  it('every built-in role uses catalogued permissions only', () => {
    for (const r of BUILT_IN_ROLES) for (const p of r.permissions) assert.ok(isCatalogued(p), `${r.name}: ${p}`);
  });
  it('the catalogue and the token scopes are the same list', () => {
    assert.deepEqual([...KNOWN_SCOPES].sort(), Object.keys(PERMISSION_CATALOGUE).sort());
  });
  it('every permission has a description', () => {
    for (const [p, d] of Object.entries(PERMISSION_CATALOGUE)) assert.ok(d.length > 10, p);
  });
  it('helpdesk may lock but not erase; device-admin may erase; pii-reader may reveal', () => {
    const role = (n: string) => BUILT_IN_ROLES.find((r) => r.name === n)!.permissions;
    assert.ok(role('helpdesk').includes('commands.send.lock'));
    assert.ok(!role('helpdesk').some((p) => p === 'commands.send' || p === 'commands.send.erase'));
    assert.ok(role('device-admin').includes('commands.send'));
    assert.ok(role('pii-reader').includes('pii.reveal'));
    assert.ok(!role('viewer').includes('pii.reveal'));
  });
});
