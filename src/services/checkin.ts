// Check-in messages (PUT /mdm/checkin): the device's enrollment lifecycle.
import type { AuditLookup, AuditRecorder } from '../audit/types.ts';
import { buildPlist } from '../protocol/plist/index.ts';
import { RampartError, badRequest } from '../lib/errors.ts';
import type { DevicePatch, DeviceStore } from '../storage/types.ts';
import { EMPTY_OK, deviceEvent, requireBoundDevice, type IdentityRebinder, type MdmReply, type RequestContext } from './device-identity.ts';

export interface Sealer {
  seal(plaintext: Uint8Array, aad: string): Uint8Array;
  open(sealed: Uint8Array, aad: string): Uint8Array;
}

export type CheckinInput =
  | {
      type: 'Authenticate';
      deviceId: string;
      topic: string;
      serialNumber?: string;
      model?: string;
      modelName?: string;
      productName?: string;
      osVersion?: string;
      buildVersion?: string;
      deviceName?: string;
      imei?: string;
      meid?: string;
    }
  | {
      type: 'TokenUpdate';
      deviceId: string;
      topic: string;
      token: Uint8Array;
      pushMagic: string;
      unlockToken?: Uint8Array;
      awaitingConfiguration?: boolean;
    }
  | { type: 'CheckOut'; deviceId: string }
  | { type: 'UserAuthenticate'; deviceId: string }
  | { type: 'SetBootstrapToken'; deviceId: string; bootstrapToken?: Uint8Array }
  | { type: 'GetBootstrapToken'; deviceId: string }
  | { type: 'DeclarativeManagement'; deviceId: string }
  | { type: 'GetToken'; deviceId: string };

export interface CheckinServiceDeps {
  devices: DeviceStore;
  audit: AuditRecorder;
  lookup: AuditLookup;
  sealer: Sealer;
  now: () => Date;
  /** The push topic of this server's APNs certificate; a mismatch is refused when set. */
  topic?: () => string | undefined;
  /** Enrollment's say on identity changes (renewal, re-enrollment); absent = never. */
  identities?: IdentityRebinder;
}

