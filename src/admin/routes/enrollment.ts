// Enrollment invitations and the enrollment CA.
import { ApprovalView } from './authz-schemas.ts';
import { Type } from 'typebox';
import { defineRoute, type AdminServices } from '../types.ts';
import { RampartError } from '../../lib/errors.ts';
import { OPAQUE_ID_PATTERN, MAX_EXPIRY_HOURS } from '../../enroll/invitations.ts';
import type { Invitation } from '../../enroll/store.ts';
import type { CaImportInput } from '../../enroll/ca-admin.ts';
import { CA_NAME_PATTERN } from '../../pki/ca-import.ts';
import { REVOCATION_REASONS, SERIAL_PATTERN } from '../../enroll/revocation.ts';
import { DEVICE_ID_PATTERN } from '../../services/devices.ts';

const Reason = Type.Union(REVOCATION_REASONS.map((r) => Type.Literal(r)));
import { LimitString, Nullable } from '../schemas.ts';

const closed = { additionalProperties: false } as const;
const InvitationStatus = Type.Union([Type.Literal('open'), Type.Literal('downloaded'), Type.Literal('used'), Type.Literal('revoked')]);
const InvitationId = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const OpaqueId = Type.String({ pattern: OPAQUE_ID_PATTERN, maxLength: 128 });

export const InvitationView = Type.Object(
  {
    id: Type.String(),
    status: InvitationStatus,
    staffId: Nullable(Type.String()),
    groupId: Nullable(Type.String()),
    createdBy: Type.String(),
    createdAt: Type.String(),
    expiresAt: Type.String(),
    downloadedAt: Nullable(Type.String()),
    usedAt: Nullable(Type.String()),
    certSerial: Nullable(Type.String()),
    revokedAt: Nullable(Type.String()),
  },
  closed,
);

const CertView = Type.Object(
  { subject: Type.String(), serial: Type.String(), notBefore: Type.String(), notAfter: Type.String(), sha256: Type.String(), pem: Type.String() },
  closed,
);

function enrollment(services: AdminServices): NonNullable<AdminServices['enrollment']> {
  if (!services.enrollment) throw new RampartError('unavailable', 'enrollment unavailable');
  return services.enrollment;
}

function toView(i: Invitation) {
  return {
    id: i.id, status: i.status, staffId: i.staffId, groupId: i.groupId, createdBy: i.createdBy, createdAt: i.createdAt,
    expiresAt: i.expiresAt, downloadedAt: i.downloadedAt, usedAt: i.usedAt, certSerial: i.certSerial, revokedAt: i.revokedAt,
  };
}

export const createInvitationRoute = defineRoute({
  id: 'createInvitation',
  method: 'POST',
  url: '/api/v1/enrollment/invitations',
  summary: 'Create a one-time enrollment invitation (the URL and token are shown once)',
  tags: ['enrollment'],
  permission: 'enroll.invite',
  audit: 'enroll.invitation.create',
  schema: {
    body: Type.Object(
      {
        staffId: Type.Optional(OpaqueId),
        groupId: Type.Optional(OpaqueId),
        expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_HOURS })),
      },
      closed,
    ),
    response: { 201: Type.Object({ invitation: InvitationView, url: Type.String() }, closed) },
  },
  async handler({ actor, body, services }) {
    const input: { staffId?: string; groupId?: string; expiresInHours?: number } = {};
    if (body.staffId !== undefined) input.staffId = body.staffId;
    if (body.groupId !== undefined) input.groupId = body.groupId;
    if (body.expiresInHours !== undefined) input.expiresInHours = body.expiresInHours;
    const r = await enrollment(services).invitations.create(actor!, input);
    return { status: 201, body: { invitation: toView(r.invitation), url: r.url } };
  },
});

export const listInvitationsRoute = defineRoute({
  id: 'listInvitations',
  method: 'GET',
  url: '/api/v1/enrollment/invitations',
  summary: 'List enrollment invitations, newest first',
  tags: ['enrollment'],
  permission: 'enroll.invite',
  schema: {
    querystring: Type.Object({ status: Type.Optional(InvitationStatus), limit: Type.Optional(LimitString) }, closed),
    response: { 200: Type.Object({ items: Type.Array(InvitationView) }, closed) },
  },
  async handler({ actor, query, services }) {
    const items = await enrollment(services).invitations.list(actor!, {
      ...(query.status !== undefined ? { status: query.status } : {}),
      ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
    });
    return { status: 200, body: { items: items.map(toView) } };
  },
});

export const revokeInvitationRoute = defineRoute({
  id: 'revokeInvitation',
  method: 'DELETE',
  url: '/api/v1/enrollment/invitations/:id',
  summary: 'Revoke an invitation that has not been used',
  tags: ['enrollment'],
  permission: 'enroll.invite',
  audit: 'enroll.invitation.revoke',
  schema: { params: Type.Object({ id: InvitationId }, closed), response: { 200: InvitationView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: toView(await enrollment(services).invitations.revoke(actor!, params.id)) };
  },
});

