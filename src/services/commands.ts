// The command queue as administrators use it: enqueue (validated against
// Apple's schemas before anything is stored), status, per-device results and
// cancellation. Authorization is checked here: "commands.read",
// "commands.cancel", and "commands.send.<class>" for the command's class.
import type { CommandQueueStore, DeviceStore, QueueEntry, QueueStatus } from '../storage/types.ts';
import type { AuditRecorder, AuditEvent, JsonValue } from '../audit/types.ts';
import type {
  Actor,
  CommandResult,
  CommandService,
  CommandStatus,
  EnqueueInput,
  EnqueueResult,
  QueueEntryView,
} from './types.ts';
import { badRequest, conflict, isRampartError, notFound, RampartError } from '../lib/errors.ts';
import { authorize, commandClass, PERMISSIONS, sendPermission } from './command-policy.ts';
import { isDeviceId, MAX_PAGE } from './devices.ts';
import { toCommandResult, toQueueEntryView } from './views.ts';
import type { ApprovalGuard, DeviceScope } from '../authz/types.ts';
import { isApprovalPending } from '../authz/pending.ts';

/** Most devices one enqueue call may target. */
export const MAX_DEVICES_PER_COMMAND = 100_000;
export const COMMAND_UUID_PATTERN = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';
const COMMAND_UUID = new RegExp(COMMAND_UUID_PATTERN);
export const REQUEST_TYPE_PATTERN = '^[A-Za-z][A-Za-z0-9]{0,63}$';
const REQUEST_TYPE = new RegExp(REQUEST_TYPE_PATTERN);
/** Builder messages passed to callers: key paths and fixed words only. */
const SAFE_MESSAGE = /^[A-Za-z0-9 _:;/.,()[\]-]{1,300}$/;

/** The protocol's command builder: throws RampartError('bad_request') on a schema mismatch. */
export type CommandBuilder = (input: {
  uuid: string;
  requestType: string;
  payload: { [k: string]: JsonValue };
}) => { plist: Uint8Array | string };

export interface CommandServiceDeps {
  queue: Pick<CommandQueueStore, 'enqueue' | 'getCommand' | 'entry' | 'entriesForCommand' | 'entriesForDevice' | 'summary' | 'cancel'>;
  devices: Pick<DeviceStore, 'get'>;
  audit: AuditRecorder;
  build: CommandBuilder;
  now: () => Date;
  newUuid: () => string;
  /** Called after a command is queued (push notification hook). Errors are ignored. */
  onEnqueued?: (deviceIds: string[], commandUuid: string) => void;
  /** Device-group limits of role assignments (src/authz/scope.ts). */
  scope?: DeviceScope;
  /** Four-eyes gate and rate limits for erase and for commands to many devices (src/authz/approvals.ts). */
  gate?: ApprovalGuard;
  /** Push outbox: rows inserted in the enqueue transaction (src/push/outbox.ts). */
  pushOutbox?: { insertForCommand(trx: unknown, commandUuid: string, now: string): Promise<void> };
  /** Called after a command with push was committed (wakes the dispatcher). */
  onPushQueued?: () => void;
}

/** Approval action names used by enqueue (executors in src/authz/executors.ts). */
export const ERASE_ACTION = 'command.erase';
export const BULK_ACTION = 'command.bulk';

/** Canonical form of a CommandUUID (lower case); undefined when malformed. */
export function canonicalUuid(uuid: string): string | undefined {
  return COMMAND_UUID.test(uuid) ? uuid.toLowerCase() : undefined;
}

