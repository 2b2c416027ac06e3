// The administrator, role, token and approval routes (src/authz).
import type { AnyRoute } from '../types.ts';
import { assignRoleRoute, createAdminRoute, disableAdminRoute, getAdminRoute, listAdminsRoute, unassignRoleRoute } from './admins.ts';
import { createRoleRoute, deleteRoleRoute, getRoleRoute, listPermissionsRoute, listRolesRoute, updateRoleRoute } from './roles.ts';
import { createTokenRoute, listTokensRoute, revokeTokenRoute } from './tokens.ts';
import { approveRoute, denyRoute, getApprovalRoute, listApprovalsRoute } from './approvals.ts';

export const AUTHZ_ROUTES: readonly AnyRoute[] = [
  listAdminsRoute,
  getAdminRoute,
  createAdminRoute,
  disableAdminRoute,
  assignRoleRoute,
  unassignRoleRoute,
  listPermissionsRoute,
  listRolesRoute,
  getRoleRoute,
  createRoleRoute,
  updateRoleRoute,
  deleteRoleRoute,
  listTokensRoute,
  createTokenRoute,
  revokeTokenRoute,
  listApprovalsRoute,
  getApprovalRoute,
  approveRoute,
  denyRoute,
] as AnyRoute[];
