// Four-eyes approvals. A service calls guard(actor, { action, params, summary });
// when the policy names the action, the gate stores a pending approval with
// the canonical (RFC 8785) parameters and their SHA-256, and throws
// ApprovalPending (the admin server answers 202 with the approval). Another
// administrator holding approvals.decide approves it; the claim is one
// conditional UPDATE (pending → executing, unexpired, approver ≠ requester),
// so a concurrent or repeated approve finds nothing to claim and the action
// runs exactly once, with the stored parameters, by the executor registered
// for its action name. The executor calls the same service again as the
// requester (current roles ∩ the permissions held at request time) with
// authz.approvalId set; guard() then checks that the call carries exactly
// the approved action and parameters, applies the rate limit, and lets it run.
//
// Other modules register their executors with one line:
//   authz.gate.register('ca.rotate', (params, ctx) => ca.rotate(ctx.actor, params), { idempotent: true });
import { createHash, randomUUID } from 'node:crypto';
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { canonicalize } from '../audit/jcs.ts';
import { requireRecentMfa } from '../identity/sessions.ts';
import type { Actor } from '../services/types.ts';
import { authorize, hasPermission } from '../services/command-policy.ts';
import { badRequest, conflict, forbidden, isRampartError, notFound, RampartError } from '../lib/errors.ts';
import type { AuthzConfig } from './config.ts';
import type { ApprovalRecord, ApprovalStatus, AuthzStore } from './store.ts';
import type { ApprovalGuard, GuardRequest } from './types.ts';
import type { RateLimiter } from './rate-limit.ts';
import { ApprovalPending } from './pending.ts';
import { toApprovalView, type ApprovalView } from './views.ts';
import { actorEvent } from './audit.ts';
import { principalOf } from './grants.ts';

export const APPROVALS_DECIDE = 'approvals.decide';
const ACTION_NAME = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*){1,3}$/;
const MAX_PARAMS_BYTES = 64 * 1024;
const SUMMARY = /^[^\u0000-\u001f\u007f]{1,300}$/;
const APPROVAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ExecutorContext {
  /** The requester, as they are now, running under this approval. */
  actor: Actor;
  approval: ApprovalView;
}

/** Runs an approved action; returns a small JSON result (ids and counts, no personal data). */
export type Executor = (params: { [k: string]: JsonValue }, ctx: ExecutorContext) => Promise<JsonValue>;

export interface ExecutorOptions {
  /**
   * The executor may run again after a crash between claim and completion
   * (it must make a second run a no-op, e.g. by a key derived from the approval id).
   * Non-idempotent executors interrupted by a crash are marked "interrupted" and never re-run.
   */
  idempotent?: boolean;
}

export interface ApprovalGate extends ApprovalGuard {
  register(action: string, executor: Executor, opts?: ExecutorOptions): void;
  /** Stores a pending approval and throws ApprovalPending, whatever the policy says. */
  request(actor: Actor, req: GuardRequest): Promise<never>;
  /** Whether the policy asks for approval of this action for this many units. */
  requiresApproval(action: string, units: number): boolean;
  approve(actor: Actor, id: string): Promise<ApprovalView>;
  deny(actor: Actor, id: string, reason?: string): Promise<ApprovalView>;
  get(actor: Actor, id: string): Promise<ApprovalView>;
  list(actor: Actor, q: { status?: ApprovalStatus; limit: number }): Promise<ApprovalView[]>;
  /** Takes over approvals left "executing" by a crash: idempotent ones run again, others become "interrupted". */
  resume(): Promise<number>;
}

export interface ApprovalGateDeps {
  store: AuthzStore;
  audit: AuditRecorder;
  policy: AuthzConfig['approvals'];
  rates: RateLimiter;
  now: () => Date;
  newId?: () => string;
  /** The requester of an approval as an actor now (throws when they may no longer act). */
  requesterActor(rec: ApprovalRecord): Promise<Actor>;
}

