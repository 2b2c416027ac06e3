// Command queue routes.
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { COMMAND_CLASSES, PERMISSIONS } from '../../services/command-policy.ts';
import { conflict } from '../../lib/errors.ts';
import type { EnqueueInput } from '../../services/types.ts';
import type { JsonValue } from '../../audit/types.ts';
import {
  CancelResult,
  CommandResult,
  CommandStatus,
  CommandUuid,
  DeviceId,
  EnqueueBody,
  EnqueueResult,
  LimitString,
} from '../schemas.ts';

const closed = { additionalProperties: false } as const;

/** Command types whose body may exceed the default limit (profiles and manifests). */
export const LARGE_BODY_REQUEST_TYPES: readonly string[] = ['InstallProfile', 'InstallProvisioningProfile', 'InstallEnterpriseApplication'];

export const enqueueCommandRoute = defineRoute({
  id: 'enqueueCommand',
  method: 'POST',
  url: '/api/v1/commands',
  summary: 'Queue one command for one or more devices (validated against Apple\'s schema first)',
  tags: ['commands'],
  permission: PERMISSIONS.commandsSend,
  servicePermissions: COMMAND_CLASSES.map((c) => `${PERMISSIONS.commandsSend}.${c}`),
  audit: 'command.enqueue',
  approval: 'command.erase | command.bulk',
  bodyLimit: (l) => Math.max(l.bodyBytes, l.installProfileBodyBytes),
  schema: { body: EnqueueBody, response: { 201: EnqueueResult } },
  async handler({ actor, body, services }) {
    const input: EnqueueInput = {
      deviceIds: body.deviceIds,
      requestType: body.requestType,
      payload: (body.payload ?? {}) as { [k: string]: JsonValue },
    };
    if (body.commandUuid !== undefined) input.commandUuid = body.commandUuid;
    if (body.push !== undefined) input.push = body.push;
    return { status: 201, body: await services.commands.enqueue(actor!, input) };
  },
});

export const commandStatusRoute = defineRoute({
  id: 'getCommand',
  method: 'GET',
  url: '/api/v1/commands/:uuid',
  summary: 'Status of a command: counts by status and a page of per-device entries',
  tags: ['commands'],
  permission: PERMISSIONS.commandsRead,
  schema: {
    params: Type.Object({ uuid: CommandUuid }, closed),
    querystring: Type.Object({ after: Type.Optional(DeviceId), limit: Type.Optional(LimitString) }, closed),
    response: { 200: CommandStatus },
  },
  async handler({ actor, params, query, services }) {
    const limit = query.limit !== undefined ? Number(query.limit) : 100;
    const page = query.after !== undefined ? { after: query.after, limit } : { limit };
    return { status: 200, body: await services.commands.status(actor!, params.uuid, page) };
  },
});

const EntryParams = Type.Object({ uuid: CommandUuid, deviceId: DeviceId }, closed);

export const commandResultRoute = defineRoute({
  id: 'getCommandResult',
  method: 'GET',
  url: '/api/v1/commands/:uuid/devices/:deviceId',
  summary: "One device's entry for a command, with its result",
  tags: ['commands'],
  permission: PERMISSIONS.commandsRead,
  schema: { params: EntryParams, response: { 200: CommandResult } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.commands.result(actor!, params.uuid, params.deviceId) };
  },
});

export const cancelCommandRoute = defineRoute({
  id: 'cancelCommand',
  method: 'DELETE',
  url: '/api/v1/commands/:uuid/devices/:deviceId',
  summary: 'Cancel a pending command for one device (409 when it already finished)',
  tags: ['commands'],
  permission: PERMISSIONS.commandsCancel,
  audit: 'command.cancel',
  schema: { params: EntryParams, response: { 200: CancelResult } },
  async handler({ actor, params, services }) {
    const cancelled = await services.commands.cancel(actor!, params.uuid, params.deviceId);
    if (!cancelled) throw conflict('command already finished');
    return { status: 200, body: { cancelled } };
  },
});
