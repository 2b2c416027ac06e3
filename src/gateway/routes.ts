// The device plane's complete list of public routes. Matching is exact on the
// raw request target's path (no decoding, no normalisation, case-sensitive):
// "/mdm/../mdm/checkin", "/MDM/checkin", "//mdm/checkin" or "/mdm/checkin/"
// never match anything and are answered 404.

export type DeviceRouteName = 'checkin' | 'connect' | 'mdm';

export interface DeviceRoute {
  method: 'PUT' | 'GET' | 'POST';
  path: string;
  name: DeviceRouteName;
}

export const PUBLIC_DEVICE_ROUTES: readonly DeviceRoute[] = Object.freeze([
  { method: 'PUT', path: '/mdm/checkin', name: 'checkin' },
  { method: 'PUT', path: '/mdm/connect', name: 'connect' },
  { method: 'PUT', path: '/mdm', name: 'mdm' },
]);

const byKey = new Map(PUBLIC_DEVICE_ROUTES.map((r) => [`${r.method} ${r.path}`, r]));

/** The route for a request line, or undefined. `target` is the raw request target. */
export function matchDeviceRoute(method: string | undefined, target: string | undefined): DeviceRoute | undefined {
  if (method === undefined || target === undefined) return undefined;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  // A query string is never part of the MDM protocol; refuse rather than ignore.
  if (q !== -1) return undefined;
  return byKey.get(`${method} ${path}`);
}
