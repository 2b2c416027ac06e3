// Permission catalogue and role routes.
import { Type } from 'typebox';
import { AUTHENTICATED, defineRoute } from '../types.ts';
import { ACTIONS } from '../../authz/config.ts';
import { PermissionList, RoleBody, RoleName, RoleUpdateBody, RoleView } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;
const RoleParams = Type.Object({ name: RoleName }, closed);

export const listPermissionsRoute = defineRoute({
  id: 'listPermissions',
  method: 'GET',
  url: '/api/v1/permissions',
  summary: 'Every permission, with what it allows',
  tags: ['roles'],
  permission: AUTHENTICATED,
  schema: { response: { 200: PermissionList } },
  async handler({ services }) {
    return { status: 200, body: { items: services.authz.roles.catalogue() } };
  },
});

export const listRolesRoute = defineRoute({
  id: 'listRoles',
  method: 'GET',
  url: '/api/v1/roles',
  summary: 'Built-in and custom roles',
  tags: ['roles'],
  permission: 'admins.read',
  schema: { response: { 200: Type.Object({ items: Type.Array(RoleView) }, closed) } },
  async handler({ actor, services }) {
    return { status: 200, body: { items: await services.authz.roles.list(actor!) } };
  },
});

export const getRoleRoute = defineRoute({
  id: 'getRole',
  method: 'GET',
  url: '/api/v1/roles/:name',
  summary: 'One role',
  tags: ['roles'],
  permission: 'admins.read',
  schema: { params: RoleParams, response: { 200: RoleView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.roles.get(actor!, params.name) };
  },
});

export const createRoleRoute = defineRoute({
  id: 'createRole',
  method: 'POST',
  url: '/api/v1/roles',
  summary: 'Create a custom role (only from permissions the caller holds)',
  tags: ['roles'],
  permission: 'roles.manage',
  servicePermissions: ['every permission of the role'],
  audit: 'role.create',
  schema: { body: RoleBody, response: { 201: RoleView } },
  async handler({ actor, body, services }) {
    return { status: 201, body: await services.authz.roles.create(actor!, body) };
  },
});

export const updateRoleRoute = defineRoute({
  id: 'updateRole',
  method: 'PUT',
  url: '/api/v1/roles/:name',
  summary: 'Change a custom role (adding permissions to a role in use waits for approval: 202)',
  tags: ['roles'],
  permission: 'roles.manage',
  servicePermissions: ['every permission of the role, before and after'],
  audit: 'role.update',
  approval: ACTIONS.roleUpdate,
  schema: { params: RoleParams, body: RoleUpdateBody, response: { 200: RoleView } },
  async handler({ actor, params, body, services }) {
    return { status: 200, body: await services.authz.roles.update(actor!, params.name, body) };
  },
});

export const deleteRoleRoute = defineRoute({
  id: 'deleteRole',
  method: 'DELETE',
  url: '/api/v1/roles/:name',
  summary: 'Delete a custom role that nobody holds',
  tags: ['roles'],
  permission: 'roles.manage',
  servicePermissions: ['every permission of the role'],
  audit: 'role.delete',
  schema: { params: RoleParams, response: { 200: Type.Object({ deleted: Type.Boolean() }, closed) } },
  async handler({ actor, params, services }) {
    await services.authz.roles.remove(actor!, params.name);
    return { status: 200, body: { deleted: true } };
  },
});
