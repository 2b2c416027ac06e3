// Every admin route, and the explicit allowlist of public ones.
import type { AnyRoute } from '../types.ts';
import { healthRoute } from './health.ts';
import { getDeviceRoute, listDeviceCommandsRoute, listDevicesRoute } from './devices.ts';
import { cancelCommandRoute, commandResultRoute, commandStatusRoute, enqueueCommandRoute } from './commands.ts';
import { openApiRoute } from './openapi.ts';
import { STAFF_ROUTES } from './staff.ts';

/** "METHOD url" of the only routes reachable without a token. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['GET /api/v1/health']);

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
  ...STAFF_ROUTES,
] as AnyRoute[];
