// The core's half of the device plane, wired once: inventory, check-in and
// connect services behind the gateway link, with the core's own CMS verifier.
// serve.ts and the tests build it the same way.
import type { AuditLookup, AuditRecorder } from '../audit/types.ts';
import { createCmsVerifier, type CmsVerifier } from '../protocol/cms/verify.ts';
import { plistToJson } from '../protocol/commands/results.ts';
import { createCheckinService, type Sealer } from '../services/checkin.ts';
import { createConnectService } from '../services/connect.ts';
import { createInventoryService } from '../services/inventory.ts';
import type { Storage } from '../storage/types.ts';
import type { IdentityRebinder } from '../services/device-identity.ts';
import { createGatewayLink, type GatewayLink, type GatewayLinkDeps } from './gateway-link.ts';

export interface DevicePlaneDeps {
  storage: Pick<Storage, 'devices' | 'queue'>;
  audit: AuditRecorder;
  lookup: AuditLookup;
  sealer: Sealer;
  /** Enrollment CA certificates (DER) device identities must chain to (fixed; or see `trust`). */
  trustAnchors?: Uint8Array[];
  /** The live trust set (src/enroll/live-pki.ts): the verifier is rebuilt when its version changes. */
  trust?: () => { version: string; anchors: Uint8Array[]; intermediates: Uint8Array[] };
  limits: GatewayLinkDeps['limits'];
  log: GatewayLinkDeps['log'];
  now: () => Date;
  /** The push topic; Authenticate and TokenUpdate with another topic are refused. */
  topic: () => string | undefined;
  /** Enrollment's say on renewed and re-enrolled identities (src/enroll). */
  identities?: IdentityRebinder;
  /** Revoked identities are refused (src/enroll/revocation.ts). */
  revoked?: (certSha256: string) => boolean;
  rejections?: { allow(key: string): boolean };
  /** Serialises a device's result recording across nodes (src/cluster/device-lock.ts). */
  serialize?: <T>(deviceId: string, fn: () => Promise<T>) => Promise<T>;
  /** Request and result counters (src/core/metrics.ts). */
  metrics?: GatewayLinkDeps['metrics'];
}

export function createDevicePlane(d: DevicePlaneDeps): GatewayLink {
  const { devices, queue } = d.storage;
  const inventory = createInventoryService({ devices, now: d.now, toJson: plistToJson });
  const identities = d.identities ? { identities: d.identities } : {};
  const checkin = createCheckinService({ devices, audit: d.audit, lookup: d.lookup, sealer: d.sealer, now: d.now, topic: d.topic, ...identities });
  const connect = createConnectService({
    devices, queue, inventory, audit: d.audit, lookup: d.lookup, now: d.now, toJson: plistToJson, ...identities,
    ...(d.serialize ? { serialize: d.serialize } : {}),
  });
  const fixedVerifier = d.trustAnchors ? createCmsVerifier({ trustAnchors: d.trustAnchors }) : undefined;
  let live: { version: string; v: CmsVerifier } | undefined;
  const verifier = (): CmsVerifier => {
    if (!d.trust) {
      if (!fixedVerifier) throw new Error('no trust anchors');
      return fixedVerifier;
    }
    const t = d.trust();
    if (!live || live.version !== t.version) live = { version: t.version, v: createCmsVerifier({ trustAnchors: t.anchors, intermediates: t.intermediates }) };
    return live.v;
  };
  return createGatewayLink({
    verifier: {
      signature: (sig, body) => verifier().verifyDetached(sig, body, { now: d.now() }).certSha256,
      clientCertificate: (der) => verifier().verifyCertificate(der, { now: d.now() }).certSha256,
    },
    checkin,
    connect,
    audit: d.audit,
    ...(d.revoked ? { revoked: d.revoked } : {}),
    ...(d.rejections ? { rejections: d.rejections } : {}),
    limits: d.limits,
    log: d.log,
    ...(d.metrics ? { metrics: d.metrics } : {}),
  });
}
