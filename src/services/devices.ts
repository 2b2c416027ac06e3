// Device listing and detail for administrators. Authorization is checked here,
// not only in routes: every call needs "devices.read".
import type { DeviceQuery, DeviceStore, Page } from '../storage/types.ts';
import type { AuditRecorder } from '../audit/types.ts';
import type { Actor, DeviceDetail, DeviceService, DeviceView } from './types.ts';
import { badRequest, notFound } from '../lib/errors.ts';
import { authorize, PERMISSIONS } from './command-policy.ts';
import { toDeviceDetail, toDeviceView } from './views.ts';
import type { DeviceScope } from '../authz/types.ts';

export interface DeviceServiceDeps {
  devices: Pick<DeviceStore, 'get' | 'list' | 'listApps'>;
  audit: AuditRecorder;
  /** Device-group limits of role assignments (src/authz/scope.ts). */
  scope?: DeviceScope;
}

export const MAX_PAGE = 1000;
/** Device ids (UDIDs, enrollment ids) as accepted from callers. */
export const DEVICE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const DEVICE_ID = new RegExp(DEVICE_ID_PATTERN);

export function isDeviceId(id: string): boolean {
  return DEVICE_ID.test(id);
}

export function createDeviceService(deps: DeviceServiceDeps): DeviceService {
  const { devices, audit, scope } = deps;

  return {
    async list(actor: Actor, q: DeviceQuery): Promise<Page<DeviceView>> {
      await authorize(audit, actor, PERMISSIONS.devicesRead, { action: 'device.list' });
      if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) throw badRequest('invalid limit');
      if (q.notSeenSince !== undefined && Number.isNaN(Date.parse(q.notSeenSince))) throw badRequest('invalid notSeenSince');
      const query: DeviceQuery = { limit: q.limit };
      if (q.status !== undefined) query.status = q.status;
      if (q.serialNumber !== undefined) query.serialNumber = q.serialNumber;
      if (q.model !== undefined) query.model = q.model;
      if (q.osVersion !== undefined) query.osVersion = q.osVersion;
      if (q.search !== undefined) query.search = q.search;
      if (q.notSeenSince !== undefined) query.notSeenSince = new Date(q.notSeenSince).toISOString();
      if (q.after !== undefined) query.after = q.after;
      const page = await devices.list(query);
      // Devices outside the actor's groups are left out (the page may come back short; `next` still continues).
      const visible = scope ? await scope.visible(actor, PERMISSIONS.devicesRead, page.items.map((d) => d.id)) : undefined;
      const out: Page<DeviceView> = { items: page.items.filter((d) => !visible || visible.has(d.id)).map(toDeviceView) };
      if (page.next !== undefined) out.next = page.next;
      return out;
    },

    async get(actor: Actor, id: string): Promise<DeviceDetail> {
      const valid = isDeviceId(id);
      await authorize(audit, actor, PERMISSIONS.devicesRead, {
        action: 'device.get',
        ...(valid ? { target: { type: 'device', id } } : {}),
      });
      if (!valid) throw notFound();
      if (scope) await scope.check(actor, PERMISSIONS.devicesRead, [id], 'device.get');
      const device = await devices.get(id);
      if (!device) throw notFound();
      const apps = await devices.listApps(id);
      return toDeviceDetail(device, apps);
    },
  };
}
