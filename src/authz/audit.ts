// Audit events for an actor (who, from where, which request).
import type { AuditEvent } from '../audit/types.ts';
import type { Actor } from '../services/types.ts';

export function actorEvent(actor: Actor, e: Omit<AuditEvent, 'actor' | 'source' | 'requestId'>): AuditEvent {
  const details = { ...(e.details ?? {}) };
  if (actor.authz && actor.authz.principalId !== actor.id) details.principal = actor.authz.principalId;
  if (actor.authz?.approvalId !== undefined) details.approval = actor.authz.approvalId;
  return {
    ...e,
    actor: { type: actor.type, id: actor.id },
    ...(actor.source !== undefined ? { source: actor.source } : {}),
    ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
}
