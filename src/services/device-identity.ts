// Every device request after Authenticate must be signed with the identity
// certificate bound to that device at Authenticate. A mismatch is refused and
// put on record (it is what a stolen or forged identity looks like).
import type { AuditEvent, AuditRecorder } from '../audit/types.ts';
import { unauthorized } from '../lib/errors.ts';
import type { Device, DeviceStore } from '../storage/types.ts';

export interface RequestContext {
  /** SHA-256 hex of the certificate that signed (or presented) the request. */
  certSha256: string;
  source: string;
  requestId: string;
}

export interface MdmReply {
  status: number;
  body?: Uint8Array;
  contentType?: string;
}

export const EMPTY_OK: MdmReply = Object.freeze({ status: 200 });

/** An event a device caused about itself (enrollment, check-out, a refused identity, ...). */
export function deviceEvent(
  deviceId: string,
  ctx: Pick<RequestContext, 'source' | 'requestId'>,
  action: string,
  outcome: AuditEvent['outcome'] = 'success',
  details?: AuditEvent['details'],
): AuditEvent {
  const e: AuditEvent = {
    action,
    actor: { type: 'device', id: deviceId },
    source: ctx.source,
    requestId: ctx.requestId,
    target: { type: 'device', id: deviceId },
    outcome,
  };
  if (details) e.details = details;
  return e;
}

export async function requireBoundDevice(
  deps: { devices: DeviceStore; audit: AuditRecorder },
  deviceId: string,
  ctx: RequestContext,
  action: string,
  opts: { allowAuthenticated: boolean },
): Promise<Device> {
  const device = await deps.devices.get(deviceId);
  const deny = async (reason: string): Promise<never> => {
    await deps.audit.record(deviceEvent(deviceId, ctx, action, 'denied', { reason, certSha256: ctx.certSha256 }));
    throw unauthorized('unauthorized', `${action}: ${reason}`);
  };
  if (!device) return deny('unknown_device');
  if (device.identityCertSha256 !== ctx.certSha256) return deny('identity_mismatch');
  if (device.status === 'checked_out') return deny('checked_out');
  if (device.status === 'authenticated' && !opts.allowAuthenticated) return deny('not_enrolled');
  return device;
}
