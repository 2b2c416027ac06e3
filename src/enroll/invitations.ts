// Enrollment invitations, the administrator's side: create (a one-time URL
// with an unguessable token, of which only the SHA-256 is stored, and its QR
// code), list, revoke. Permission enroll.invite, checked here.
import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { badRequest, notFound } from '../lib/errors.ts';
import { authorize } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import type { EnrollmentStore, Invitation, InvitationStatus } from './store.ts';

export const ENROLL_INVITE = 'enroll.invite';
/** Token: 32 random bytes, base64url (43 characters). */
export const TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$';
export const OPAQUE_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';
const TOKEN_RE = new RegExp(TOKEN_PATTERN);
const OPAQUE_RE = new RegExp(OPAQUE_ID_PATTERN);
export const DEFAULT_EXPIRY_HOURS = 72;
export const MAX_EXPIRY_HOURS = 24 * 30;

export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex');
}

export function isToken(s: unknown): s is string {
  return typeof s === 'string' && TOKEN_RE.test(s);
}

export interface CreatedInvitation {
  invitation: Invitation;
  /** Shown once; only its hash is stored. */
  token: string;
  url: string;
}

export interface InvitationService {
  create(actor: Actor, input: { staffId?: string; groupId?: string; expiresInHours?: number }): Promise<CreatedInvitation>;
  list(actor: Actor, q: { status?: InvitationStatus; limit?: number }): Promise<Invitation[]>;
  revoke(actor: Actor, id: string): Promise<Invitation>;
}

/**
 * What an invitation may name: a staff record (src/directory) and a device
 * group (src/groups). Filled in once those modules are open; an invitation
 * naming one while its lookup is missing is refused.
 */
export interface InvitationReferences {
  staffExists?: (id: string) => Promise<boolean>;
  groupExists?: (id: string) => Promise<boolean>;
}

export function createInvitationService(deps: {
  store: EnrollmentStore;
  audit: AuditRecorder;
  now: () => Date;
  /** Public base URL of the device plane, e.g. https://mdm.example.org */
  baseUrl: () => string;
  references?: InvitationReferences;
}): InvitationService {
  const { store, audit } = deps;
  const who = (a: Actor) => ({
    actor: { type: a.type, id: a.id },
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.requestId !== undefined ? { requestId: a.requestId } : {}),
  });
  return {
    async create(actor, input) {
      await authorize(audit, actor, ENROLL_INVITE, { action: 'enroll.invitation.create' });
      const hours = input.expiresInHours ?? DEFAULT_EXPIRY_HOURS;
      if (!Number.isInteger(hours) || hours < 1 || hours > MAX_EXPIRY_HOURS) throw badRequest('invalid expiry');
      for (const v of [input.staffId, input.groupId]) if (v !== undefined && !OPAQUE_RE.test(v)) throw badRequest('invalid id');
      const refs = deps.references ?? {};
      const missing = input.staffId !== undefined && !(await (refs.staffExists?.(input.staffId) ?? false))
        ? 'staff'
        : input.groupId !== undefined && !(await (refs.groupExists?.(input.groupId) ?? false)) ? 'group' : undefined;
      if (missing) {
        await audit.record({
          ...who(actor),
          action: 'enroll.invitation.create',
          outcome: 'failure',
          details: { reason: missing === 'staff' ? 'unknown_staff' : 'unknown_group', staffId: input.staffId ?? null, groupId: input.groupId ?? null },
        });
        throw badRequest(missing === 'staff' ? 'unknown staff member' : 'unknown device group');
      }
      const now = deps.now();
      const token = randomBytes(32).toString('base64url');
      const id = randomUUID();
      // On record before the state change.
      await audit.record({
        ...who(actor),
        action: 'enroll.invitation.create',
        target: { type: 'invitation', id },
        outcome: 'success',
        details: { staffId: input.staffId ?? null, groupId: input.groupId ?? null, expiresInHours: hours },
      });
      const invitation = await store.create({
        id,
        tokenHash: tokenHash(token),
        staffId: input.staffId ?? null,
        groupId: input.groupId ?? null,
        createdBy: actor.id,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + hours * 3_600_000).toISOString(),
      });
      return { invitation, token, url: `${deps.baseUrl()}/enroll/${token}` };
    },
    async list(actor, q) {
      await authorize(audit, actor, ENROLL_INVITE, { action: 'enroll.invitation.list' });
      return store.list({ limit: q.limit ?? 100, ...(q.status ? { status: q.status } : {}) });
    },
    async revoke(actor, id) {
      await authorize(audit, actor, ENROLL_INVITE, { action: 'enroll.invitation.revoke', target: { type: 'invitation', id } });
      const existing = await store.get(id);
      if (!existing) throw notFound('not found');
      if (existing.status === 'used' || existing.status === 'revoked') return existing;
      await audit.record({ ...who(actor), action: 'enroll.invitation.revoke', target: { type: 'invitation', id }, outcome: 'success' });
      await store.revoke(id, deps.now().toISOString());
      return (await store.get(id)) ?? existing;
    },
  };
}
