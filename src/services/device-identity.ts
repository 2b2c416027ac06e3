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

/**
 * Lets a device switch to a new identity certificate that the enrollment
 * service issued for it (src/enroll): a renewal (RenewalReq signed by the
 * device's current identity) on any request, or a re-enrollment of an erased
 * device (same UDID, identity from a new invitation) at Authenticate.
 */
export interface IdentityRebinder {
  mayRebind(deviceId: string, certSha256: string): Promise<'renewal' | 're-enrollment' | undefined>;
  /** Puts the switch to a renewed identity on record (once, across retries). */
  recordRenewed(deviceId: string, certSha256: string, previousCertSha256: string | null, ctx: Pick<RequestContext, 'source' | 'requestId'>): Promise<void>;
  /** A device authenticated with this identity (identities it replaces are revoked as superseded). */
  bound(deviceId: string, certSha256: string, ctx?: Pick<RequestContext, 'source' | 'requestId'>): Promise<void>;
  /** A device checked out (its identities are revoked). */
  checkedOut?(deviceId: string, ctx: Pick<RequestContext, 'source' | 'requestId'>): Promise<void>;
}

export async function requireBoundDevice(
  deps: { devices: DeviceStore; audit: AuditRecorder; identities?: IdentityRebinder | undefined },
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
  if (device.identityCertSha256 !== ctx.certSha256) {
    if (device.status === 'checked_out' || !deps.identities || (await deps.identities.mayRebind(deviceId, ctx.certSha256)) !== 'renewal') {
      return deny('identity_mismatch');
    }
    // A renewed identity: on record first, then bound.
    await deps.identities.recordRenewed(deviceId, ctx.certSha256, device.identityCertSha256, ctx);
    const at = new Date().toISOString();
    await deps.devices.update(deviceId, { identityCertSha256: ctx.certSha256 }, at);
    await deps.identities.bound(deviceId, ctx.certSha256, ctx);
    device.identityCertSha256 = ctx.certSha256;
  }
  if (device.status === 'checked_out') return deny('checked_out');
  if (device.status === 'authenticated' && !opts.allowAuthenticated) return deny('not_enrolled');
  return device;
}
