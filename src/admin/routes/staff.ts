// Staff directory routes: masked reads, recorded reveals, writes, lookups by
// blind index (POST bodies, so personal data never sits in a URL), and the
// access accounting query. The directory service checks every permission
// again and records every response that carries personal data.
import { ApprovalView } from './authz-schemas.ts';
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import type { AdminServices } from '../types.ts';
import { IsoTimeString, LimitString, Nullable } from '../schemas.ts';
import { RampartError } from '../../lib/errors.ts';
import { DIRECTORY_PERMISSIONS as P, REVEAL_REASONS, TICKET_PATTERN } from '../../directory/permissions.ts';
import { INVITATION_ID_PATTERN } from '../../directory/validate.ts';
import type { StaffDirectory, StaffQuery } from '../../directory/staff.ts';
import { importStaffCsv } from '../../directory/import.ts';
import { DEVICE_ID_PATTERN } from '../../services/devices.ts';

const closed = { additionalProperties: false } as const;
const StaffId = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' });
const Principal = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' });
const Text = Type.String({ maxLength: 256 });
const StaffStatus = Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('deleted')]);

/** A CSV export sealed to the recipient key (base64 of the sealed file). */
const SealedExport = Type.Object({ file: Type.String(), rows: Type.Integer(), recipient: Type.String() }, closed);

export const StaffViewSchema = Type.Object(
  {
    id: Type.String(),
    externalId: Nullable(Type.String()),
    status: StaffStatus,
    userName: Type.String(),
    displayName: Nullable(Type.String()),
    givenName: Nullable(Type.String()),
    familyName: Nullable(Type.String()),
    email: Nullable(Type.String()),
    phones: Type.Array(Type.String()),
    department: Nullable(Type.String()),
    employeeNumber: Nullable(Type.String()),
    deviceIds: Type.Array(Type.String()),
    invitationIds: Type.Array(Type.String()),
    version: Type.Integer(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    masked: Type.Boolean(),
  },
  closed,
);

const StaffBody = Type.Object(
  {
    userName: Text,
    externalId: Type.Optional(Nullable(Text)),
    displayName: Type.Optional(Nullable(Text)),
    givenName: Type.Optional(Nullable(Text)),
    familyName: Type.Optional(Nullable(Text)),
    email: Type.Optional(Nullable(Text)),
    phones: Type.Optional(Type.Array(Type.String({ maxLength: 40 }), { maxItems: 5 })),
    department: Type.Optional(Nullable(Text)),
    employeeNumber: Type.Optional(Nullable(Text)),
    active: Type.Optional(Type.Boolean()),
    deviceIds: Type.Optional(Type.Array(Type.String({ pattern: DEVICE_ID_PATTERN, maxLength: 128 }), { maxItems: 50 })),
    invitationIds: Type.Optional(Type.Array(Type.String({ pattern: INVITATION_ID_PATTERN, maxLength: 128 }), { maxItems: 50 })),
  },
  closed,
);

const StaffPage = Type.Object({ items: Type.Array(StaffViewSchema), next: Type.Optional(Type.String()) }, closed);
const Params = Type.Object({ id: StaffId }, closed);

function directory(services: AdminServices): StaffDirectory {
  if (!services.directory) throw new RampartError('unavailable', 'staff directory unavailable');
  return services.directory;
}

export const listStaffRoute = defineRoute({
  id: 'listStaff',
  method: 'GET',
  url: '/api/v1/staff',
  summary: 'List staff, masked (recorded in the access log)',
  tags: ['staff'],
  permission: P.staffRead,
  schema: {
    querystring: Type.Object(
      { status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])), after: Type.Optional(StaffId), limit: Type.Optional(LimitString) },
      closed,
    ),
    response: { 200: StaffPage },
  },
  async handler({ actor, query, services }) {
    const q: StaffQuery = { limit: query.limit !== undefined ? Number(query.limit) : 100 };
    if (query.status !== undefined) q.status = query.status;
    if (query.after !== undefined) q.after = query.after;
    return { status: 200, body: await directory(services).list(actor!, q, 'admin') };
  },
});

