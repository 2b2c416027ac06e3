// Command delivery (PUT /mdm/connect): record the device's answer to the
// previous command, then hand it the next one, in order. Results are
// idempotent on CommandUUID: a repeated report is not recorded twice.
import type { AuditLookup, AuditRecorder, JsonValue } from '../audit/types.ts';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';
import type { CommandQueueStore, DeviceStore, ResultStatus } from '../storage/types.ts';
import { EMPTY_OK, requireBoundDevice, type IdentityRebinder, type MdmReply, type RequestContext } from './device-identity.ts';
import type { InventoryService } from './inventory.ts';

export interface ConnectInput {
  deviceId: string;
  status: 'Idle' | ResultStatus;
  commandUuid?: string;
  errorChain?: PlistValue;
  /** The whole report as parsed. */
  body: PlistDict;
  /** The raw report as the device sent it. */
  raw: Uint8Array;
}

export interface ConnectServiceDeps {
  devices: DeviceStore;
  queue: CommandQueueStore;
  inventory: InventoryService;
  audit: AuditRecorder;
  lookup: AuditLookup;
  now: () => Date;
  toJson: (v: PlistValue) => JsonValue;
  /** lastSeenAt is written at most this often per device (ms). */
  lastSeenResolutionMs?: number;
  /** Enrollment's say on renewed identities; absent = never. */
  identities?: IdentityRebinder;
  /** Runs a device's result recording one at a time, across nodes (src/cluster/device-lock.ts); default: unserialised. */
  serialize?: <T>(deviceId: string, fn: () => Promise<T>) => Promise<T>;
}

export function createConnectService(deps: ConnectServiceDeps) {
  const { devices, queue, audit } = deps;
  const resolution = deps.lastSeenResolutionMs ?? 60_000;
  const serialize = deps.serialize ?? (<T>(_: string, fn: () => Promise<T>): Promise<T> => fn());
  /**
   * The result goes on record exactly once, even across a crash: the audit
   * entry is written first, and a retry after a crash between the two writes
   * finds it (AuditLookup) instead of writing it again.
   */
  async function recordAnswer(m: ConnectInput, uuid: string, ctx: RequestContext): Promise<{ requestType: string } | undefined> {
    const entry = await queue.entry(m.deviceId, uuid);
    const base = {
      actor: { type: 'device' as const, id: m.deviceId },
      source: ctx.source,
      requestId: ctx.requestId,
      target: { type: 'command', id: uuid },
    };
    if (!entry || entry.deliveries === 0) {
      // Its own action: a 'command.result' entry here would make the lookup below take the
      // real result, once the command is delivered, for one already on record.
      await audit.record({ ...base, action: 'command.result.denied', outcome: 'denied', details: { reason: 'unknown_command', status: m.status } });
      return undefined;
    }
    if (entry.status === 'acknowledged' || entry.status === 'error') return undefined; // a repeated report: already recorded
    if (m.status !== 'NotNow' && !(await deps.lookup.has({ action: 'command.result', actorId: m.deviceId, targetId: uuid }))) {
      await audit.record({
        ...base,
        action: 'command.result',
        outcome: m.status === 'Acknowledged' ? 'success' : 'failure',
        details: { requestType: entry.requestType, status: m.status },
      });
    }
    return { requestType: entry.requestType };
  }

  return {
    async handle(m: ConnectInput, ctx: RequestContext): Promise<MdmReply> {
      const device = await requireBoundDevice({ devices, audit, identities: deps.identities }, m.deviceId, ctx, 'device.connect', { allowAuthenticated: false });
      const nowDate = deps.now();
      const now = nowDate.toISOString();
      if (!device.lastSeenAt || nowDate.getTime() - Date.parse(device.lastSeenAt) >= resolution) {
        await devices.update(m.deviceId, { lastSeenAt: now }, now);
      }
      // A command the device answered NotNow waits for its next session (which
      // starts with Idle); within this session the commands behind it proceed.
      const opts = { skipNotNow: m.status !== 'Idle' };
      const uuid = m.status !== 'Idle' ? m.commandUuid : undefined;
      let next;
      if (uuid !== undefined) {
        // One report at a time per device, across nodes (a device retrying on
        // another node must not put a second result on record); the result and
        // the next delivery commit together: one durable commit per request.
        next = await serialize(m.deviceId, async () => {
          const answered = await recordAnswer(m, uuid, ctx);
          if (!answered) return queue.next(m.deviceId, opts, now);
          const errorJson = m.errorChain !== undefined ? JSON.stringify(deps.toJson(m.errorChain)) : null;
          const r = await queue.recordResultAndNext(m.deviceId, uuid, m.status as ResultStatus, { raw: m.raw, json: JSON.stringify(deps.toJson(m.body)), errorJson }, opts, now);
          if (r.outcome === 'recorded' && m.status === 'Acknowledged') {
            await deps.inventory.apply(m.deviceId, answered.requestType, m.body);
            // An erased device is checked out; its identity is revoked (a new enrollment gets a new one).
            if (answered.requestType === 'EraseDevice') await deps.identities?.checkedOut?.(m.deviceId, ctx);
          }
          return r.next;
        });
      } else {
        next = await queue.next(m.deviceId, opts, now);
      }
      if (!next) return EMPTY_OK;
      return { status: 200, contentType: 'application/xml', body: next.command.payload };
    },
  };
}

export type ConnectService = ReturnType<typeof createConnectService>;