export function paramsHash(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

export function createApprovalGate(deps: ApprovalGateDeps): ApprovalGate {
  const { store, audit, policy, rates, now } = deps;
  const newId = deps.newId ?? randomUUID;
  const executors = new Map<string, { run: Executor; idempotent: boolean }>();

  function canonical(req: GuardRequest): { text: string; hash: string; units: number } {
    if (typeof req.action !== 'string' || !ACTION_NAME.test(req.action)) throw new Error(`invalid approval action ${String(req.action)}`);
    const units = req.units ?? 1;
    if (!Number.isSafeInteger(units) || units < 0) throw badRequest('invalid request');
    const text = canonicalize(req.params);
    if (Buffer.byteLength(text) > MAX_PARAMS_BYTES) throw badRequest('request too large for approval');
    return { text, hash: paramsHash(text), units };
  }

  function requiresApproval(action: string, units: number): boolean {
    if (!policy.actions.includes(action)) return false;
    const threshold = Object.hasOwn(policy.thresholds, action) ? policy.thresholds[action] : undefined;
    return threshold === undefined || units > threshold;
  }

  async function request(actor: Actor, req: GuardRequest): Promise<never> {
    const c = canonical(req);
    if (!SUMMARY.test(req.summary)) throw new Error('invalid approval summary');
    const created = now();
    const rec = await store.createApproval({
      id: newId(),
      action: req.action,
      params: c.text,
      paramsHash: c.hash,
      summary: req.summary,
      units: c.units,
      target: req.target ?? null,
      approverPermission: req.approverPermission ?? null,
      requester: { type: actor.type, id: actor.id, principalId: principalOf(actor), permissions: [...actor.permissions].sort() },
      createdAt: created.toISOString(),
      expiresAt: new Date(created.getTime() + policy.ttlMinutes * 60_000).toISOString(),
    });
    await audit.record(actorEvent(actor, {
      action: 'approval.request',
      outcome: 'success',
      target: { type: 'approval', id: rec.id },
      details: { requested: req.action, paramsHash: c.hash, units: c.units, ...(req.target ? { targetType: req.target.type, targetId: req.target.id } : {}) },
    }));
    throw new ApprovalPending(toApprovalView(rec, created));
  }

  async function deniedDecision(actor: Actor, action: string, rec: ApprovalRecord, reason: string, err: RampartError): Promise<never> {
    await audit.record(actorEvent(actor, {
      action,
      outcome: 'denied',
      target: { type: 'approval', id: rec.id },
      details: { requested: rec.action, paramsHash: rec.paramsHash, reason },
    }));
    throw err;
  }

  /** Why a pending claim cannot happen (the record as read after a failed claim). */
  async function refuseClaim(actor: Actor, action: string, rec: ApprovalRecord): Promise<never> {
    if (rec.status !== 'pending') return deniedDecision(actor, action, rec, 'not_pending', conflict('approval already decided'));
    if (Date.parse(rec.expiresAt) <= now().getTime()) return deniedDecision(actor, action, rec, 'expired', new RampartError('gone', 'approval expired'));
    return deniedDecision(actor, action, rec, 'own_request', forbidden('cannot decide own request'));
  }

  async function load(id: string): Promise<ApprovalRecord> {
    if (typeof id !== 'string' || !APPROVAL_ID.test(id)) throw notFound();
    const rec = await store.getApproval(id);
    if (!rec) throw notFound();
    return rec;
  }

  async function execute(rec: ApprovalRecord, approver: Actor | undefined): Promise<ApprovalView> {
    const finish = async (status: 'executed' | 'failed' | 'interrupted', result: JsonValue, reason: string | null): Promise<ApprovalView> => {
      const resultText = result === null ? null : canonicalize(result);
      await store.finishApproval(rec.id, status, resultText, reason, now().toISOString());
      const event = {
        action: 'approval.execute',
        outcome: status === 'executed' ? ('success' as const) : ('failure' as const),
        target: { type: 'approval', id: rec.id },
        details: { requested: rec.action, paramsHash: rec.paramsHash, status, ...(reason !== null ? { reason } : {}) },
      };
      await audit.record(approver ? actorEvent(approver, event) : { ...event, actor: { type: 'system', id: 'approvals' } });
      const after = await store.getApproval(rec.id);
      return toApprovalView(after ?? rec, now());
    };
    const executor = executors.get(rec.action);
    if (!executor) return finish('failed', null, 'no_executor');
    let params: { [k: string]: JsonValue };
    try {
      const parsed = JSON.parse(rec.params) as JsonValue;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('params');
      if (paramsHash(canonicalize(parsed)) !== rec.paramsHash) throw new Error('hash');
      params = parsed;
    } catch {
      return finish('failed', null, 'integrity');
    }
    let actor: Actor;
    try {
      actor = await deps.requesterActor(rec);
    } catch {
      return finish('failed', null, 'requester');
    }
    actor.authz = { ...(actor.authz ?? { principalId: rec.requester.principalId, unscoped: actor.permissions, scoped: [] }), approvalId: rec.id };
    if (approver?.requestId !== undefined) actor.requestId = approver.requestId;
    if (approver?.source !== undefined) actor.source = approver.source;
    try {
      const result = await executor.run(params, { actor, approval: toApprovalView(rec, now()) });
      return await finish('executed', result ?? null, null);
    } catch (e) {
      return finish('failed', null, isRampartError(e) ? e.code : 'internal');
    }
  }

  return {
    register(action, run, opts = {}) {
      if (!ACTION_NAME.test(action)) throw new Error(`invalid approval action ${action}`);
      if (executors.has(action)) throw new Error(`executor for ${action} registered twice`);
      executors.set(action, { run, idempotent: opts.idempotent === true });
    },

    requiresApproval,
    request,

    async guard(actor, req) {
      const c = canonical(req);
      const running = actor.authz?.approvalId;
      if (running !== undefined) {
        const rec = await store.getApproval(running);
        if (!rec || rec.status !== 'executing' || rec.action !== req.action || rec.paramsHash !== c.hash) {
          await audit.record(actorEvent(actor, {
            action: 'approval.execute',
            outcome: 'denied',
            target: { type: 'approval', id: running },
            details: { requested: req.action, paramsHash: c.hash, reason: 'mismatch' },
          }));
          throw forbidden('forbidden', 'call does not match the approval it runs under');
        }
        await rates.consume(actor, req.action, c.units);
        return;
      }
      // A browser or command-line session asks for a fresh second factor (step-up) before a guarded action.
      if (actor.session) requireRecentMfa(actor, { now: now() });
      if (requiresApproval(req.action, c.units)) await request(actor, req);
      await rates.consume(actor, req.action, c.units);
    },

    async approve(actor, id) {
      await authorize(audit, actor, APPROVALS_DECIDE, { action: 'approval.approve', ...(APPROVAL_ID.test(id) ? { target: { type: 'approval', id } } : {}) });
      if (actor.session) requireRecentMfa(actor, { now: now() });
      const rec = await load(id);
      const principal = principalOf(actor);
      if (rec.requester.principalId === principal) return deniedDecision(actor, 'approval.approve', rec, 'own_request', forbidden('cannot approve own request'));
      if (rec.approverPermission !== null && !hasPermission(actor, rec.approverPermission)) {
        return deniedDecision(actor, 'approval.approve', rec, 'approver_permission', forbidden('forbidden', `approver lacks ${rec.approverPermission}`));
      }
      if (!(await store.claimApproval(rec.id, principal, now().toISOString()))) {
        return refuseClaim(actor, 'approval.approve', (await store.getApproval(rec.id)) ?? rec);
      }
      await audit.record(actorEvent(actor, {
        action: 'approval.approve',
        outcome: 'success',
        target: { type: 'approval', id: rec.id },
        details: { requested: rec.action, paramsHash: rec.paramsHash, requester: rec.requester.principalId },
      }));
      return execute({ ...rec, status: 'executing' }, actor);
    },

    async deny(actor, id, reason) {
      await authorize(audit, actor, APPROVALS_DECIDE, { action: 'approval.deny', ...(APPROVAL_ID.test(id) ? { target: { type: 'approval', id } } : {}) });
      const rec = await load(id);
      const r = reason === undefined ? null : reason;
      if (r !== null && !SUMMARY.test(r)) throw badRequest('invalid reason');
      if (!(await store.denyApproval(rec.id, principalOf(actor), r, now().toISOString()))) {
        const cur = (await store.getApproval(rec.id)) ?? rec;
        return deniedDecision(actor, 'approval.deny', cur, 'not_pending', conflict('approval already decided'));
      }
      await audit.record(actorEvent(actor, {
        action: 'approval.deny',
        outcome: 'success',
        target: { type: 'approval', id: rec.id },
        details: { requested: rec.action, paramsHash: rec.paramsHash, requester: rec.requester.principalId },
      }));
      return toApprovalView((await store.getApproval(rec.id)) ?? rec, now());
    },

    async get(actor, id) {
      const rec = await load(id);
      if (!hasPermission(actor, APPROVALS_DECIDE) && rec.requester.principalId !== principalOf(actor)) throw notFound();
      return toApprovalView(rec, now());
    },

    async list(actor, q) {
      if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 1000) throw badRequest('invalid limit');
      const all = hasPermission(actor, APPROVALS_DECIDE);
      const rows = await store.listApprovals({ ...(q.status !== undefined ? { status: q.status } : {}), ...(all ? {} : { requesterPrincipal: principalOf(actor) }), limit: q.limit });
      return rows.map((r) => toApprovalView(r, now()));
    },

    async resume() {
      const before = new Date(now().getTime() - policy.staleExecutionMinutes * 60_000).toISOString();
      let n = 0;
      for (const rec of await store.staleExecuting(before)) {
        if (!(await store.reclaimApproval(rec.id, rec.claimedAt!, now().toISOString()))) continue;
        n++;
        const ex = executors.get(rec.action);
        if (ex?.idempotent) await execute(rec, undefined);
        else {
          await store.finishApproval(rec.id, 'interrupted', null, 'crash', now().toISOString());
          await audit.record({
            action: 'approval.execute',
            actor: { type: 'system', id: 'approvals' },
            outcome: 'failure',
            target: { type: 'approval', id: rec.id },
            details: { requested: rec.action, paramsHash: rec.paramsHash, status: 'interrupted', reason: 'crash' },
          });
        }
      }
      return n;
    },
  };
}