export const searchStaffRoute = defineRoute({
  id: 'searchStaff',
  method: 'POST',
  url: '/api/v1/staff/search',
  summary: 'Exact-match lookup by e-mail, phone, employee number or user name (blind index), masked',
  tags: ['staff'],
  permission: P.staffRead,
  audit: 'staff.read',
  schema: {
    body: Type.Object(
      {
        email: Type.Optional(Text),
        phone: Type.Optional(Type.String({ maxLength: 40 })),
        employeeNumber: Type.Optional(Text),
        userName: Type.Optional(Text),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      },
      { ...closed, minProperties: 1 },
    ),
    response: { 200: StaffPage },
  },
  async handler({ actor, body, services }) {
    const q: StaffQuery = { limit: body.limit ?? 100 };
    if (body.email !== undefined) q.email = body.email;
    if (body.phone !== undefined) q.phone = body.phone;
    if (body.employeeNumber !== undefined) q.employeeNumber = body.employeeNumber;
    if (body.userName !== undefined) q.userName = body.userName;
    if (Object.keys(q).length === 1) throw new RampartError('bad_request', 'invalid request', 'no search field');
    return { status: 200, body: await directory(services).list(actor!, q, 'admin') };
  },
});

export const getStaffRoute = defineRoute({
  id: 'getStaff',
  method: 'GET',
  url: '/api/v1/staff/:id',
  summary: 'One staff member, masked (recorded in the access log)',
  tags: ['staff'],
  permission: P.staffRead,
  schema: { params: Params, response: { 200: StaffViewSchema } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await directory(services).get(actor!, params.id, 'admin') };
  },
});

export const revealStaffRoute = defineRoute({
  id: 'revealStaff',
  method: 'POST',
  url: '/api/v1/staff/:id/reveal',
  summary: 'One staff member in clear; needs pii.reveal and a reason code; recorded',
  tags: ['staff'],
  permission: P.piiReveal,
  audit: 'pii.reveal',
  schema: {
    params: Params,
    body: Type.Object(
      { reason: Type.Union(REVEAL_REASONS.map((r) => Type.Literal(r))), ticket: Type.Optional(Type.String({ pattern: TICKET_PATTERN })) },
      closed,
    ),
    response: { 200: StaffViewSchema },
  },
  async handler({ actor, params, body, services }) {
    const reason: { reason: string; ticket?: string } = { reason: body.reason };
    if (body.ticket !== undefined) reason.ticket = body.ticket;
    return { status: 200, body: await directory(services).reveal(actor!, params.id, reason) };
  },
});

export const createStaffRoute = defineRoute({
  id: 'createStaff',
  method: 'POST',
  url: '/api/v1/staff',
  summary: 'Create a staff member (answer masked)',
  tags: ['staff'],
  permission: P.staffWrite,
  audit: 'staff.create',
  schema: { body: StaffBody, response: { 201: StaffViewSchema } },
  async handler({ actor, body, services }) {
    return { status: 201, body: await directory(services).create(actor!, body, 'admin') };
  },
});

export const replaceStaffRoute = defineRoute({
  id: 'replaceStaff',
  method: 'POST',
  url: '/api/v1/staff/:id',
  summary: 'Replace a staff member (optimistic: version must match; answer masked)',
  tags: ['staff'],
  permission: P.staffWrite,
  audit: 'staff.update',
  schema: {
    params: Params,
    body: Type.Object({ version: Type.Integer({ minimum: 1 }), record: StaffBody }, closed),
    response: { 200: StaffViewSchema },
  },
  async handler({ actor, params, body, services }) {
    return { status: 200, body: await directory(services).replace(actor!, params.id, body.record, 'admin', body.version) };
  },
});

export const deleteStaffRoute = defineRoute({
  id: 'deleteStaff',
  method: 'DELETE',
  url: '/api/v1/staff/:id',
  summary: 'Delete a staff member (data key destroyed after the retention)',
  tags: ['staff'],
  permission: P.staffWrite,
  audit: 'staff.delete',
  schema: { params: Params, response: { 200: Type.Object({ deleted: Type.Boolean() }, closed) } },
  async handler({ actor, params, services }) {
    await directory(services).remove(actor!, params.id, 'admin');
    return { status: 200, body: { deleted: true } };
  },
});

