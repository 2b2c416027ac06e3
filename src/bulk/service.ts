// Fleet-wide and group actions: one request queues one command (one
// CommandUUID) for a selection of up to 100,000 devices: a group, a device
// filter (the devices list query) or an explicit list. The request is checked
// (permissions "commands.bulk" and "commands.send.<class>", the command
// against Apple's schema) and stored as a job; a background worker resolves
// the selection page by page and queues the command through the command
// service, so the per-command audit entry ("command.enqueue") and the push
// outbox rows are exactly those of the single-command path. The request
// itself is one "command.bulk" entry.
import { randomUUID } from 'node:crypto';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { authorize, commandClass, sendPermission } from '../services/command-policy.ts';
import { BULK_ACTION, ERASE_ACTION, MAX_DEVICES_PER_COMMAND, canonicalUuid, type CommandBuilder } from '../services/commands.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import { isDeviceId } from '../services/devices.ts';
import type { Actor, CommandService } from '../services/types.ts';
import type { DeviceQuery, DeviceStatus, DeviceStore, QueueStatus } from '../storage/types.ts';
import { badRequest, isRampartError, notFound } from '../lib/errors.ts';
import type { GroupStore } from '../groups/store.ts';
import { isGroupId } from '../groups/service.ts';
import type { BulkJob, BulkState, BulkStore } from './store.ts';
import { createWaker } from '../lib/waker.ts';

export const COMMANDS_BULK = 'commands.bulk';

export type DeviceFilter = Omit<DeviceQuery, 'after' | 'limit'>;
export type Selection = { groupId: string } | { deviceIds: string[] } | { filter: DeviceFilter };

export interface BulkRequest {
  requestType: string;
  payload: { [k: string]: JsonValue };
  selection: Selection;
  push?: boolean;
  commandUuid?: string;
}

export interface BulkProgress {
  jobId: string;
  commandUuid: string;
  requestType: string;
  state: BulkState;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** Devices the selection resolved to (null until resolved). */
  total: number | null;
  queued: number;
  pushed: number;
  acknowledged: number;
  errors: number;
  notNow: number;
  cancelled: number;
  /** Queued and never handed to the device yet. */
  notYetSeen: number;
  pushFailed: number;
  noPushToken: number;
}

export interface BulkServiceDeps {
  jobs: BulkStore;
  groups: Pick<GroupStore, 'get' | 'members'>;
  devices: Pick<DeviceStore, 'listIds'>;
  commands: Pick<CommandService, 'enqueue'>;
  queue: { summary(uuid: string): Promise<Record<QueueStatus, number>> };
  pushCounts?: (uuid: string) => Promise<{ pushedOnce: number; failed: number; invalid_token: number; no_token: number }>;
  build: CommandBuilder;
  audit: AuditRecorder;
  now: () => Date;
  /**
   * Four-eyes gate and rate limits (src/authz). A bulk request is held for
   * approval above the policy's threshold, counted on the selection as it is
   * when requested; the approved run stores the job. The worker's `commands`
   * must then be a command service without the gate (the job was decided here).
   */
  gate?: ApprovalGuard;
}

const STATUSES: readonly DeviceStatus[] = ['authenticated', 'enrolled', 'checked_out'];

function checkSelection(sel: unknown): Selection {
  if (sel === null || typeof sel !== 'object' || Array.isArray(sel)) throw badRequest('invalid selection');
  const keys = Object.keys(sel);
  if (keys.length !== 1) throw badRequest('selection needs exactly one of groupId, deviceIds, filter');
  const s = sel as Record<string, unknown>;
  if ('groupId' in s) {
    if (typeof s.groupId !== 'string' || !isGroupId(s.groupId)) throw badRequest('invalid group id');
    return { groupId: s.groupId };
  }
  if ('deviceIds' in s) {
    const ids = s.deviceIds;
    if (!Array.isArray(ids) || ids.length === 0) throw badRequest('no devices');
    if (ids.length > MAX_DEVICES_PER_COMMAND) throw badRequest('too many devices');
    for (const id of ids) if (typeof id !== 'string' || !isDeviceId(id)) throw badRequest('invalid device id');
    return { deviceIds: ids as string[] };
  }
  if ('filter' in s) {
    const f = s.filter as Record<string, unknown> | null;
    if (f === null || typeof f !== 'object' || Array.isArray(f)) throw badRequest('invalid filter');
    const out: DeviceFilter = {};
    for (const [k, v] of Object.entries(f)) {
      if (typeof v !== 'string' || v.length === 0 || v.length > 200) throw badRequest('invalid filter');
      if (k === 'status') {
        if (!(STATUSES as readonly string[]).includes(v)) throw badRequest('invalid filter');
        out.status = v as DeviceStatus;
      } else if (k === 'serialNumber' || k === 'model' || k === 'osVersion' || k === 'search') out[k] = v;
      else if (k === 'notSeenSince') {
        if (Number.isNaN(Date.parse(v))) throw badRequest('invalid filter');
        out.notSeenSince = new Date(v).toISOString();
      } else throw badRequest('invalid filter');
    }
    return { filter: out };
  }
  throw badRequest('selection needs exactly one of groupId, deviceIds, filter');
}

