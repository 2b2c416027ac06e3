// Device group routes (groups.read / groups.manage; the service checks and audits).
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { notFound } from '../../lib/errors.ts';
import { DeviceId, LimitString } from '../schemas.ts';
import { GROUP_ID_PATTERN } from '../../groups/service.ts';
import { MAX_MEMBERS_PER_CALL } from '../../groups/store.ts';

const closed = { additionalProperties: false } as const;
const GroupId = Type.String({ pattern: GROUP_ID_PATTERN, maxLength: 64 });
export const GroupView = Type.Object(
  {
    id: Type.String(), name: Type.String(), description: Type.Union([Type.String(), Type.Null()]),
    createdBy: Type.String(), createdAt: Type.String(), updatedAt: Type.String(), members: Type.Integer(),
  },
  closed,
);
const Params = Type.Object({ id: GroupId }, closed);
const Members = Type.Object({ deviceIds: Type.Array(DeviceId, { minItems: 1, maxItems: MAX_MEMBERS_PER_CALL }) }, closed);
const Changed = Type.Object({ changed: Type.Integer() }, closed);
const bigBody = (l: { bodyBytes: number }): number => Math.max(l.bodyBytes, 8 * 1024 * 1024);

export const listGroupsRoute = defineRoute({
  id: 'listGroups', method: 'GET', url: '/api/v1/groups', summary: 'List device groups', tags: ['groups'], permission: 'groups.read',
  schema: { querystring: Type.Object({ after: Type.Optional(GroupId), limit: Type.Optional(LimitString) }, closed), response: { 200: Type.Object({ items: Type.Array(GroupView), next: Type.Optional(Type.String()) }, closed) } },
  async handler({ actor, query, services }) {
    if (!services.groups) throw notFound();
    const limit = query.limit !== undefined ? Number(query.limit) : 100;
    return { status: 200, body: await services.groups.list(actor!, query.after !== undefined ? { after: query.after, limit } : { limit }) };
  },
});

export const createGroupRoute = defineRoute({
  id: 'createGroup', method: 'POST', url: '/api/v1/groups', summary: 'Create a device group (static membership)', tags: ['groups'], permission: 'groups.manage', audit: 'group.create',
  schema: { body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), description: Type.Optional(Type.String({ maxLength: 500 })) }, closed), response: { 201: GroupView } },
  async handler({ actor, body, services }) {
    if (!services.groups) throw notFound();
    return { status: 201, body: await services.groups.create(actor!, body.description !== undefined ? { name: body.name, description: body.description } : { name: body.name }) };
  },
});

export const getGroupRoute = defineRoute({
  id: 'getGroup', method: 'GET', url: '/api/v1/groups/:id', summary: 'One device group', tags: ['groups'], permission: 'groups.read',
  schema: { params: Params, response: { 200: GroupView } },
  async handler({ actor, params, services }) {
    if (!services.groups) throw notFound();
    return { status: 200, body: await services.groups.get(actor!, params.id) };
  },
});

export const deleteGroupRoute = defineRoute({
  id: 'deleteGroup', method: 'DELETE', url: '/api/v1/groups/:id', summary: 'Delete a device group (its devices stay)', tags: ['groups'], permission: 'groups.manage', audit: 'group.delete',
  schema: { params: Params, response: { 200: Type.Object({ deleted: Type.Boolean() }, closed) } },
  async handler({ actor, params, services }) {
    if (!services.groups) throw notFound();
    await services.groups.delete(actor!, params.id);
    return { status: 200, body: { deleted: true } };
  },
});

export const listGroupMembersRoute = defineRoute({
  id: 'listGroupMembers', method: 'GET', url: '/api/v1/groups/:id/members', summary: 'Device ids in a group', tags: ['groups'], permission: 'groups.read',
  schema: { params: Params, querystring: Type.Object({ after: Type.Optional(DeviceId), limit: Type.Optional(LimitString) }, closed), response: { 200: Type.Object({ items: Type.Array(Type.String()), next: Type.Optional(Type.String()) }, closed) } },
  async handler({ actor, params, query, services }) {
    if (!services.groups) throw notFound();
    const limit = query.limit !== undefined ? Number(query.limit) : 100;
    return { status: 200, body: await services.groups.members(actor!, params.id, query.after !== undefined ? { after: query.after, limit } : { limit }) };
  },
});

export const addGroupMembersRoute = defineRoute({
  id: 'addGroupMembers', method: 'POST', url: '/api/v1/groups/:id/members', summary: 'Add devices to a group (all must exist)', tags: ['groups'], permission: 'groups.manage', audit: 'group.members.add',
  bodyLimit: bigBody,
  schema: { params: Params, body: Members, response: { 200: Changed } },
  async handler({ actor, params, body, services }) {
    if (!services.groups) throw notFound();
    return { status: 200, body: { changed: await services.groups.addMembers(actor!, params.id, body.deviceIds) } };
  },
});

export const removeGroupMembersRoute = defineRoute({
  id: 'removeGroupMembers', method: 'POST', url: '/api/v1/groups/:id/members/remove', summary: 'Remove devices from a group', tags: ['groups'], permission: 'groups.manage', audit: 'group.members.remove',
  bodyLimit: bigBody,
  schema: { params: Params, body: Members, response: { 200: Changed } },
  async handler({ actor, params, body, services }) {
    if (!services.groups) throw notFound();
    return { status: 200, body: { changed: await services.groups.removeMembers(actor!, params.id, body.deviceIds) } };
  },
});
