// Executors for the command service's gated actions. An approved erase or
// bulk command is queued with the CommandUUID fixed at request time, so a
// second run (after a crash) is the command service's idempotent replay.
import type { JsonValue } from '../audit/types.ts';
import type { CommandService } from '../services/types.ts';
import { BULK_ACTION, ERASE_ACTION } from '../services/commands.ts';
import type { ApprovalGate } from './approvals.ts';

export function registerCommandExecutors(gate: Pick<ApprovalGate, 'register'>, commands: CommandService): void {
  const run = async (p: { [k: string]: JsonValue }, ctx: { actor: Parameters<CommandService['enqueue']>[0] }): Promise<JsonValue> => {
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