export const unlockTokenAad = (deviceId: string): string => `unlock-token:${deviceId}`;
export const bootstrapTokenAad = (deviceId: string): string => `bootstrap-token:${deviceId}`;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function createCheckinService(deps: CheckinServiceDeps) {
  const { devices, audit, sealer } = deps;
  const boundDeps = { devices, audit, identities: deps.identities };
  const iso = (): string => deps.now().toISOString();

  function checkTopic(topic: string): void {
    const expected = deps.topic?.();
    if (expected !== undefined && topic !== expected) throw badRequest('topic mismatch');
  }

  async function authenticate(m: Extract<CheckinInput, { type: 'Authenticate' }>, ctx: RequestContext): Promise<MdmReply> {
    checkTopic(m.topic);
    const now = iso();
    const inventory: DevicePatch = {
      serialNumber: m.serialNumber ?? null,
      model: m.model ?? null,
      modelName: m.modelName ?? null,
      productName: m.productName ?? null,
      osVersion: m.osVersion ?? null,
      buildVersion: m.buildVersion ?? null,
      deviceName: m.deviceName ?? null,
      imei: m.imei ?? null,
      meid: m.meid ?? null,
    };
    const existing = await devices.get(m.deviceId);
    const record = (outcome: 'success' | 'denied', details: Record<string, string>): Promise<void> =>
      audit.record(deviceEvent(m.deviceId, ctx, 'device.authenticate', outcome, { certSha256: ctx.certSha256, ...details }));
    if (!existing) {
      // On record before the state change: a crash in between loses no entry.
      await record('success', { enrollment: 'new' });
      try {
        await devices.create(
          m.deviceId,
          { ...inventory, status: 'authenticated', topic: m.topic, identityCertSha256: ctx.certSha256, lastSeenAt: now },
          now,
        );
      } catch (e) {
        // Two Authenticates racing for the same new device: the loser is treated like a repeat.
        if (!(e instanceof RampartError && e.code === 'conflict')) throw e;
        return authenticate(m, ctx);
      }
      await deps.identities?.bound(m.deviceId, ctx.certSha256, ctx);
      return EMPTY_OK;
    }
    const sameIdentity = existing.identityCertSha256 === ctx.certSha256;
    // A device that checked out may enroll again with a new identity; an
    // enrolled device may switch certificates only to one that enrollment
    // issued for this purpose (a renewal, or a new invitation's identity for
    // an erased device coming back with the same UDID: same row, same history).
    const rebind = sameIdentity || existing.status === 'checked_out' ? undefined : await deps.identities?.mayRebind(m.deviceId, ctx.certSha256);
    if (!sameIdentity && existing.status !== 'checked_out' && rebind === undefined) {
      await record('denied', { reason: 'identity_mismatch', boundCertSha256: existing.identityCertSha256 ?? '' });
      throw new RampartError('unauthorized', 'unauthorized', 'authenticate with a different certificate for an enrolled device');
    }
    await record('success', { enrollment: sameIdentity ? 'repeat' : rebind ?? 're-enrollment' });
    await devices.update(
      m.deviceId,
      {
        ...inventory,
        status: (sameIdentity || rebind === 'renewal') && existing.status !== 'checked_out' ? existing.status : 'authenticated',
        topic: m.topic,
        identityCertSha256: ctx.certSha256,
        checkedOutAt: null,
        lastSeenAt: now,
      },
      now,
    );
    if (!sameIdentity) await deps.identities?.bound(m.deviceId, ctx.certSha256, ctx);
    return EMPTY_OK;
  }

  async function tokenUpdate(m: Extract<CheckinInput, { type: 'TokenUpdate' }>, ctx: RequestContext): Promise<MdmReply> {
    checkTopic(m.topic);
    const device = await requireBoundDevice(boundDeps, m.deviceId, ctx, 'device.token_update', { allowAuthenticated: true });
    const now = iso();
    const first = device.status === 'authenticated';
    const patch: DevicePatch = {
      status: 'enrolled',
      topic: m.topic,
      pushToken: hex(m.token),
      pushMagic: m.pushMagic,
      lastSeenAt: now,
    };
    if (m.unlockToken) patch.unlockTokenSealed = sealer.seal(m.unlockToken, unlockTokenAad(m.deviceId));
    if (first) patch.enrolledAt = now;
    const event = deviceEvent(m.deviceId, ctx, first ? 'device.enroll' : 'device.token_update', 'success', { unlockToken: m.unlockToken !== undefined });
    // Recorded before the state change; after a crash between the two, the
    // device's retry finds the entry (written since this enrollment's
    // Authenticate) rather than writing a second one.
    if (first && !(await deps.lookup.has({ action: 'device.enroll', actorId: m.deviceId, targetId: m.deviceId, from: device.updatedAt, outcome: 'success' }))) {
      await audit.record(event);
    } else if (!first && device.pushToken !== patch.pushToken) {
      await audit.record(event);
    }
    await devices.update(m.deviceId, patch, now);
    return EMPTY_OK;
  }

  async function checkOut(m: Extract<CheckinInput, { type: 'CheckOut' }>, ctx: RequestContext): Promise<MdmReply> {
    const device = await requireBoundDevice(boundDeps, m.deviceId, ctx, 'device.checkout', { allowAuthenticated: true });
    const now = iso();
    // On record before the state change; a retry after a crash in between finds it.
    const since = device.enrolledAt ?? device.createdAt;
    if (!(await deps.lookup.has({ action: 'device.checkout', actorId: m.deviceId, targetId: m.deviceId, from: since, outcome: 'success' }))) {
      await audit.record(deviceEvent(m.deviceId, ctx, 'device.checkout'));
    }
    await devices.update(m.deviceId, { status: 'checked_out', checkedOutAt: now, pushToken: null, pushMagic: null, lastSeenAt: now }, now);
    await deps.identities?.checkedOut?.(m.deviceId, ctx);
    return EMPTY_OK;
  }

  async function setBootstrapToken(m: Extract<CheckinInput, { type: 'SetBootstrapToken' }>, ctx: RequestContext): Promise<MdmReply> {
    await requireBoundDevice(boundDeps, m.deviceId, ctx, 'device.bootstrap_token.set', { allowAuthenticated: false });
    const now = iso();
    const sealed = m.bootstrapToken && m.bootstrapToken.length > 0 ? sealer.seal(m.bootstrapToken, bootstrapTokenAad(m.deviceId)) : null;
    await audit.record(deviceEvent(m.deviceId, ctx, 'device.bootstrap_token.set', 'success', { cleared: sealed === null }));
    await devices.update(m.deviceId, { bootstrapTokenSealed: sealed, lastSeenAt: now }, now);
    return EMPTY_OK;
  }

  async function getBootstrapToken(m: Extract<CheckinInput, { type: 'GetBootstrapToken' }>, ctx: RequestContext): Promise<MdmReply> {
    const device = await requireBoundDevice(boundDeps, m.deviceId, ctx, 'device.bootstrap_token.get', { allowAuthenticated: false });
    const token = device.bootstrapTokenSealed ? sealer.open(device.bootstrapTokenSealed, bootstrapTokenAad(m.deviceId)) : undefined;
    await audit.record(deviceEvent(m.deviceId, ctx, 'device.bootstrap_token.get', 'success', { present: token !== undefined }));
    return {
      status: 200,
      contentType: 'application/xml',
      body: buildPlist(token ? { BootstrapToken: token } : {}),
    };
  }

  return {
    async handle(m: CheckinInput, ctx: RequestContext): Promise<MdmReply> {
      switch (m.type) {
        case 'Authenticate':
          return authenticate(m, ctx);
        case 'TokenUpdate':
          return tokenUpdate(m, ctx);
        case 'CheckOut':
          return checkOut(m, ctx);
        case 'SetBootstrapToken':
          return setBootstrapToken(m, ctx);
        case 'GetBootstrapToken':
          return getBootstrapToken(m, ctx);
        case 'UserAuthenticate':
          // No user channels yet: Apple documents 410 as "the server does not support user channels".
          await requireBoundDevice(boundDeps, m.deviceId, ctx, 'device.user_authenticate', { allowAuthenticated: false });
          return { status: 410, contentType: 'text/plain; charset=utf-8', body: Buffer.from('user channels are not supported\n') };
        case 'DeclarativeManagement':
        case 'GetToken':
          // Audit actions are lower-case dotted names: "device.DeclarativeManagement" would be refused by the log.
          await requireBoundDevice(boundDeps, m.deviceId, ctx, m.type === 'GetToken' ? 'device.get_token' : 'device.declarative_management', {
            allowAuthenticated: false,
          });
          return { status: 501, contentType: 'text/plain; charset=utf-8', body: Buffer.from(`${m.type} is not supported by this server\n`) };
      }
    },
  };
}

export type CheckinService = ReturnType<typeof createCheckinService>;