export const piiAccessRoute = defineRoute({
  id: 'piiAccess',
  method: 'GET',
  url: '/api/v1/pii/access',
  summary: 'Access accounting: whom a principal saw (with counts), or who saw a person',
  tags: ['staff'],
  permission: P.piiAccessRead,
  schema: {
    querystring: Type.Object(
      {
        principal: Type.Optional(Principal),
        staffId: Type.Optional(StaffId),
        since: IsoTimeString,
        until: Type.Optional(IsoTimeString),
        after: Type.Optional(StaffId),
        limit: Type.Optional(LimitString),
      },
      closed,
    ),
    response: {
      200: Type.Object(
        {
          principal: Type.Optional(Type.String()),
          staffId: Type.Optional(Type.String()),
          since: Type.String(),
          until: Nullable(Type.String()),
          reads: Type.Optional(Type.Integer()),
          subjects: Type.Optional(Type.Integer()),
          revealedSubjects: Type.Optional(Type.Integer()),
          staffIds: Type.Optional(Type.Array(Type.String())),
          next: Type.Optional(Type.String()),
          principals: Type.Optional(Type.Array(Type.Object({ principal: Type.String(), reads: Type.Integer(), revealed: Type.Integer(), lastAt: Type.String() }, closed))),
        },
        closed,
      ),
    },
  },
  async handler({ actor, query, services }) {
    const since = new Date(query.since);
    const until = query.until !== undefined ? new Date(query.until) : undefined;
    const limit = query.limit !== undefined ? Number(query.limit) : 1000;
    if (Number.isNaN(since.getTime()) || (until && Number.isNaN(until.getTime()))) throw new RampartError('bad_request', 'invalid request', 'time');
    const d = directory(services);
    if ((query.principal === undefined) === (query.staffId === undefined)) throw new RampartError('bad_request', 'give exactly one of principal and staffId');
    const base = { since, limit, ...(until ? { until } : {}), ...(query.after !== undefined ? { after: query.after } : {}) };
    if (query.principal !== undefined) return { status: 200, body: await d.accessByPrincipal(actor!, { ...base, principal: query.principal }) };
    return { status: 200, body: await d.accessBySubject(actor!, { ...base, staffId: query.staffId as string }) };
  },
});

export const importStaffRoute = defineRoute({
  id: 'importStaff',
  method: 'POST',
  url: '/api/v1/staff/import',
  summary: 'Import staff from CSV: a report row by row; any invalid row means nothing is applied',
  tags: ['staff'],
  permission: P.staffWrite,
  audit: 'staff.import',
  schema: {
    body: Type.Object({ csv: Type.String({ maxLength: 1024 * 1024 }), dryRun: Type.Boolean() }, closed),
    response: {
      200: Type.Object(
        {
          dryRun: Type.Boolean(),
          applied: Type.Boolean(),
          counts: Type.Object({ created: Type.Integer(), updated: Type.Integer(), unchanged: Type.Integer(), invalid: Type.Integer() }, closed),
          rows: Type.Array(Type.Object({ row: Type.Integer(), outcome: Type.String(), id: Type.Optional(Type.String()), error: Type.Optional(Type.String()) }, closed)),
        },
        closed,
      ),
    },
  },
  async handler({ actor, body, services }) {
    return { status: 200, body: await importStaffCsv(directory(services), actor!, body.csv, { dryRun: body.dryRun }) };
  },
});

export const exportStaffRoute = defineRoute({
  id: 'exportStaff',
  method: 'POST',
  url: '/api/v1/staff/export',
  summary: 'Run the plaintext export job: every staff record as CSV sealed to a recipient X25519 key (pii.export, approval gate)',
  tags: ['staff'],
  permission: P.piiExport,
  audit: 'pii.export',
  approval: 'pii.export',
  schema: {
    body: Type.Object({ recipient: Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' }) }, closed),
    response: { 200: SealedExport, 202: ApprovalView },
  },
  async handler({ actor, body, services }) {
    if (!services.exportJob) throw new RampartError('unavailable', 'export unavailable');
    const r = await services.exportJob(actor!, body.recipient);
    return { status: 200, body: { file: Buffer.from(r.file).toString('base64'), rows: r.rows, recipient: r.recipient } };
  },
});

export const downloadStaffExportRoute = defineRoute({
  id: 'downloadStaffExport',
  method: 'GET',
  url: '/api/v1/staff/exports/:id',
  summary: 'Download, once, the sealed file of an approved staff export (only the administrator who asked for it)',
  tags: ['staff'],
  permission: P.piiExport,
  audit: 'pii.export.download',
  schema: {
    params: Type.Object({ id: Type.String({ pattern: '^pex_[0-9a-f]{32}$' }) }, closed),
    response: { 200: SealedExport },
  },
  async handler({ actor, params, services }) {
    if (!services.exportDownload) throw new RampartError('unavailable', 'export unavailable');
    const r = await services.exportDownload(actor!, params.id);
    return { status: 200, body: { file: Buffer.from(r.file).toString('base64'), rows: r.rows, recipient: r.recipient } };
  },
});

export const STAFF_ROUTES = [downloadStaffExportRoute, listStaffRoute, searchStaffRoute, getStaffRoute, revealStaffRoute, createStaffRoute, replaceStaffRoute, deleteStaffRoute, importStaffRoute, exportStaffRoute, piiAccessRoute];