export const showCaRoute = defineRoute({
  id: 'showCa',
  method: 'GET',
  url: '/api/v1/ca',
  summary: 'The enrollment CA, its SCEP RA, and rotated-out CAs still trusted',
  tags: ['ca'],
  permission: 'ca.read',
  schema: {
    response: {
      200: Type.Object(
        { current: CertView, chain: Type.Array(CertView), ra: CertView, previous: Type.Array(CertView), rotationPending: Type.Boolean(), csrPending: Type.Boolean() },
        closed,
      ),
    },
  },
  async handler({ actor, services }) {
    return { status: 200, body: await enrollment(services).ca.show(actor!) };
  },
});

export const rotateCaRoute = defineRoute({
  id: 'rotateCa',
  method: 'POST',
  url: '/api/v1/ca/rotate',
  summary: 'Create a new enrollment CA, in effect at once; the old one stays trusted for existing identities until they expire or renew',
  tags: ['ca'],
  permission: 'ca.manage',
  audit: 'ca.rotate',
  approval: 'ca.rotate',
  schema: {
    body: Type.Object({ validityDays: Type.Optional(Type.Integer({ minimum: 30, maximum: 7300 })) }, closed),
    // 202: the rotation waits for a second administrator (four-eyes).
    response: { 200: Type.Object({ current: CertView }, closed), 202: ApprovalView },
  },
  async handler({ actor, body, services }) {
    return { status: 200, body: await enrollment(services).ca.rotate(actor!, body.validityDays !== undefined ? { validityDays: body.validityDays } : {}) };
  },
});

const Pem = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '-----BEGIN [A-Z0-9 ]+-----' });

export const importCaRoute = defineRoute({
  id: 'importCa',
  method: 'POST',
  url: '/api/v1/ca/import',
  summary: 'Make an existing CA (certificate + key) or an intermediate signed from `ca csr` (certificate + chain) the enrollment CA, in effect at once',
  tags: ['ca'],
  permission: 'ca.manage',
  audit: 'ca.import',
  approval: 'ca.import',
  schema: {
    body: Type.Object(
      {
        certPem: Pem(64 * 1024),
        /** Without it, the key of the pending CSR (`POST /api/v1/ca/csr`) is used. */
        keyPem: Type.Optional(Pem(64 * 1024)),
        /** Certificates above the CA, issuer first, up to the root. */
        chainPem: Type.Optional(Pem(256 * 1024)),
      },
      closed,
    ),
    // 202: staged (key sealed), waiting for a second administrator (four-eyes).
    response: { 200: Type.Object({ current: CertView }, closed), 202: ApprovalView },
  },
  async handler({ actor, body, services }) {
    const input: CaImportInput = { certPem: body.certPem };
    if (body.keyPem !== undefined) input.keyPem = body.keyPem;
    if (body.chainPem !== undefined) input.chainPem = body.chainPem;
    return { status: 200, body: await enrollment(services).ca.importCa(actor!, input) };
  },
});

const NamePart = Type.String({ minLength: 1, maxLength: 64, pattern: CA_NAME_PATTERN });

export const createCaCsrRoute = defineRoute({
  id: 'createCaCsr',
  method: 'POST',
  url: '/api/v1/ca/csr',
  summary: 'Make a new CA key (sealed, never leaves the core) and a CSR for an external root to sign as an intermediate',
  tags: ['ca'],
  permission: 'ca.manage',
  audit: 'ca.csr',
  schema: {
    body: Type.Object({ commonName: Type.Optional(NamePart), organization: Type.Optional(NamePart) }, closed),
    response: { 201: Type.Object({ csrPem: Type.String(), publicKeySha256: Type.String() }, closed) },
  },
  async handler({ actor, body, services }) {
    const opts: { commonName?: string; organization?: string } = {};
    if (body.commonName !== undefined) opts.commonName = body.commonName;
    if (body.organization !== undefined) opts.organization = body.organization;
    return { status: 201, body: await enrollment(services).ca.createCsr(actor!, opts) };
  },
});

export const revokeCertificateRoute = defineRoute({
  id: 'revokeCertificate',
  method: 'POST',
  url: '/api/v1/ca/revoke',
  summary: 'Revoke a device identity certificate (by serial) or every identity of a device; the CRL is published again at once',
  tags: ['ca'],
  permission: 'ca.manage',
  audit: 'ca.certificate.revoke',
  schema: {
    body: Type.Union([
      Type.Object({ serial: Type.String({ pattern: SERIAL_PATTERN, maxLength: 40 }), reason: Type.Optional(Reason) }, closed),
      Type.Object({ deviceId: Type.String({ pattern: DEVICE_ID_PATTERN, maxLength: 128 }), reason: Type.Optional(Reason) }, closed),
    ]),
    response: { 200: Type.Object({ serials: Type.Array(Type.String()), alreadyRevoked: Type.Boolean() }, closed) },
  },
  async handler({ actor, body, services }) {
    const rev = enrollment(services).revocation;
    if (!rev) throw new RampartError('unavailable', 'revocation unavailable');
    if ('serial' in body) {
      const r = await rev.revokeSerial(actor!, body.serial, body.reason);
      return { status: 200, body: { serials: [r.serial], alreadyRevoked: r.alreadyRevoked } };
    }
    const r = await rev.revokeDevice(actor!, body.deviceId, body.reason);
    return { status: 200, body: { serials: r.serials, alreadyRevoked: false } };
  },
});
