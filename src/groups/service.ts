// Device groups for administrators: "groups.read" to list and show,
// "groups.manage" to create, delete and change membership. Every change (and
// every refusal) is on record; audit details hold ids and counts only.
import { randomUUID } from 'node:crypto';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { authorize } from '../services/command-policy.ts';
import { isDeviceId, MAX_PAGE } from '../services/devices.ts';
import type { Actor } from '../services/types.ts';
import { badRequest, isRampartError, notFound } from '../lib/errors.ts';
import type { Page } from '../storage/types.ts';
import { MAX_MEMBERS_PER_CALL, type DeviceGroup, type GroupStore } from './store.ts';

export const GROUPS_READ = 'groups.read';
export const GROUPS_MANAGE = 'groups.manage';
const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N} ._()/-]{0,99}$/u;
export const GROUP_ID_PATTERN = '^grp_[0-9a-f]{32}$';
const GROUP_ID = new RegExp(GROUP_ID_PATTERN);

export function isGroupId(id: string): boolean {
  return GROUP_ID.test(id);
}

export function createGroupService(deps: { groups: GroupStore; audit: AuditRecorder; now: () => Date }) {
  const { groups, audit } = deps;
  const target = (id: string) => ({ type: 'group', id });

  async function record(actor: Actor, action: string, outcome: 'success' | 'failure', t: { type: string; id: string } | undefined, details: { [k: string]: JsonValue }) {
    await audit.record({
      action,
      actor: { type: actor.type, id: actor.id },
      ...(actor.source !== undefined ? { source: actor.source } : {}),
      ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
      ...(t ? { target: t } : {}),
      outcome,
      details,
    });
  }

  function checkIds(ids: unknown): string[] {
    if (!Array.isArray(ids) || ids.length === 0) throw badRequest('no devices');
    if (ids.length > MAX_MEMBERS_PER_CALL) throw badRequest('too many devices');
    for (const id of ids) if (typeof id !== 'string' || !isDeviceId(id)) throw badRequest('invalid device id');
    return ids as string[];
  }

  async function change(actor: Actor, action: string, groupId: string, deviceIds: unknown, op: (ids: string[]) => Promise<number>): Promise<number> {
    const valid = isGroupId(groupId);
    await authorize(audit, actor, GROUPS_MANAGE, { action, ...(valid ? { target: target(groupId) } : {}) });
    try {
      if (!valid) throw notFound();
      const ids = checkIds(deviceIds);
      const n = await op(ids);
      await record(actor, action, 'success', target(groupId), { devices: ids.length, changed: n });
      return n;
    } catch (e) {
      await record(actor, action, 'failure', valid ? target(groupId) : undefined, { reason: isRampartError(e) ? e.code : 'internal' });
      throw e;
    }
  }

  return {
    async create(actor: Actor, input: { name: string; description?: string }): Promise<DeviceGroup> {
      const action = 'group.create';
      await authorize(audit, actor, GROUPS_MANAGE, { action });
      const id = `grp_${randomUUID().replace(/-/g, '')}`;
      try {
        if (typeof input.name !== 'string' || !NAME_RE.test(input.name)) throw badRequest('invalid group name');
        if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > 500)) throw badRequest('invalid description');
        // Group names are organisational labels, not personal data; the audit entry carries the id only.
        const g = await groups.create({ id, name: input.name, description: input.description ?? null, createdBy: actor.id }, deps.now().toISOString());
        await record(actor, action, 'success', target(id), {});
        return g;
      } catch (e) {
        await record(actor, action, 'failure', undefined, { reason: isRampartError(e) ? e.code : 'internal' });
        throw e;
      }
    },

    async get(actor: Actor, id: string): Promise<DeviceGroup> {
      await authorize(audit, actor, GROUPS_READ, { action: 'group.get', ...(isGroupId(id) ? { target: target(id) } : {}) });
      const g = isGroupId(id) ? await groups.get(id) : undefined;
      if (!g) throw notFound();
      return g;
    },

    async list(actor: Actor, q: { after?: string; limit: number }): Promise<Page<DeviceGroup>> {
      await authorize(audit, actor, GROUPS_READ, { action: 'group.list' });
      if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) throw badRequest('invalid limit');
      if (q.after !== undefined && !isGroupId(q.after)) throw badRequest('invalid cursor');
      return groups.list(q);
    },

    async members(actor: Actor, id: string, q: { after?: string; limit: number }): Promise<Page<string>> {
      await authorize(audit, actor, GROUPS_READ, { action: 'group.members', ...(isGroupId(id) ? { target: target(id) } : {}) });
      if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) throw badRequest('invalid limit');
      if (q.after !== undefined && !isDeviceId(q.after)) throw badRequest('invalid cursor');
      if (!isGroupId(id) || !(await groups.get(id))) throw notFound();
      return groups.members(id, q);
    },

    async delete(actor: Actor, id: string): Promise<void> {
      const action = 'group.delete';
      const valid = isGroupId(id);
      await authorize(audit, actor, GROUPS_MANAGE, { action, ...(valid ? { target: target(id) } : {}) });
      const existed = valid && (await groups.get(id)) !== undefined;
      if (!existed) {
        await record(actor, action, 'failure', valid ? target(id) : undefined, { reason: 'not_found' });
        throw notFound();
      }
      await record(actor, action, 'success', target(id), {});
      await groups.delete(id);
    },

    addMembers(actor: Actor, id: string, deviceIds: unknown): Promise<number> {
      return change(actor, 'group.members.add', id, deviceIds, (ids) => groups.addMembers(id, ids, deps.now().toISOString()));
    },

    removeMembers(actor: Actor, id: string, deviceIds: unknown): Promise<number> {
      return change(actor, 'group.members.remove', id, deviceIds, async (ids) => {
        if (!(await groups.get(id))) throw notFound();
        return groups.removeMembers(id, ids, deps.now().toISOString());
      });
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
