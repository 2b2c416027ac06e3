// What administrators see of approvals.
import type { JsonValue } from '../audit/types.ts';
import type { ApprovalRecord, ApprovalStatus } from './store.ts';

export interface ApprovalView {
  id: string;
  action: string;
  summary: string;
  params: JsonValue;
  /** SHA-256 (hex) of the RFC 8785 canonical parameters; the same value is on record in the audit log. */
  paramsHash: string;
  units: number;
  target: { type: string; id: string } | null;
  status: ApprovalStatus | 'expired';
  requester: { type: string; id: string; principalId: string };
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  finishedAt: string | null;
  result: JsonValue;
}

export function toApprovalView(r: ApprovalRecord, now: Date): ApprovalView {
  const expired = r.status === 'pending' && Date.parse(r.expiresAt) <= now.getTime();
  return {
    id: r.id,
    action: r.action,
    summary: r.summary,
    params: JSON.parse(r.params) as JsonValue,
    paramsHash: r.paramsHash,
    units: r.units,
    target: r.target,
    status: expired ? 'expired' : r.status,
    requester: { type: r.requester.type, id: r.requester.id, principalId: r.requester.principalId },
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    decidedBy: r.decidedBy,
    decidedAt: r.decidedAt,
    reason: r.reason,
    finishedAt: r.finishedAt,
    result: r.result === null ? null : (JSON.parse(r.result) as JsonValue),
  };
}