export function createBulkService(deps: BulkServiceDeps) {
  const { jobs, audit } = deps;

  /** Device ids of a selection, resolved page by page. Throws when it exceeds the limit. */
  async function resolve(sel: Selection): Promise<string[]> {
    if ('deviceIds' in sel) return [...new Set(sel.deviceIds)];
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      let page: { items: string[]; next?: string };
      if ('groupId' in sel) {
        page = await deps.groups.members(sel.groupId, after !== undefined ? { after, limit: 10_000 } : { limit: 10_000 });
      } else {
        page = await deps.devices.listIds({ ...sel.filter, limit: 10_000, ...(after !== undefined ? { after } : {}) });
      }
      out.push(...page.items);
      if (out.length > MAX_DEVICES_PER_COMMAND) throw badRequest('selection exceeds 100000 devices');
      if (page.next === undefined || page.items.length === 0) return out;
      after = page.next;
    }
  }

  return {
    /** Checks and stores the job; the worker queues it. */
    async request(actor: Actor, input: BulkRequest): Promise<BulkJob> {
      const action = 'command.bulk';
      const requestType = typeof input.requestType === 'string' ? input.requestType : '';
      const base = { requestType, class: commandClass(requestType) };
      await authorize(audit, actor, COMMANDS_BULK, { action, details: base });
      await authorize(audit, actor, sendPermission(requestType), { action, details: base });
      const id = `bulk_${randomUUID().replace(/-/g, '')}`;
      const record = (outcome: 'success' | 'failure', details: { [k: string]: JsonValue }, commandUuid?: string) => audit.record({
        action,
        actor: { type: actor.type, id: actor.id },
        ...(actor.source !== undefined ? { source: actor.source } : {}),
        ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
        target: { type: 'bulk_job', id },
        outcome,
        details: { ...base, ...details, ...(commandUuid ? { commandUuid } : {}) },
      });
      try {
        const selection = checkSelection(input.selection);
        if (input.payload === null || typeof input.payload !== 'object' || Array.isArray(input.payload)) throw badRequest('invalid payload');
        let uuid: string;
        if (input.commandUuid !== undefined) {
          const c = canonicalUuid(input.commandUuid);
          if (c === undefined) throw badRequest('invalid command uuid');
          uuid = c;
        } else uuid = randomUUID();
        // Refuse a command that does not fit Apple's schema now, not in the background.
        try {
          deps.build({ uuid, requestType, payload: input.payload });
        } catch (e) {
          if (isRampartError(e) && e.code === 'bad_request') throw e;
          throw badRequest('invalid command');
        }
        if ('groupId' in selection && !(await deps.groups.get(selection.groupId))) throw notFound('group not found');
        if (deps.gate) {
          const units = (await resolve(selection)).length;
          const erase = commandClass(requestType) === 'erase';
          await deps.gate.guard(actor, {
            action: erase ? ERASE_ACTION : BULK_ACTION,
            params: { requestType, selection: selection as unknown as JsonValue, payload: input.payload, commandUuid: uuid, push: input.push !== false },
            summary: `${requestType} for ${units} device(s), bulk`,
            units,
            target: { type: 'command', id: uuid },
            approverPermission: sendPermission(requestType),
          });
        }
        const kind = 'groupId' in selection ? 'group' : 'deviceIds' in selection ? 'list' : 'filter';
        const details: { [k: string]: JsonValue } = { selection: kind, push: input.push !== false };
        if ('groupId' in selection) details.groupId = selection.groupId;
        if ('deviceIds' in selection) details.devices = selection.deviceIds.length;
        await record('success', details, uuid);
        return await jobs.create({
          id, commandUuid: uuid, requestType, payloadJson: JSON.stringify(input.payload), selectionJson: JSON.stringify(selection),
          push: input.push !== false, actorType: actor.type, actorId: actor.id,
        }, deps.now().toISOString());
      } catch (e) {
        await record('failure', { reason: isRampartError(e) ? e.code : 'internal' });
        throw e;
      }
    },

    async progress(actor: Actor, jobId: string): Promise<BulkProgress> {
      await authorize(audit, actor, 'commands.read', { action: 'command.bulk.status', target: { type: 'bulk_job', id: String(jobId).slice(0, 64) } });
      const job = /^bulk_[0-9a-f]{32}$/.test(jobId) ? await jobs.get(jobId) : undefined;
      if (!job) throw notFound();
      const s = await deps.queue.summary(job.commandUuid);
      const p = deps.pushCounts ? await deps.pushCounts(job.commandUuid) : { pushedOnce: 0, failed: 0, invalid_token: 0, no_token: 0 };
      return {
        jobId: job.id,
        commandUuid: job.commandUuid,
        requestType: job.requestType,
        state: job.state,
        error: job.error,
        createdAt: job.createdAt,
        finishedAt: job.finishedAt,
        total: job.total,
        queued: s.pending + s.acknowledged + s.error + s.not_now + s.cancelled,
        pushed: p.pushedOnce,
        acknowledged: s.acknowledged,
        errors: s.error,
        notNow: s.not_now,
        cancelled: s.cancelled,
        notYetSeen: await jobs.notYetSeen(job.commandUuid),
        pushFailed: p.failed + p.invalid_token,
        noPushToken: p.no_token,
      };
    },

    /** Worker step: claims one job and queues it. Returns the job handled, if any. */
    async runOnce(owner: string, leaseMs = 600_000): Promise<BulkJob | undefined> {
      const job = await jobs.claim(owner, leaseMs, deps.now().toISOString());
      if (!job) return undefined;
      const finish = (state: 'done' | 'failed', total: number | null, error: string | null) => jobs.finish(job.id, owner, { state, total, error }, deps.now().toISOString());
      try {
        const ids = await resolve(JSON.parse(job.selectionJson) as Selection);
        if (ids.length === 0) {
          await finish('failed', 0, 'selection is empty');
          return job;
        }
        // The requester's permissions were checked when the job was accepted; the
        // command service checks the send permission again and records the usual entry.
        const onBehalf: Actor = { type: job.actorType as Actor['type'], id: job.actorId, permissions: new Set([sendPermission(job.requestType)]), requestId: job.id };
        const r = await deps.commands.enqueue(onBehalf, {
          deviceIds: ids, requestType: job.requestType, payload: JSON.parse(job.payloadJson) as { [k: string]: JsonValue }, commandUuid: job.commandUuid, push: job.push,
        });
        await finish('done', r.queued, null);
      } catch (e) {
        // A conflict means an earlier attempt of this job committed with another
        // selection result (the selection changed between attempts): that commit stands.
        if (isRampartError(e) && e.code === 'conflict') await finish('done', null, 'queued by an earlier attempt');
        else if (isRampartError(e) && (e.code === 'bad_request' || e.code === 'not_found')) await finish('failed', null, e.message);
        else throw e;
      }
      return job;
    },
  };
}

export type BulkService = ReturnType<typeof createBulkService>;

/** Runs the bulk worker in this process: polls, and wake() skips the wait. */
export function startBulkWorker(svc: BulkService, owner: string, onError: (e: unknown) => void, idleMs = 1000) {
  let running = true;
  const waker = createWaker();
  const done = (async () => {
    while (running) {
      let handled = false;
      try {
        handled = (await svc.runOnce(owner)) !== undefined;
      } catch (e) {
        onError(e);
      }
      if (!handled && running) {
        await waker.sleep(idleMs);
      }
    }
  })();
  return {
    wake: () => waker.wake(),
    async stop() {
      running = false;
      waker.wake();
      await done;
    },
  };
}
