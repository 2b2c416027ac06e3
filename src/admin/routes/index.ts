// Every admin route, and the explicit allowlist of public ones.
import type { AnyRoute } from '../types.ts';
import { healthRoute } from './health.ts';
import { getDeviceRoute, listDeviceCommandsRoute, listDevicesRoute } from './devices.ts';
import { cancelCommandRoute, commandResultRoute, commandStatusRoute, enqueueCommandRoute } from './commands.ts';
import { openApiRoute } from './openapi.ts';
import { AUTHZ_ROUTES } from './authz.ts';
import * as identity from './auth.ts';
import { getPushCertificateRoute, uploadPushCertificateRoute } from './push.ts';
import { addGroupMembersRoute, createGroupRoute, deleteGroupRoute, getGroupRoute, listGroupMembersRoute, listGroupsRoute, removeGroupMembersRoute } from './groups.ts';
import { bulkCommandRoute, bulkProgressRoute } from './bulk.ts';
import { createInvitationRoute, listInvitationsRoute, revokeInvitationRoute, rotateCaRoute, showCaRoute, importCaRoute, createCaCsrRoute, revokeCertificateRoute } from './enrollment.ts';
import { AUDIT_ROUTES } from './audit.ts';
import { STAFF_ROUTES } from './staff.ts';
import { metricsRoute } from './metrics.ts';

/** "METHOD url" of the only routes reachable without a token. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  'GET /api/v1/health',
  // Sign-in entry points (src/identity): each needs a password or a login ticket, and is throttled.
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/mfa',
  'POST /api/v1/auth/mfa/webauthn/options',
  'POST /api/v1/auth/enroll/password',
  'POST /api/v1/auth/enroll/totp',
  'POST /api/v1/auth/enroll/totp/confirm',
  'GET /api/v1/auth/oidc/start',
  'GET /api/v1/auth/oidc/callback',
]);

const IDENTITY_ROUTES = [
  identity.loginRoute,
  identity.mfaRoute,
  identity.mfaWebAuthnOptionsRoute,
  identity.enrollPasswordRoute,
  identity.enrollTotpRoute,
  identity.enrollTotpConfirmRoute,
  identity.oidcStartRoute,
  identity.oidcCallbackRoute,
  identity.meRoute,
  identity.logoutRoute,
  identity.stepUpRoute,
  identity.stepUpWebAuthnOptionsRoute,
  identity.webauthnRegisterOptionsRoute,
  identity.webauthnRegisterRoute,
  identity.webauthnRemoveRoute,
  identity.totpBeginRoute,
  identity.totpConfirmRoute,
  identity.recoveryCodesRoute,
  identity.changePasswordRoute,
  identity.listSessionsRoute,
  identity.revokeSessionRoute,
  identity.createAccountRoute,
  identity.disableAccountRoute,
  identity.enableAccountRoute,
];

export const routeKey = (r: Pick<AnyRoute, 'method' | 'url'>): string => `${r.method} ${r.url}`;

export const ROUTES: readonly AnyRoute[] = [
  healthRoute,
  listDevicesRoute,
  getDeviceRoute,
  listDeviceCommandsRoute,
  enqueueCommandRoute,
  commandStatusRoute,
  commandResultRoute,
  cancelCommandRoute,
  openApiRoute,
  ...AUTHZ_ROUTES,
  ...IDENTITY_ROUTES,
  uploadPushCertificateRoute,
  getPushCertificateRoute,
  listGroupsRoute,
  createGroupRoute,
  getGroupRoute,
  deleteGroupRoute,
  listGroupMembersRoute,
  addGroupMembersRoute,
  removeGroupMembersRoute,
  bulkCommandRoute,
  bulkProgressRoute,
  createInvitationRoute,
  listInvitationsRoute,
  revokeInvitationRoute,
  showCaRoute,
  rotateCaRoute,
  importCaRoute,
  createCaCsrRoute,
  revokeCertificateRoute,
  ...AUDIT_ROUTES,
  ...STAFF_ROUTES,
  metricsRoute,
] as AnyRoute[];

/** Routes outside /api/v1/ (the conventional Prometheus path); still authenticated and permission-checked. */
export const NON_API_ROUTES: ReadonlySet<string> = new Set(['GET /metrics']);
