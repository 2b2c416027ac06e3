// Thrown by the approval gate when an action waits for a second
// administrator; the admin server answers it with 202 and the approval.
import type { ApprovalView } from './views.ts';

export class ApprovalPending extends Error {
  readonly approval: ApprovalView;
  constructor(approval: ApprovalView) {
    super('approval required');
    this.name = 'ApprovalPending';
    this.approval = approval;
  }
}

export function isApprovalPending(e: unknown): e is ApprovalPending {
  return e instanceof ApprovalPending;
}
