import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AUTHZ_CONFIG, parseAuthzConfig } from './config.ts';

describe('authz config', () => {
  it('defaults: erase, admin creation and elevation need approval; erase is rate limited', () => {
    const c = parseAuthzConfig(undefined);
    assert.deepEqual(c, DEFAULT_AUTHZ_CONFIG);
    for (const a of ['command.erase', 'admin.create', 'admin.elevate', 'pii.export', 'ca.rotate', 'push.certificate', 'keys.rotate', 'detection.disable', 'command.bulk']) {
      assert.ok(c.approvals.actions.includes(a), a);
    }
    assert.equal(c.rateLimits['command.erase']!.limit, 20);
  });
  it('merges a partial object or JSON text over the defaults', () => {
    const c = parseAuthzConfig('{"tokenMaxLifetimeDays":7,"approvals":{"actions":["command.erase"]},"rateLimits":{"command.erase":{"limit":2,"windowMinutes":60}}}');
    assert.equal(c.tokenMaxLifetimeDays, 7);
    assert.deepEqual(c.approvals.actions, ['command.erase']);
    assert.equal(c.approvals.ttlMinutes, DEFAULT_AUTHZ_CONFIG.approvals.ttlMinutes);
    assert.deepEqual(c.rateLimits['command.erase'], { limit: 2, windowMinutes: 60 });
    assert.ok(c.rateLimits['admin.create']);
  });
  it('names the offending setting', () => {
    assert.throws(() => parseAuthzConfig({ tokenMaxLifetimeDays: 0 }), (e: Error & { setting?: string }) => e.setting === 'authz.tokenMaxLifetimeDays');
    assert.throws(() => parseAuthzConfig({ approvals: { nope: 1 } }), (e: Error & { setting?: string }) => e.setting === 'authz.approvals.nope');
    assert.throws(() => parseAuthzConfig({ approvals: { actions: ['Bad Name'] } }), (e: Error & { setting?: string }) => e.setting === 'authz.approvals.actions[0]');
    assert.throws(() => parseAuthzConfig('{'), /not valid JSON/);
  });
});
