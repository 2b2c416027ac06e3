// Device-group scoping of role assignments, checked in the services that read
// or command devices. An actor without authz context, or holding the
// permission for every device, passes; otherwise every device must be in a
// group of an assignment that grants the permission.
import type { AuditRecorder } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';
import { forbidden } from '../lib/errors.ts';
import type { DeviceScope, GroupMembership } from './types.ts';
import { actorEvent } from './audit.ts';
import { covers } from './grants.ts';

export function createDeviceScope(deps: { groups: GroupMembership; audit: AuditRecorder }): DeviceScope {
  const { groups, audit } = deps;

  function unrestricted(actor: Actor, permission: string): boolean {
    return actor.authz === undefined || covers(actor.authz.unscoped, permission);
  }

  async function allowed(actor: Actor, permission: string, deviceId: string): Promise<boolean> {
    const grants = actor.authz!.scoped.filter((g) => covers(g.permissions, permission));
    if (grants.length === 0) return false;
    const of = await groups.groupsOf(deviceId);
    return of.some((g) => grants.some((s) => s.groups.has(g)));
  }

  return {
    async visible(actor, permission, deviceIds) {
      if (unrestricted(actor, permission)) return new Set(deviceIds);
      const out = new Set<string>();
      for (const id of deviceIds) if (await allowed(actor, permission, id)) out.add(id);
      return out;
    },

    async check(actor, permission, deviceIds, action) {
      if (unrestricted(actor, permission)) return;
      let outside = 0;
      for (const id of new Set(deviceIds)) if (!(await allowed(actor, permission, id))) outside++;
      if (outside === 0) return;
      await audit.record(actorEvent(actor, { action, outcome: 'denied', details: { permission, reason: 'device_scope', outside } }));
      throw forbidden('forbidden', `missing permission ${permission} for ${outside} device(s)`);
    },
  };
}

/** Until device groups exist: every device is in no group (scoped assignments then grant nothing). */
export const NO_GROUPS: GroupMembership = { groupsOf: async () => [] };
