// Executors for the command service's gated actions. An approved erase or
// bulk command is queued with the CommandUUID fixed at request time, so a
// second run (after a crash) is the command service's idempotent replay.
import type { JsonValue } from '../audit/types.ts';
import type { CommandService } from '../services/types.ts';
import { BULK_ACTION, ERASE_ACTION } from '../services/commands.ts';
import type { ApprovalGate } from './approvals.ts';

/** The bulk service's request, for approved fleet-wide and group actions (src/bulk). */
export interface BulkRequester {
  request(actor: Parameters<CommandService['enqueue']>[0], input: { selection: unknown; requestType: string; payload: { [k: string]: JsonValue }; commandUuid?: string; push?: boolean }): Promise<{ id: string; commandUuid: string }>;
}

export function registerCommandExecutors(gate: Pick<ApprovalGate, 'register'>, commands: CommandService, bulk?: BulkRequester): void {
  const run = async (p: { [k: string]: JsonValue }, ctx: { actor: Parameters<CommandService['enqueue']>[0] }): Promise<JsonValue> => {
    if (bulk && 'selection' in p) {
      // An approved bulk request: store the job (the worker queues it under the approved CommandUUID).
      const job = await bulk.request(ctx.actor, {
        selection: p.selection,
        requestType: typeof p.requestType === 'string' ? p.requestType : '',
        payload: p.payload !== null && typeof p.payload === 'object' && !Array.isArray(p.payload) ? p.payload : {},
        ...(typeof p.commandUuid === 'string' ? { commandUuid: p.commandUuid } : {}),
        push: p.push !== false,
      });
      return { bulkJob: job.id, commandUuid: job.commandUuid };
    }
    const r = await commands.enqueue(ctx.actor, {
      requestType: typeof p.requestType === 'string' ? p.requestType : '',
      deviceIds: Array.isArray(p.deviceIds) ? p.deviceIds.filter((x): x is string => typeof x === 'string') : [],
      payload: p.payload !== null && typeof p.payload === 'object' && !Array.isArray(p.payload) ? p.payload : {},
      ...(typeof p.commandUuid === 'string' ? { commandUuid: p.commandUuid } : {}),
    });
    return { commandUuid: r.commandUuid, queued: r.queued };
  };
  gate.register(ERASE_ACTION, run, { idempotent: true });
  gate.register(BULK_ACTION, run, { idempotent: true });
}
