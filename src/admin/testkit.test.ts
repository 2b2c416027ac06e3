import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from './testkit.ts';

describe('test stack', () => {
  it('wires real storage, services and server with a working bootstrap token', async () => {
    const s = await createTestStack();
    try {
      assert.equal(s.storage.backend, 'sqlite');
      await s.addDevice('UDID-T');
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual((res.json() as { items: Array<{ id: string }> }).items.map((d) => d.id), ['UDID-T']);
      const token = await s.tokenFor(['devices.read']);
      assert.ok((await s.auth.authenticate({ bearer: token })).permissions.has('devices.read'));
      // Audit events land in the real tamper-evident log.
      const denied = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-T/commands', headers: { authorization: `Bearer ${token}` } });
      assert.equal(denied.statusCode, 403);
      const stored = await s.audit.log.store.search({ outcome: 'denied' });
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.action, 'admin.access');
      // The bootstrap owner assignment, then the denial.
      assert.deepEqual(s.audit.events.map((e) => e.action), ['role.assign', 'admin.access']);
    } finally {
      await s.close();
    }
  });
});
