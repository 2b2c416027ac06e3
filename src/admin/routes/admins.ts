// Administrator routes: list, show, create (four-eyes), disable, role assignment.
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { ACTIONS } from '../../authz/config.ts';
import { AdminView, Assignment, AssignBody, CreateAdminBody, IdString, RoleName } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;
const AdminParams = Type.Object({ id: IdString }, closed);

export const listAdminsRoute = defineRoute({
  id: 'listAdmins',
  method: 'GET',
  url: '/api/v1/admins',
  summary: 'List administrators with their role assignments',
  tags: ['admins'],
  permission: 'admins.read',
  schema: { response: { 200: Type.Object({ items: Type.Array(AdminView) }, closed) } },
  async handler({ actor, services }) {
    return { status: 200, body: { items: await services.authz.admins.list(actor!) } };
  },
});

export const getAdminRoute = defineRoute({
  id: 'getAdmin',
  method: 'GET',
  url: '/api/v1/admins/:id',
  summary: 'One administrator with its role assignments',
  tags: ['admins'],
  permission: 'admins.read',
  schema: { params: AdminParams, response: { 200: AdminView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.admins.get(actor!, params.id) };
  },
});

export const createAdminRoute = defineRoute({
  id: 'createAdmin',
  method: 'POST',
  url: '/api/v1/admins',
  summary: 'Create an administrator, optionally with roles (202 while waiting for a second administrator)',
  tags: ['admins'],
  permission: 'admins.manage',
  servicePermissions: ['roles.manage (when roles are given)', 'every permission of the given roles'],
  audit: 'admin.create',
  approval: ACTIONS.adminCreate,
  schema: { body: CreateAdminBody, response: { 201: AdminView } },
  async handler({ actor, body, services }) {
    const input: { username: string; roles?: string[] } = { username: body.username };
    if (body.roles !== undefined) input.roles = body.roles;
    return { status: 201, body: await services.authz.admins.create(actor!, input) };
  },
});

export const disableAdminRoute = defineRoute({
  id: 'disableAdmin',
  method: 'POST',
  url: '/api/v1/admins/:id/disable',
  summary: 'Disable an administrator (its tokens stop working; the last owner cannot be disabled)',
  tags: ['admins'],
  permission: 'admins.manage',
  servicePermissions: ['every permission the administrator holds'],
  audit: 'admin.disable',
  schema: { params: AdminParams, response: { 200: AdminView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.admins.disable(actor!, params.id) };
  },
});

export const assignRoleRoute = defineRoute({
  id: 'assignRole',
  method: 'POST',
  url: '/api/v1/admins/:id/roles',
  summary: 'Give an administrator a role, optionally limited to device groups (202 while waiting for approval)',
  tags: ['admins', 'roles'],
  permission: 'roles.manage',
  servicePermissions: ['every permission of the role'],
  audit: 'role.assign',
  approval: ACTIONS.adminElevate,
  schema: { params: AdminParams, body: AssignBody, response: { 200: Type.Object({ items: Type.Array(Assignment) }, closed) } },
  async handler({ actor, params, body, services }) {
    return { status: 200, body: { items: await services.authz.roles.assign(actor!, params.id, body.role, body.groups ?? []) } };
  },
});

export const unassignRoleRoute = defineRoute({
  id: 'unassignRole',
  method: 'DELETE',
  url: '/api/v1/admins/:id/roles/:role',
  summary: "Remove a role from an administrator (the last owner keeps the owner role)",
  tags: ['admins', 'roles'],
  permission: 'roles.manage',
  servicePermissions: ['every permission of the role'],
  audit: 'role.unassign',
  schema: { params: Type.Object({ id: IdString, role: RoleName }, closed), response: { 200: Type.Object({ items: Type.Array(Assignment) }, closed) } },
  async handler({ actor, params, services }) {
    return { status: 200, body: { items: await services.authz.roles.unassign(actor!, params.id, params.role) } };
  },
});
