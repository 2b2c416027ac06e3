// Fleet-wide and group actions: POST queues a background job, GET reports progress.
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { notFound } from '../../lib/errors.ts';
import { COMMAND_CLASSES } from '../../services/command-policy.ts';
import { MAX_DEVICES_PER_COMMAND } from '../../services/commands.ts';
import { CommandUuid, DeviceId, EnqueueBody } from '../schemas.ts';
import { GROUP_ID_PATTERN } from '../../groups/service.ts';
import type { BulkRequest, Selection } from '../../bulk/service.ts';
import type { JsonValue } from '../../audit/types.ts';
import { ApprovalView } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;
const Str = Type.String({ minLength: 1, maxLength: 200 });
const Filter = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('authenticated'), Type.Literal('enrolled'), Type.Literal('checked_out')])),
  serialNumber: Type.Optional(Str), model: Type.Optional(Str), osVersion: Type.Optional(Str), search: Type.Optional(Str), notSeenSince: Type.Optional(Str),
}, closed);
const SelectionSchema = Type.Union([
  Type.Object({ groupId: Type.String({ pattern: GROUP_ID_PATTERN, maxLength: 64 }) }, closed),
  Type.Object({ deviceIds: Type.Array(DeviceId, { minItems: 1, maxItems: MAX_DEVICES_PER_COMMAND }) }, closed),
  Type.Object({ filter: Filter }, closed),
]);
const BulkBody = Type.Object({
  requestType: EnqueueBody.properties.requestType,
  payload: EnqueueBody.properties.payload,
  commandUuid: Type.Optional(CommandUuid),
  push: Type.Optional(Type.Boolean()),
  selection: SelectionSchema,
}, closed);
const JobState = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]);
const Accepted = Type.Object({ jobId: Type.String(), commandUuid: Type.String(), requestType: Type.String(), state: JobState }, closed);
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);
const Progress = Type.Object({
  jobId: Type.String(), commandUuid: Type.String(), requestType: Type.String(), state: JobState, error: Nullable(Type.String()),
  createdAt: Type.String(), finishedAt: Nullable(Type.String()), total: Nullable(Type.Integer()),
  queued: Type.Integer(), pushed: Type.Integer(), acknowledged: Type.Integer(), errors: Type.Integer(), notNow: Type.Integer(),
  cancelled: Type.Integer(), notYetSeen: Type.Integer(), pushFailed: Type.Integer(), noPushToken: Type.Integer(),
}, closed);

export const bulkCommandRoute = defineRoute({
  id: 'bulkCommand', method: 'POST', url: '/api/v1/commands/bulk',
  summary: 'Queue one command for a group, a device filter or a list of up to 100,000 devices (background job)',
  tags: ['commands'], permission: 'commands.bulk',
  servicePermissions: COMMAND_CLASSES.map((c) => `commands.send.${c}`),
  audit: 'command.bulk',
  bodyLimit: (l) => Math.max(l.bodyBytes, 8 * 1024 * 1024),
  approval: 'command.bulk | command.erase',
  // 202: the job was accepted, or the request waits for a second administrator (four-eyes).
  schema: { body: BulkBody, response: { 202: Type.Union([Accepted, ApprovalView]) } },
  async handler({ actor, body, services }) {
    if (!services.bulk) throw notFound();
    const input: BulkRequest = { requestType: body.requestType, payload: (body.payload ?? {}) as { [k: string]: JsonValue }, selection: body.selection as Selection };
    if (body.push !== undefined) input.push = body.push;
    if (body.commandUuid !== undefined) input.commandUuid = body.commandUuid;
    const job = await services.bulk.request(actor!, input);
    return { status: 202, body: { jobId: job.id, commandUuid: job.commandUuid, requestType: job.requestType, state: job.state } };
  },
});

export const bulkProgressRoute = defineRoute({
  id: 'getBulkCommand', method: 'GET', url: '/api/v1/commands/bulk/:id',
  summary: 'Progress of a bulk command: queued, pushed, acknowledged, error, not yet seen',
  tags: ['commands'], permission: 'commands.read',
  schema: { params: Type.Object({ id: Type.String({ pattern: '^bulk_[0-9a-f]{32}$' }) }, closed), response: { 200: Progress } },
  async handler({ actor, params, services }) {
    if (!services.bulk) throw notFound();
    return { status: 200, body: await services.bulk.progress(actor!, params.id) };
  },
});
