// Device inventory routes.
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { PERMISSIONS } from '../../services/command-policy.ts';
import type { DeviceQuery } from '../../storage/types.ts';
import {
  DeviceDetail,
  DeviceId,
  DevicePage,
  DeviceStatus,
  IsoTimeString,
  LimitString,
  QueueEntryView,
  QueueStatus,
  SearchString,
} from '../schemas.ts';

const closed = { additionalProperties: false } as const;
const DeviceParams = Type.Object({ id: DeviceId }, closed);

export const listDevicesRoute = defineRoute({
  id: 'listDevices',
  method: 'GET',
  url: '/api/v1/devices',
  summary: 'List devices (cursor pagination by id)',
  tags: ['devices'],
  permission: PERMISSIONS.devicesRead,
  schema: {
    querystring: Type.Object(
      {
        status: Type.Optional(DeviceStatus),
        serialNumber: Type.Optional(SearchString),
        model: Type.Optional(SearchString),
        osVersion: Type.Optional(SearchString),
        search: Type.Optional(SearchString),
        notSeenSince: Type.Optional(IsoTimeString),
        after: Type.Optional(DeviceId),
        limit: Type.Optional(LimitString),
      },
      closed,
    ),
    response: { 200: DevicePage },
  },
  async handler({ actor, query, services }) {
    const q: DeviceQuery = { limit: query.limit !== undefined ? Number(query.limit) : 100 };
    if (query.status !== undefined) q.status = query.status;
    if (query.serialNumber !== undefined) q.serialNumber = query.serialNumber;
    if (query.model !== undefined) q.model = query.model;
    if (query.osVersion !== undefined) q.osVersion = query.osVersion;
    if (query.search !== undefined) q.search = query.search;
    if (query.notSeenSince !== undefined) q.notSeenSince = query.notSeenSince;
    if (query.after !== undefined) q.after = query.after;
    return { status: 200, body: await services.devices.list(actor!, q) };
  },
});

export const getDeviceRoute = defineRoute({
  id: 'getDevice',
  method: 'GET',
  url: '/api/v1/devices/:id',
  summary: 'One device with its inventory and last reports',
  tags: ['devices'],
  permission: PERMISSIONS.devicesRead,
  schema: { params: DeviceParams, response: { 200: DeviceDetail } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.devices.get(actor!, params.id) };
  },
});

export const listDeviceCommandsRoute = defineRoute({
  id: 'listDeviceCommands',
  method: 'GET',
  url: '/api/v1/devices/:id/commands',
  summary: "A device's queued and finished commands, newest first",
  tags: ['devices', 'commands'],
  permission: PERMISSIONS.commandsRead,
  schema: {
    params: DeviceParams,
    querystring: Type.Object({ status: Type.Optional(QueueStatus), limit: Type.Optional(LimitString) }, closed),
    response: { 200: Type.Object({ items: Type.Array(QueueEntryView) }, closed) },
  },
  async handler({ actor, params, query, services }) {
    const limit = query.limit !== undefined ? Number(query.limit) : 100;
    const items = await services.commands.forDevice(actor!, params.id, query.status !== undefined ? { status: query.status, limit } : { limit });
    return { status: 200, body: { items } };
  },
});
