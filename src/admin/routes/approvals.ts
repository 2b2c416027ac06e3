// Four-eyes approval routes.
import { Type } from 'typebox';
import { AUTHENTICATED, defineRoute } from '../types.ts';
import { LimitString } from '../schemas.ts';
import { ApprovalId, ApprovalView, DenyBody } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;
const Params = Type.Object({ id: ApprovalId }, closed);
const StoredStatus = Type.Union(['pending', 'executing', 'executed', 'failed', 'denied', 'interrupted'].map((s) => Type.Literal(s)));

export const listApprovalsRoute = defineRoute({
  id: 'listApprovals',
  method: 'GET',
  url: '/api/v1/approvals',
  summary: 'Approvals, newest first: all with approvals.decide, otherwise the caller\'s own requests',
  tags: ['approvals'],
  permission: AUTHENTICATED,
  servicePermissions: ['approvals.decide (to see other administrators\' requests)'],
  schema: {
    querystring: Type.Object({ status: Type.Optional(StoredStatus), limit: Type.Optional(LimitString) }, closed),
    response: { 200: Type.Object({ items: Type.Array(ApprovalView) }, closed) },
  },
  async handler({ actor, query, services }) {
    const q: { status?: 'pending' | 'executing' | 'executed' | 'failed' | 'denied' | 'interrupted'; limit: number } = { limit: query.limit !== undefined ? Number(query.limit) : 100 };
    if (query.status !== undefined) q.status = query.status as NonNullable<typeof q.status>;
    return { status: 200, body: { items: await services.authz.approvals.list(actor!, q) } };
  },
});

export const getApprovalRoute = defineRoute({
  id: 'getApproval',
  method: 'GET',
  url: '/api/v1/approvals/:id',
  summary: 'One approval with its parameters and their hash',
  tags: ['approvals'],
  permission: AUTHENTICATED,
  servicePermissions: ['approvals.decide (for other administrators\' requests)'],
  schema: { params: Params, response: { 200: ApprovalView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.approvals.get(actor!, params.id) };
  },
});

export const approveRoute = defineRoute({
  id: 'approveApproval',
  method: 'POST',
  url: '/api/v1/approvals/:id/approve',
  summary: 'Approve (not one\'s own request); the action runs once, now, with the approved parameters',
  tags: ['approvals'],
  permission: 'approvals.decide',
  servicePermissions: ['the permission the action names (e.g. commands.send.erase)'],
  audit: 'approval.approve',
  schema: { params: Params, response: { 200: ApprovalView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.approvals.approve(actor!, params.id) };
  },
});

export const denyRoute = defineRoute({
  id: 'denyApproval',
  method: 'POST',
  url: '/api/v1/approvals/:id/deny',
  summary: 'Deny a pending approval',
  tags: ['approvals'],
  permission: 'approvals.decide',
  audit: 'approval.deny',
  schema: { params: Params, body: DenyBody, response: { 200: ApprovalView } },
  async handler({ actor, params, body, services }) {
    return { status: 200, body: await services.authz.approvals.deny(actor!, params.id, body.reason) };
  },
});
