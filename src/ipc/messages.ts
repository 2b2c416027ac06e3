// Messages between the device gateway (untrusted, sandboxed) and the core.
// JSON over Node's IPC channel; binary values are base64. Both sides validate
// what they receive against these schemas; the core additionally re-derives
// everything security-relevant from the raw body (see src/core/gateway-link.ts).
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

const Base64 = (maxLength: number) => Type.String({ maxLength, pattern: '^[A-Za-z0-9+/]*={0,2}$' });

/** What a device request arrived at. */
export const DeviceEndpoint = Type.Union([Type.Literal('checkin'), Type.Literal('connect'), Type.Literal('mdm')]);
export type DeviceEndpoint = Static<typeof DeviceEndpoint>;

export const DeviceIdentityProof = Type.Union([
  Type.Object({ kind: Type.Literal('signature'), signature: Base64(64 * 1024) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('client-cert'), certDer: Base64(64 * 1024) }, { additionalProperties: false }),
]);
export type DeviceIdentityProof = Static<typeof DeviceIdentityProof>;

/** An MDM check-in or connect request the gateway parsed and verified. */
export const MdmRequest = Type.Object(
  {
    t: Type.Literal('mdm'),
    id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    endpoint: DeviceEndpoint,
    requestId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    source: Type.String({ maxLength: 64 }),
    /** Raw request body, base64; the core verifies the signature over these bytes. */
    body: Base64(16 * 1024 * 1024),
    identity: DeviceIdentityProof,
    /** The gateway's parse of the body (JSON form); the core compares it with its own. */
    message: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type MdmRequest = Static<typeof MdmRequest>;

/** An enrollment request (SCEP operation or profile download), checked for size and shape only. */
export const EnrollRequest = Type.Object(
  {
    t: Type.Literal('enroll'),
    id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    requestId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    source: Type.String({ maxLength: 64 }),
    op: Type.Union([Type.Literal('GetCACaps'), Type.Literal('GetCACert'), Type.Literal('PKIOperation'), Type.Literal('profile'), Type.Literal('crl')]),
    /** PKIOperation: the DER pkiMessage, base64 (at most 64 KiB decoded). */
    body: Type.Optional(Base64(Math.ceil((64 * 1024) / 3) * 4)),
    /** profile: the invitation token. */
    token: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    /** crl: the CA's id (first 128 bits of its certificate's SHA-256, hex). */
    caId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
  },
  { additionalProperties: false },
);
export type EnrollRequest = Static<typeof EnrollRequest>;

/** A request the gateway refused before it reached the core: for the audit log and detection. */
export const Rejection = Type.Object(
  {
    t: Type.Literal('rejected'),
    endpoint: Type.String({ maxLength: 32 }),
    reason: Type.String({ maxLength: 64, pattern: '^[a-z_]+$' }),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    source: Type.String({ maxLength: 64 }),
    requestId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
  },
  { additionalProperties: false },
);
export type Rejection = Static<typeof Rejection>;

export const Ready = Type.Object(
  { t: Type.Literal('ready'), port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);
export type Ready = Static<typeof Ready>;

export const GatewayMessage = Type.Union([MdmRequest, EnrollRequest, Rejection, Ready]);
export type GatewayMessage = Static<typeof GatewayMessage>;

/** Core → gateway: configuration at start (public material and the TLS key only). */
export interface InitMessage {
  t: 'init';
  listen: { host: string; port: number };
  tls: { certPem: string; keyPem: string };
  /** Enrollment CA certificates (DER, base64) that device identities must chain to. */
  trustAnchors: string[];
  /** Intermediate enrollment CAs (DER, base64) that chain to a trust anchor. */
  intermediates: string[];
  limits: { maxBodyBytes: number; maxPlistDepth: number };
  proxy: { clientCertHeader: string | null; trusted: string[] };
  /** Milliseconds the gateway waits for the core before answering 503. */
  coreTimeoutMs: number;
}

/** Core → gateway: the HTTP answer for one request. */
export interface ResponseMessage {
  t: 'response';
  id: number;
  status: number;
  contentType?: string;
  /** base64 */
  body?: string;
}

/** Core → gateway: the enrollment CA changed (rotation, import): the new trust set, public certificates only. */
export interface TrustMessage {
  t: 'trust';
  trustAnchors: string[];
  intermediates: string[];
}

export type CoreMessage = InitMessage | ResponseMessage | TrustMessage;

const MAX_TRUST_CERTS = 64;
const BASE64_CERT = /^[A-Za-z0-9+/]{4,87380}={0,2}$/;

/** The gateway's check of a trust update (the core is trusted, but a malformed set must not take the verifier down). */
export function parseTrustLists(m: { trustAnchors?: unknown; intermediates?: unknown }): { anchors: Uint8Array[]; intermediates: Uint8Array[] } | undefined {
  const list = (v: unknown): Uint8Array[] | undefined => {
    if (!Array.isArray(v) || v.length > MAX_TRUST_CERTS) return undefined;
    if (!v.every((x) => typeof x === 'string' && BASE64_CERT.test(x))) return undefined;
    return v.map((x: string) => new Uint8Array(Buffer.from(x, 'base64')));
  };
  const anchors = list(m.trustAnchors);
  const intermediates = list(m.intermediates ?? []);
  if (!anchors || anchors.length === 0 || !intermediates) return undefined;
  return { anchors, intermediates };
}

const gatewayMessageCheck = Compile(GatewayMessage);

/** Validates a message from the gateway; undefined when it does not fit. */
export function parseGatewayMessage(value: unknown): GatewayMessage | undefined {
  return gatewayMessageCheck.Check(value) ? (value as GatewayMessage) : undefined;
}
