import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDeviceScope } from './scope.ts';
import { actorFor } from './grants.ts';
import type { AuditEvent } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';

describe('device scope', () => {
  const groups: Record<string, string[]> = { A: ['g1'], B: ['g2'], C: ['g1', 'g2'] };
  const events: AuditEvent[] = [];
  const scope = createDeviceScope({ groups: { groupsOf: async (id) => groups[id] ?? [] }, audit: { record: async (e) => void events.push(e) } });
  const scoped = actorFor({ type: 'admin', id: 'h' }, 'h', { unscoped: new Set(['devices.read']), scoped: [{ permissions: new Set(['commands.send.lock']), groups: new Set(['g1']) }] });

  it('passes actors without authz context and unscoped holders', async () => {
    const plain: Actor = { type: 'token', id: 't', permissions: new Set(['commands.send']) };
    await scope.check(plain, 'commands.send.lock', ['B'], 'x');
    await scope.check(scoped, 'devices.read', ['A', 'B'], 'x');
  });

  it('allows devices in the assignment\'s groups only, and records refusals', async () => {
    await scope.check(scoped, 'commands.send.lock', ['A', 'C'], 'command.enqueue');
    await assert.rejects(scope.check(scoped, 'commands.send.lock', ['A', 'B', 'unknown'], 'command.enqueue'), /forbidden/);
    assert.deepEqual(events.at(-1)!.details, { permission: 'commands.send.lock', reason: 'device_scope', outside: 2 });
    await assert.rejects(scope.check(scoped, 'commands.send.erase', ['A'], 'command.enqueue'), /forbidden/);
    assert.deepEqual([...(await scope.visible(scoped, 'commands.send.lock', ['A', 'B', 'C']))], ['A', 'C']);
  });
});
