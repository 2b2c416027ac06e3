// Enrollment wired once for the core: its tables, the RA, the services and
// the IPC link. serve.ts and the tests build it the same way.
import type { AuditLookup, AuditRecorder } from '../audit/types.ts';
import { createEnrollLink, type EnrollLink } from '../core/enroll-link.ts';
import type { CaMaterial } from '../pki/authority.ts';
import type { Sealer } from '../services/checkin.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { JsonValue } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';
import { createCaService, type CaService } from './ca-admin.ts';
import { openLivePki, type LivePki } from './live-pki.ts';
import { createRevocationService, type RevocationService } from './revocation.ts';
import { createDeviceEnrollmentService, type DeviceEnrollmentService } from './device-enrollment.ts';
import { createInvitationService, type InvitationReferences, type InvitationService } from './invitations.ts';
import { createEnrollmentStore, enrollMigrations, type EnrollmentStore } from './store.ts';

export interface Enrollment {
  store: EnrollmentStore;
  invitations: InvitationService;
  device: DeviceEnrollmentService;
  ca: CaService;
  link: EnrollLink;
  /** The issuing CA, RA and trust set in use; swapped on rotation or import (listeners: verifiers, gateway). */
  pki: LivePki;
  /** Revoked identities and the CRLs (served by the gateway over IPC). */
  revocation: RevocationService;
}

export async function setupEnrollment(d: {
  opened: OpenedStorage;
  /** The issuing CA at start (with its chain when it is an intermediate). */
  ca: CaMaterial & { chain?: Uint8Array[] };
  sealer: Sealer;
  audit: AuditRecorder;
  lookup: AuditLookup;
  now: () => Date;
  /** Public base URL of the device plane (known once the gateway listens). */
  baseUrl: () => string;
  topic: () => string;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  rejections?: { allow(key: string): boolean };
  /** Four-eyes gate for CA rotation (src/authz). */
  gate?: ApprovalGuard;
  /** Lookups for the staff and group an invitation names (filled in once those modules are open). */
  references?: InvitationReferences;
  organization?: string;
  challengeTtlMinutes?: number;
  identityValidityDays?: number;
}): Promise<Enrollment> {
  await d.opened.migrateModule('rampart_enroll_migration', enrollMigrations(d.opened.backend));
  const settings = d.opened.storage.settings;
  const store = createEnrollmentStore(d.opened.db);
  const { live, raCreated } = await openLivePki({ settings, sealer: d.sealer, now: d.now }, d.ca);
  if (raCreated) {
    await d.audit.record({ action: 'ca.ra.create', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: { type: 'ca', id: 'scep-ra' } });
  }
  const revocation = createRevocationService({
    certificates: d.opened.storage.certificates, store, settings, sealer: d.sealer, audit: d.audit, live, now: d.now, baseUrl: d.baseUrl, log: d.log,
  });
  // The revoked set and any CRL that is due (also a periodic job in serve.ts).
  await revocation.maintain();
  const device = createDeviceEnrollmentService({
    store,
    certificates: d.opened.storage.certificates,
    audit: d.audit,
    lookup: d.lookup,
    pki: () => live.current(),
    baseUrl: d.baseUrl,
    topic: d.topic,
    now: d.now,
    organization: d.organization ?? 'Rampart',
    identifier: 'org.rampart.enrollment',
    challengeTtlMinutes: d.challengeTtlMinutes ?? 60,
    identityValidityDays: d.identityValidityDays ?? 365,
    ...(d.rejections ? { rejections: d.rejections } : {}),
    log: d.log,
    revocation,
    erasedSinceEnrollment: async (deviceId) => {
      const device = await d.opened.storage.devices.get(deviceId);
      if (!device?.enrolledAt) return false;
      const entries = await d.opened.storage.queue.entriesForDevice(deviceId, { limit: 500 });
      return entries.some((e) => e.requestType === 'EraseDevice' && e.deliveries > 0 && e.lastDeliveredAt !== null && e.lastDeliveredAt > device.enrolledAt!);
    },
  });
  return {
    store,
    invitations: createInvitationService({ store, audit: d.audit, now: d.now, baseUrl: d.baseUrl, ...(d.references ? { references: d.references } : {}) }),
    device,
    ca: createCaService({ settings, sealer: d.sealer, audit: d.audit, now: d.now, live, ...(d.gate ? { gate: d.gate } : {}) }),
    link: createEnrollLink({ enrollment: device, crl: (id) => revocation.crl(id), log: d.log }),
    pki: live,
    revocation,
  };
}

/** The approved "ca.rotate" runs once, as the requester, with the approved validity; "ca.import" activates the staged CA it names. */
export function registerEnrollmentExecutors(gate: { register(action: string, run: (p: { [k: string]: JsonValue }, ctx: { actor: Actor }) => Promise<JsonValue>): void }, enrollment: Pick<Enrollment, 'ca'>): void {
  gate.register('ca.rotate', async (p, ctx) => {
    const r = await enrollment.ca.rotate(ctx.actor, typeof p.validityDays === 'number' ? { validityDays: p.validityDays } : {});
    return { sha256: r.current.sha256 };
  });
  gate.register('ca.import', async (p, ctx) => {
    const r = await enrollment.ca.activateImport(ctx.actor, typeof p.sha256 === 'string' ? p.sha256 : '');
    return { sha256: r.current.sha256 };
  });
}