export function createCommandService(deps: CommandServiceDeps): CommandService {
  const { queue, devices, audit, build, now, newUuid, onEnqueued, scope, gate } = deps;
  const encoder = new TextEncoder();

  function event(actor: Actor, e: Omit<AuditEvent, 'actor' | 'source' | 'requestId'>): AuditEvent {
    const approval = actor.authz?.approvalId;
    return {
      ...e,
      ...(approval !== undefined ? { details: { ...e.details, approval } } : {}),
      actor: { type: actor.type, id: actor.id },
      ...(actor.source !== undefined ? { source: actor.source } : {}),
      ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
    };
  }

  function checkLimit(limit: number): void {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw badRequest('invalid limit');
  }

  /** Whether the stored command has exactly this content and these targets. */
  async function sameCommand(uuid: string, requestType: string, plist: Uint8Array, createdBy: string, ids: string[]): Promise<boolean> {
    const existing = await queue.getCommand(uuid);
    if (!existing) return false;
    if (existing.requestType !== requestType || existing.createdBy !== createdBy) return false;
    if (!bytesEqual(existing.payload, plist)) return false;
    const wanted = new Set(ids);
    let seen = 0;
    let after: string | undefined;
    for (;;) {
      const page = await queue.entriesForCommand(uuid, after === undefined ? { limit: MAX_PAGE } : { after, limit: MAX_PAGE });
      for (const e of page.items) {
        if (!wanted.has(e.deviceId)) return false;
        seen++;
      }
      if (page.next === undefined || page.items.length === 0) break;
      after = page.next;
    }
    return seen === wanted.size;
  }

  async function fail(actor: Actor, action: string, err: unknown, details: { [k: string]: JsonValue }, target?: { type: string; id: string }): Promise<never> {
    const reason = isRampartError(err) ? err.code : 'internal';
    await audit.record(event(actor, { action, outcome: 'failure', ...(target ? { target } : {}), details: { ...details, reason } }));
    throw err;
  }

  return {
    async enqueue(actor: Actor, input: EnqueueInput): Promise<EnqueueResult> {
      const action = 'command.enqueue';
      const requestType = typeof input.requestType === 'string' && REQUEST_TYPE.test(input.requestType) ? input.requestType : undefined;
      await authorize(audit, actor, sendPermission(requestType ?? ''), {
        action,
        details: { requestType: requestType ?? null, class: commandClass(requestType ?? '') },
      });
      const details: { [k: string]: JsonValue } = {
        requestType: requestType ?? null,
        class: commandClass(requestType ?? ''),
        devices: Array.isArray(input.deviceIds) ? input.deviceIds.length : 0,
      };
      const withPush = input.push !== false && deps.pushOutbox !== undefined;
      if (withPush) details.push = true;
      let uuid: string | undefined;
      try {
        if (requestType === undefined) throw badRequest('invalid request type');
        if (!Array.isArray(input.deviceIds) || input.deviceIds.length === 0) throw badRequest('no devices');
        if (input.deviceIds.length > MAX_DEVICES_PER_COMMAND) throw badRequest('too many devices');
        for (const id of input.deviceIds) if (typeof id !== 'string' || !isDeviceId(id)) throw badRequest('invalid device id');
        const ids = [...new Set(input.deviceIds)];
        if (input.commandUuid !== undefined) {
          uuid = canonicalUuid(input.commandUuid);
          if (uuid === undefined) throw badRequest('invalid command uuid');
        } else {
          uuid = newUuid().toLowerCase();
        }
        if (input.payload === null || typeof input.payload !== 'object' || Array.isArray(input.payload)) throw badRequest('invalid payload');
        if (scope) await scope.check(actor, sendPermission(requestType), ids, action);

        let plist: Uint8Array;
        try {
          const built = build({ uuid, requestType, payload: input.payload });
          plist = typeof built.plist === 'string' ? encoder.encode(built.plist) : built.plist;
        } catch (e) {
          // The builder names the offending key paths; keep its message only when it is plain.
          const message = e instanceof Error ? e.message : '';
          if (isRampartError(e) && e.code === 'bad_request' && SAFE_MESSAGE.test(message)) throw e;
          throw badRequest('invalid command', message);
        }

        if (gate) {
          // Erase, and any command to many devices, may need a second administrator and is rate limited.
          // The approval fixes the CommandUUID, so the approved run is idempotent.
          const erase = commandClass(requestType) === 'erase';
          if (erase || ids.length > 1) {
            await gate.guard(actor, {
              action: erase ? ERASE_ACTION : BULK_ACTION,
              params: { requestType, deviceIds: [...ids].sort(), payload: input.payload, commandUuid: uuid },
              summary: `${requestType} for ${ids.length} device(s)`,
              units: ids.length,
              target: { type: 'command', id: uuid },
              approverPermission: sendPermission(requestType),
            });
          }
        }

        const createdBy = actor.id;
        const result: EnqueueResult = { commandUuid: uuid, requestType, queued: ids.length };

        const replay = async (): Promise<EnqueueResult> => {
          if (await sameCommand(uuid!, requestType, plist, createdBy, ids)) {
            await audit.record(event(actor, { action, outcome: 'success', target: { type: 'command', id: uuid! }, details: { ...details, queued: ids.length, replay: true } }));
            return result;
          }
          throw conflict('command uuid already used', 'same CommandUUID with different content, targets or creator');
        };

        if (await queue.getCommand(uuid)) return await replay();
        try {
          const at = now().toISOString();
          const committedUuid = uuid;
          await queue.enqueue({ uuid, requestType, payload: plist, createdBy }, ids, at,
            withPush ? { inTransaction: (trx) => deps.pushOutbox!.insertForCommand(trx, committedUuid, at) } : {});
        } catch (e) {
          // A concurrent call with the same uuid won the race.
          if (e instanceof RampartError && e.code === 'conflict') return await replay();
          // The store checks every device in the same transaction (all or nothing); name none of them.
          if (e instanceof RampartError && e.code === 'not_found') throw notFound('device not found', 'enqueue refers to at least one unknown device');
          throw e;
        }
        await audit.record(event(actor, { action, outcome: 'success', target: { type: 'command', id: uuid }, details: { ...details, queued: ids.length } }));
        if (withPush) deps.onPushQueued?.();
        if (onEnqueued) {
          try {
            onEnqueued(ids, uuid);
          } catch {
            // The push hook is best effort; devices also fetch commands on their own.
          }
        }
        return result;
      } catch (e) {
        if (isApprovalPending(e)) throw e;
        return await fail(actor, action, e, details, uuid !== undefined ? { type: 'command', id: uuid } : undefined);
      }
    },

    async status(actor: Actor, commandUuid: string, page: { after?: string; limit: number }): Promise<CommandStatus> {
      const uuid = canonicalUuid(commandUuid);
      await authorize(audit, actor, PERMISSIONS.commandsRead, { action: 'command.status', ...(uuid ? { target: { type: 'command', id: uuid } } : {}) });
      checkLimit(page.limit);
      // A command may span devices outside the actor's groups: whole-command status needs unscoped commands.read.
      if (scope) await scope.check(actor, PERMISSIONS.commandsRead, actor.authz && actor.authz.scoped.length > 0 ? ['*'] : [], 'command.status');
      if (page.after !== undefined && !isDeviceId(page.after)) throw badRequest('invalid cursor');
      if (uuid === undefined) throw notFound();
      const cmd = await queue.getCommand(uuid);
      if (!cmd) throw notFound();
      const summary = await queue.summary(uuid);
      const entries = await queue.entriesForCommand(uuid, page.after !== undefined ? { after: page.after, limit: page.limit } : { limit: page.limit });
      const out: CommandStatus = {
        commandUuid: cmd.uuid,
        requestType: cmd.requestType,
        createdBy: cmd.createdBy,
        createdAt: cmd.createdAt,
        summary: fullSummary(summary),
        entries: { items: entries.items.map(toQueueEntryView) },
      };
      if (entries.next !== undefined) out.entries.next = entries.next;
      return out;
    },

    async result(actor: Actor, commandUuid: string, deviceId: string): Promise<CommandResult> {
      const uuid = canonicalUuid(commandUuid);
      await authorize(audit, actor, PERMISSIONS.commandsRead, { action: 'command.result', ...(uuid ? { target: { type: 'command', id: uuid } } : {}) });
      if (uuid === undefined || !isDeviceId(deviceId)) throw notFound();
      if (scope) await scope.check(actor, PERMISSIONS.commandsRead, [deviceId], 'command.result');
      const entry = await queue.entry(deviceId, uuid);
      if (!entry) throw notFound();
      return toCommandResult(entry);
    },

    async forDevice(actor: Actor, deviceId: string, q: { status?: QueueStatus; limit: number }): Promise<QueueEntryView[]> {
      const valid = isDeviceId(deviceId);
      await authorize(audit, actor, PERMISSIONS.commandsRead, { action: 'command.list', ...(valid ? { target: { type: 'device', id: deviceId } } : {}) });
      checkLimit(q.limit);
      if (!valid || !(await devices.get(deviceId))) throw notFound();
      if (scope) await scope.check(actor, PERMISSIONS.commandsRead, [deviceId], 'command.list');
      const entries: QueueEntry[] = await queue.entriesForDevice(deviceId, q.status !== undefined ? { status: q.status, limit: q.limit } : { limit: q.limit });
      return entries.map(toQueueEntryView);
    },

    async cancel(actor: Actor, commandUuid: string, deviceId: string): Promise<boolean> {
      const action = 'command.cancel';
      const uuid = canonicalUuid(commandUuid);
      const target = uuid ? { type: 'command', id: uuid } : undefined;
      await authorize(audit, actor, PERMISSIONS.commandsCancel, { action, ...(target ? { target } : {}) });
      if (uuid === undefined || !isDeviceId(deviceId)) throw notFound();
      if (scope) await scope.check(actor, PERMISSIONS.commandsCancel, [deviceId], action);
      const entry = await queue.entry(deviceId, uuid);
      if (!entry) {
        await audit.record(event(actor, { action, outcome: 'failure', target: target!, details: { reason: 'not_found' } }));
        throw notFound();
      }
      const cancelled = await queue.cancel(deviceId, uuid, now().toISOString());
      await audit.record(event(actor, {
        action,
        outcome: cancelled ? 'success' : 'failure',
        target: target!,
        details: { device: deviceId, requestType: entry.requestType, cancelled, ...(cancelled ? {} : { reason: 'final' }) },
      }));
      return cancelled;
    },
  };
}

function fullSummary(s: Partial<Record<QueueStatus, number>>): Record<QueueStatus, number> {
  return {
    pending: s.pending ?? 0,
    acknowledged: s.acknowledged ?? 0,
    error: s.error ?? 0,
    not_now: s.not_now ?? 0,
    cancelled: s.cancelled ?? 0,
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
