// Sign-in and account security for administrators: password (Argon2id) →
// second factor (TOTP, WebAuthn or a recovery code) → session. A first sign-in
// without a factor goes through enrolment (and, for an account without a
// password such as the bootstrap administrator, setting one) before any
// session exists. Every sign-in, failure, lock-out, factor change and session
// revocation goes on record before it takes effect.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditRecorder, JsonValue } from '../audit/types.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Actor } from '../services/types.ts';
import type { Sealer } from '../services/checkin.ts';
import type { Admin, AdminStore, ApiTokenStore } from '../storage/types.ts';
import { hashToken, isTokenFormat } from '../admin/tokens.ts';
import { hasPermission } from '../services/command-policy.ts';
import { badRequest, conflict, forbidden, notFound, rateLimited, unauthorized } from '../lib/errors.ts';
import type { PasswordHasher } from './passwords.ts';
import { checkPasswordPolicy } from './passwords.ts';
import type { SessionManager } from './sessions.ts';
import { clearSessionCookie, csrfTokenFor, hashSecret, newSecret, requireRecentMfa, SESSION_BEARER_PREFIX, sessionCookie, sessionFromCookieHeader } from './sessions.ts';
import type { Throttle, ThrottleScope } from './throttle.ts';
import type { WebAuthn } from './webauthn.ts';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { matchTotpStep, newTotpSecret, totpBase32, totpUri } from './totp.ts';
import { hashRecoveryCode, newRecoveryCodes } from './recovery.ts';
import type { IdentityStore, LoginTicket, SessionKind, SessionRecord } from './types.ts';
import type { OidcLogin } from './oidc.ts';

export const USERNAME_FORMAT = /^[a-z][a-z0-9._-]{0,63}$/;
export const TICKET_TTL_MS = 5 * 60_000;
export const MAX_TICKET_ATTEMPTS = 5;
const INVALID = 'invalid credentials';

export interface RequestContext {
  source: string;
  requestId?: string;
  /** The Cookie header (for me/logout of browser sessions). */
  cookie?: string;
}

export interface LoginStep {
  ticket: string;
  stage: LoginTicket['stage'];
  /** Enrolment must set a password first (first sign-in of the bootstrap administrator). */
  needsPassword: boolean;
  /** Factors the account can use at the "mfa" stage. */
  methods: Array<'totp' | 'webauthn' | 'recovery'>;
  expiresAt: string;
}

export interface SessionGrant {
  kind: SessionKind;
  handle: string;
  expiresAt: string;
  /** Browser: the Set-Cookie value (never shown to scripts) and the CSRF token to send back. */
  setCookie?: string;
  csrfToken?: string;
  /** Command line: the bearer session token. */
  token?: string;
}

export interface MfaProof {
  totp?: string;
  recoveryCode?: string;
  webauthn?: AuthenticationResponseJSON;
}

export interface SessionView {
  handle: string;
  adminId: string;
  kind: SessionKind;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  source: string | null;
  current: boolean;
}

export interface MeView {
  type: Actor['type'];
  id: string;
  username: string | null;
  permissions: string[];
  session: { handle: string; kind: SessionKind; mfaAt: string; expiresAt: string; csrfToken?: string } | null;
  factors: { totp: boolean; webauthn: number; recoveryCodes: number } | null;
}

export interface IdentityServiceDeps {
  store: IdentityStore;
  admins: Pick<AdminStore, 'get' | 'getByUsername' | 'create'>;
  tokens: Pick<ApiTokenStore, 'getBySecretHash'>;
  hasher: PasswordHasher;
  sealer: Sealer;
  sessions: SessionManager;
  throttle: Throttle;
  webauthn: WebAuthn;
  audit: AuditRecorder;
  now: () => Date;
  /** "break-glass-only": once SSO works, only break-glass accounts may sign in with a password. */
  localPasswords?: 'enabled' | 'break-glass-only';
  /**
   * Four-eyes gate (src/authz): creating an administrator with a password is
   * the action "account.create"; the approval carries the username and the
   * Argon2id hash of the initial password, never the password.
   */
  gate?: ApprovalGuard;
}

export type IdentityService = ReturnType<typeof createIdentityService>;

const totpAad = (adminId: string): string => `identity-totp:${adminId}`;
const pendingTotpKey = (adminId: string): string => hashSecret(`totp-pending\0${adminId}`);

export function createIdentityService(deps: IdentityServiceDeps) {
  const { store, audit, now } = deps;

  async function record(e: Omit<AuditEvent, 'source' | 'requestId'>, ctx: RequestContext | Actor | undefined): Promise<void> {
    await audit.record({
      ...e,
      ...(ctx?.source !== undefined ? { source: ctx.source } : {}),
      ...(ctx?.requestId !== undefined ? { requestId: ctx.requestId } : {}),
    });
  }
  const anonymous = { type: 'anonymous' as const, id: 'anonymous' };
  const adminTarget = (id: string) => ({ type: 'admin', id });

  async function lockoutEvents(scopes: ThrottleScope[], adminId: string | undefined, ctx: RequestContext): Promise<void> {
    for (const scope of scopes) {
      await record({ action: 'auth.lockout', actor: anonymous, outcome: 'denied', ...(adminId ? { target: adminTarget(adminId) } : {}), details: { scope } }, ctx);
    }
  }

  async function throttled(username: string, adminId: string | undefined, ctx: RequestContext, stage: string): Promise<void> {
    const d = await deps.throttle.check(username, ctx.source, adminId, now());
    if (d.allowed) return;
    await record({ action: 'auth.login', actor: anonymous, outcome: 'denied', ...(adminId ? { target: adminTarget(adminId) } : {}), details: { stage, reason: 'throttled', scope: d.scope } }, ctx);
    throw rateLimited('too many attempts, try again later', d.retryAfterMs, `retry after ${Math.ceil(d.retryAfterMs / 1000)} s`);
  }

  async function failed(username: string, adminId: string | undefined, ctx: RequestContext, details: { [k: string]: JsonValue }): Promise<never> {
    await record({ action: 'auth.login', actor: anonymous, outcome: 'failure', ...(adminId ? { target: adminTarget(adminId) } : {}), details }, ctx);
    const locked = await deps.throttle.fail(username, ctx.source, now());
    await lockoutEvents(locked, adminId, ctx);
    throw unauthorized(INVALID);
  }

  async function methodsOf(adminId: string): Promise<LoginStep['methods']> {
    const m: LoginStep['methods'] = [];
    const totp = await store.getTotp(adminId);
    if (totp?.confirmedAt) m.push('totp');
    if ((await store.listWebAuthn(adminId)).length > 0) m.push('webauthn');
    if (m.length > 0 && (await store.countRecoveryCodes(adminId)) > 0) m.push('recovery');
    return m;
  }

  async function newTicket(adminId: string, kind: SessionKind, needsPassword: boolean, ctx: RequestContext): Promise<LoginStep> {
    const methods = await methodsOf(adminId);
    const stage: LoginTicket['stage'] = methods.length === 0 || needsPassword ? 'enroll' : 'mfa';
    const secret = newSecret();
    const expiresAt = new Date(now().getTime() + TICKET_TTL_MS).toISOString();
    await store.createTicket({ idHash: hashSecret(secret), adminId, stage, kind, source: ctx.source, expiresAt, needsPassword });
    return { ticket: secret, stage, needsPassword, methods: stage === 'mfa' ? methods : [], expiresAt };
  }

  /** The live ticket and its (enabled) admin; 401 otherwise. */
  async function ticketOf(secret: string, stage: LoginTicket['stage']): Promise<{ ticket: LoginTicket; admin: Admin }> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) throw unauthorized(INVALID, 'malformed ticket');
    const ticket = await store.getTicket(hashSecret(secret));
    if (!ticket || Date.parse(ticket.expiresAt) <= now().getTime() || ticket.stage !== stage || ticket.attempts >= MAX_TICKET_ATTEMPTS) {
      throw unauthorized(INVALID, 'ticket unknown, expired, used up or at another stage');
    }
    const admin = await deps.admins.get(ticket.adminId);
    if (!admin || admin.disabledAt !== null) throw unauthorized(INVALID, 'admin disabled');
    return { ticket, admin };
  }

  async function ticketFailure(ticket: LoginTicket, admin: Admin, ctx: RequestContext, details: { [k: string]: JsonValue }): Promise<never> {
    const attempts = await store.failTicket(ticket.idHash);
    if (attempts >= MAX_TICKET_ATTEMPTS) await store.consumeTicket(ticket.idHash);
    return failed(admin.username, admin.id, ctx, { ...details, attempts });
  }

  /** Checks one factor; true when it is valid and now used (TOTP step / recovery code / counter). */
  async function verifyFactor(adminId: string, proof: MfaProof): Promise<{ ok: boolean; method: string; reason?: string }> {
    const given = [proof.totp, proof.recoveryCode, proof.webauthn].filter((x) => x !== undefined).length;
    if (given !== 1) throw badRequest('give exactly one of totp, recoveryCode, webauthn');
    const at = now();
    if (proof.totp !== undefined) {
      const f = await store.getTotp(adminId);
      if (!f || !f.confirmedAt) return { ok: false, method: 'totp', reason: 'not_enrolled' };
      const step = matchTotpStep(deps.sealer.open(f.secretSealed, totpAad(adminId)), proof.totp, at);
      if (step === undefined) return { ok: false, method: 'totp', reason: 'wrong_code' };
      if (!(await store.useTotpStep(adminId, step))) return { ok: false, method: 'totp', reason: 'replay' };
      return { ok: true, method: 'totp' };
    }
    if (proof.recoveryCode !== undefined) {
      if (await store.useRecoveryCode(adminId, hashRecoveryCode(adminId, proof.recoveryCode), at.toISOString())) return { ok: true, method: 'recovery' };
      return { ok: false, method: 'recovery', reason: 'wrong_or_used_code' };
    }
    const ok = await deps.webauthn.authenticate(adminId, proof.webauthn!, at);
    return ok ? { ok: true, method: 'webauthn' } : { ok: false, method: 'webauthn', reason: 'assertion_rejected' };
  }

  async function grant(admin: Admin, ticket: LoginTicket, method: string, ctx: RequestContext, extra: { [k: string]: JsonValue } = {}): Promise<SessionGrant> {
    await record({ action: 'auth.login', actor: { type: 'admin', id: admin.id }, outcome: 'success', target: adminTarget(admin.id), details: { method, client: ticket.kind, ...extra } }, ctx);
    if (!(await store.consumeTicket(ticket.idHash))) throw unauthorized(INVALID, 'ticket used twice');
    await deps.throttle.succeed(admin.username, admin.id, ctx.source, now());
    return issue(admin.id, ticket.kind, ctx);
  }

  async function issue(adminId: string, kind: SessionKind, ctx: RequestContext): Promise<SessionGrant> {
    // A session cookie the browser already had (planted or stale) ends here: sign-in always rotates.
    const old = sessionFromCookieHeader(ctx.cookie);
    if (old !== undefined) await store.revokeSessionByHash(hashSecret(old), now().toISOString());
    const { secret, record: rec } = await deps.sessions.create(adminId, kind, ctx.source, now());
    const out: SessionGrant = { kind, handle: rec.handle, expiresAt: rec.absoluteExpiresAt };
    if (kind === 'browser') {
      out.setCookie = sessionCookie(secret, deps.sessions.policy.absoluteMs.browser);
      out.csrfToken = csrfTokenFor(secret);
    } else {
      out.token = SESSION_BEARER_PREFIX + secret;
    }
    return out;
  }

  async function newRecoveryCodesFor(adminId: string, actor: { type: 'admin'; id: string }, ctx: RequestContext | Actor): Promise<string[]> {
    const codes = newRecoveryCodes();
    await record({ action: 'auth.recovery_codes.generate', actor, outcome: 'success', target: adminTarget(adminId), details: { count: codes.length } }, ctx);
    await store.replaceRecoveryCodes(adminId, codes.map((c) => hashRecoveryCode(adminId, c)), now().toISOString());
    return codes;
  }

  async function beginTotp(admin: Admin): Promise<{ secret: string; uri: string }> {
    const secret = newTotpSecret();
    await store.takeOneTime(pendingTotpKey(admin.id), 'totp.pending', now().toISOString());
    await store.putOneTime({
      idHash: pendingTotpKey(admin.id),
      purpose: 'totp.pending',
      adminId: admin.id,
      data: Buffer.from(deps.sealer.seal(secret, totpAad(admin.id))).toString('base64'),
      expiresAt: new Date(now().getTime() + 10 * 60_000).toISOString(),
    });
    return { secret: totpBase32(secret), uri: totpUri(secret, admin.username) };
  }

  /** Checks a code against the pending TOTP secret; the pending secret stays for another try. */
  async function checkPendingTotp(admin: Admin, code: string): Promise<{ sealed: Uint8Array; step: number } | undefined> {
    const pending = await store.takeOneTime(pendingTotpKey(admin.id), 'totp.pending', now().toISOString());
    if (!pending || pending.adminId !== admin.id) return undefined;
    const sealed = new Uint8Array(Buffer.from(pending.data, 'base64'));
    const step = matchTotpStep(deps.sealer.open(sealed, totpAad(admin.id)), code, now());
    if (step === undefined) {
      await store.putOneTime(pending);
      return undefined;
    }
    return { sealed, step };
  }

  /** Makes a checked secret the account's TOTP factor (replacing any earlier one). */
  async function activateTotp(admin: Admin, checked: { sealed: Uint8Array; step: number }): Promise<void> {
    await store.putTotp(admin.id, checked.sealed);
    await store.useTotpStep(admin.id, checked.step);
    await store.confirmTotp(admin.id, now().toISOString());
  }

  function sessionActor(actor: Actor): { handle: string } {
    if (actor.type !== 'admin' || !actor.session) throw forbidden('forbidden', 'needs a signed-in administrator (not an API token)');
    return actor.session;
  }

  async function adminOf(actor: Actor): Promise<Admin> {
    sessionActor(actor);
    const admin = await deps.admins.get(actor.id);
    if (!admin) throw unauthorized();
    return admin;
  }

  function actorRef(actor: Actor): { type: 'admin' | 'token' | 'system'; id: string } {
    return { type: actor.type, id: actor.id };
  }

  function view(s: SessionRecord, current: string | undefined): SessionView {
    return { handle: s.handle, adminId: s.adminId, kind: s.kind, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.absoluteExpiresAt, source: s.source, current: s.handle === current };
  }

  return {
    /** Step 1: username and password (or, for an account without a password, its own full-access API token). */
    async login(input: { username: string; password: string; client: SessionKind }, ctx: RequestContext): Promise<LoginStep> {
      const username = input.username.toLowerCase();
      const admin = USERNAME_FORMAT.test(username) ? await deps.admins.getByUsername(username) : undefined;
      await throttled(username, admin?.id, ctx, 'password');
      const account = admin ? await store.getAccount(admin.id) : undefined;
      // Always one Argon2id verification, also for unknown users (dummy hash), so timing does not tell them apart.
      const passwordOk = await deps.hasher.verify(account?.passwordHash ?? null, input.password);
      let bootstrap = false;
      if (!passwordOk && admin && (account === undefined || (account.passwordHash === null && account.oidcSubject === null)) && isTokenFormat(input.password)) {
        const tok = await deps.tokens.getBySecretHash(hashToken(input.password));
        // Only a full-access token of this very account (the printed bootstrap credential): a scoped
        // automation token must not become an interactive session with all of the account's roles.
        bootstrap = tok !== undefined && tok.principalId === admin.id && tok.revokedAt === null && tok.scopes.includes('*')
          && (tok.expiresAt === null || Date.parse(tok.expiresAt) > now().getTime());
      }
      if (!admin) return failed(username, undefined, ctx, { stage: 'password', reason: 'unknown_user' });
      if (!passwordOk && !bootstrap) return failed(username, admin.id, ctx, { stage: 'password', reason: 'wrong_password' });
      if (admin.disabledAt !== null) return failed(username, admin.id, ctx, { stage: 'password', reason: 'disabled' });
      if (deps.localPasswords === 'break-glass-only' && !account?.breakGlass) {
        return failed(username, admin.id, ctx, { stage: 'password', reason: 'local_passwords_disabled' });
      }
      if (passwordOk && account?.passwordHash && deps.hasher.needsRehash(account.passwordHash)) {
        await store.putAccount({ ...account, passwordHash: await deps.hasher.hash(input.password) }, now().toISOString());
        await record({ action: 'auth.password.rehash', actor: { type: 'system', id: 'rampart' }, outcome: 'success', target: adminTarget(admin.id) }, ctx);
      }
      const step = await newTicket(admin.id, input.client, bootstrap, ctx);
      await record({ action: 'auth.login.password', actor: anonymous, outcome: 'success', target: adminTarget(admin.id), details: { next: step.stage, bootstrap } }, ctx);
      return step;
    },

    /** Step 2: a second factor for the ticket; returns the session. */
    async completeMfa(input: { ticket: string } & MfaProof, ctx: RequestContext): Promise<SessionGrant> {
      const { ticket, admin } = await ticketOf(input.ticket, 'mfa');
      await throttled(admin.username, admin.id, ctx, 'mfa');
      const r = await verifyFactor(admin.id, input);
      if (!r.ok) return ticketFailure(ticket, admin, ctx, { stage: 'mfa', method: r.method, reason: r.reason ?? 'rejected' });
      if (r.method === 'recovery') {
        await record({ action: 'auth.recovery_code.use', actor: { type: 'admin', id: admin.id }, outcome: 'success', target: adminTarget(admin.id), details: { remaining: await store.countRecoveryCodes(admin.id) } }, ctx);
      }
      return grant(admin, ticket, r.method, ctx);
    },

    async mfaWebAuthnOptions(input: { ticket: string }): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const { admin } = await ticketOf(input.ticket, 'mfa');
      const options = await deps.webauthn.authenticationOptions(admin.id, now());
      if (!options) throw unauthorized(INVALID, 'no webauthn credentials');
      return options;
    },

    /** Enrolment: the first password of an account that has none (bootstrap administrator). */
    async enrollPassword(input: { ticket: string; password: string }, ctx: RequestContext): Promise<LoginStep> {
      const { ticket, admin } = await ticketOf(input.ticket, 'enroll');
      if (!ticket.needsPassword) throw conflict('password already set');
      checkPasswordPolicy(input.password, admin.username);
      const account = await store.getAccount(admin.id);
      await record({ action: 'auth.password.set', actor: { type: 'admin', id: admin.id }, outcome: 'success', target: adminTarget(admin.id), details: { first: true } }, ctx);
      await store.putAccount({
        adminId: admin.id,
        passwordHash: await deps.hasher.hash(input.password),
        passwordChangedAt: now().toISOString(),
        breakGlass: account?.breakGlass ?? false,
        oidcIssuer: account?.oidcIssuer ?? null,
        oidcSubject: account?.oidcSubject ?? null,
      }, now().toISOString());
      await store.setTicketStage(ticket.idHash, 'enroll', false);
      return { ticket: input.ticket, stage: 'enroll', needsPassword: false, methods: [], expiresAt: ticket.expiresAt };
    },

    /** Enrolment: a new TOTP secret (shown once; confirmed with a code). */
    async enrollTotp(input: { ticket: string }): Promise<{ secret: string; uri: string }> {
      const { ticket, admin } = await ticketOf(input.ticket, 'enroll');
      if (ticket.needsPassword) throw conflict('set a password first');
      return beginTotp(admin);
    },

    /** Enrolment: confirms TOTP with a code; returns the session and the recovery codes (shown once). */
    async enrollTotpConfirm(input: { ticket: string; code: string }, ctx: RequestContext): Promise<SessionGrant & { recoveryCodes: string[] }> {
      const { ticket, admin } = await ticketOf(input.ticket, 'enroll');
      if (ticket.needsPassword) throw conflict('set a password first');
      await throttled(admin.username, admin.id, ctx, 'enroll');
      const checked = await checkPendingTotp(admin, input.code);
      if (!checked) return ticketFailure(ticket, admin, ctx, { stage: 'enroll', method: 'totp', reason: 'wrong_code' });
      await record({ action: 'auth.mfa.enroll', actor: { type: 'admin', id: admin.id }, outcome: 'success', target: adminTarget(admin.id), details: { method: 'totp' } }, ctx);
      await activateTotp(admin, checked);
      const recoveryCodes = await newRecoveryCodesFor(admin.id, { type: 'admin', id: admin.id }, ctx);
      const g = await grant(admin, ticket, 'totp', ctx, { enrolled: true });
      return { ...g, recoveryCodes };
    },

    async me(actor: Actor, ctx: RequestContext): Promise<MeView> {
      const out: MeView = { type: actor.type, id: actor.id, username: null, permissions: [...actor.permissions].sort(), session: null, factors: null };
      if (actor.type !== 'admin' || !actor.session) return out;
      const admin = await deps.admins.get(actor.id);
      out.username = admin?.username ?? null;
      const secret = sessionFromCookieHeader(ctx.cookie);
      const rec = await store.getSessionByHandle(actor.session.handle);
      if (rec && rec.adminId === actor.id) {
        out.session = { handle: rec.handle, kind: rec.kind, mfaAt: rec.mfaAt, expiresAt: rec.absoluteExpiresAt };
        if (rec.kind === 'browser' && secret !== undefined && hashSecret(secret) === rec.idHash) out.session.csrfToken = csrfTokenFor(secret);
      }
      const totp = await store.getTotp(actor.id);
      out.factors = { totp: !!totp?.confirmedAt, webauthn: (await store.listWebAuthn(actor.id)).length, recoveryCodes: await store.countRecoveryCodes(actor.id) };
      return out;
    },

    async logout(actor: Actor): Promise<{ clearCookie: string }> {
      const s = sessionActor(actor);
      await record({ action: 'auth.logout', actor: actorRef(actor), outcome: 'success', target: { type: 'session', id: s.handle } }, actor);
      await store.revokeSession(s.handle, now().toISOString());
      return { clearCookie: clearSessionCookie() };
    },

    /** Step-up: a fresh second factor for the current session. */
    async stepUp(actor: Actor, proof: MfaProof): Promise<{ mfaAt: string }> {
      const s = sessionActor(actor);
      const admin = await adminOf(actor);
      const ctx: RequestContext = { source: actor.source ?? 'unknown', ...(actor.requestId ? { requestId: actor.requestId } : {}) };
      await throttled(admin.username, admin.id, ctx, 'stepup');
      const r = await verifyFactor(admin.id, proof);
      if (!r.ok) {
        await record({ action: 'auth.stepup', actor: actorRef(actor), outcome: 'failure', target: { type: 'session', id: s.handle }, details: { method: r.method, reason: r.reason ?? 'rejected' } }, actor);
        const locked = await deps.throttle.fail(admin.username, ctx.source, now());
        await lockoutEvents(locked, admin.id, ctx);
        throw unauthorized(INVALID);
      }
      const at = now().toISOString();
      await record({ action: 'auth.stepup', actor: actorRef(actor), outcome: 'success', target: { type: 'session', id: s.handle }, details: { method: r.method } }, actor);
      await store.setSessionMfa(s.handle, at);
      return { mfaAt: at };
    },

    async stepUpWebAuthnOptions(actor: Actor): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const admin = await adminOf(actor);
      const options = await deps.webauthn.authenticationOptions(admin.id, now());
      if (!options) throw notFound('no security keys');
      return options;
    },

    async webauthnRegisterOptions(actor: Actor): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      return deps.webauthn.registrationOptions(admin.id, admin.username, now());
    },

    async webauthnRegister(actor: Actor, input: { response: RegistrationResponseJSON; name: string }): Promise<{ id: string; name: string }> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      const cred = await deps.webauthn.register(admin.id, input.response, input.name, now());
      if (!cred) {
        await record({ action: 'auth.mfa.enroll', actor: actorRef(actor), outcome: 'failure', target: adminTarget(admin.id), details: { method: 'webauthn' } }, actor);
        throw badRequest('registration rejected');
      }
      await record({ action: 'auth.mfa.enroll', actor: actorRef(actor), outcome: 'success', target: adminTarget(admin.id), details: { method: 'webauthn', credential: cred.id.slice(0, 16) } }, actor);
      return { id: cred.id, name: cred.name };
    },

    async webauthnRemove(actor: Actor, id: string): Promise<void> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      const totp = await store.getTotp(admin.id);
      const creds = await store.listWebAuthn(admin.id);
      if (!totp?.confirmedAt && creds.length <= 1 && creds.some((c) => c.id === id)) throw conflict('cannot remove the last second factor');
      await record({ action: 'auth.mfa.remove', actor: actorRef(actor), outcome: 'success', target: adminTarget(admin.id), details: { method: 'webauthn', credential: id.slice(0, 16) } }, actor);
      if (!(await store.deleteWebAuthn(admin.id, id))) throw notFound();
    },

    /** Replace TOTP for a signed-in administrator (step-up required); confirmed by totpConfirm. */
    async totpBegin(actor: Actor): Promise<{ secret: string; uri: string }> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      return beginTotp(admin);
    },

    async totpConfirm(actor: Actor, code: string): Promise<{ recoveryCodes: string[] | null }> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      const had = await methodsOf(admin.id);
      const checked = await checkPendingTotp(admin, code);
      if (!checked) {
        await record({ action: 'auth.mfa.enroll', actor: actorRef(actor), outcome: 'failure', target: adminTarget(admin.id), details: { method: 'totp' } }, actor);
        throw badRequest('wrong code');
      }
      await record({ action: 'auth.mfa.enroll', actor: actorRef(actor), outcome: 'success', target: adminTarget(admin.id), details: { method: 'totp' } }, actor);
      await activateTotp(admin, checked);
      return { recoveryCodes: had.length === 0 ? await newRecoveryCodesFor(admin.id, { type: 'admin', id: admin.id }, actor) : null };
    },

    async regenerateRecoveryCodes(actor: Actor): Promise<{ recoveryCodes: string[] }> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      return { recoveryCodes: await newRecoveryCodesFor(admin.id, { type: 'admin', id: admin.id }, actor) };
    },

    async changePassword(actor: Actor, input: { current: string; password: string }): Promise<void> {
      const admin = await adminOf(actor);
      requireRecentMfa(actor, { now: now(), maxAgeMs: deps.sessions.policy.stepUpMs });
      const account = await store.getAccount(admin.id);
      if (!account?.passwordHash || !(await deps.hasher.verify(account.passwordHash, input.current))) {
        await record({ action: 'auth.password.change', actor: actorRef(actor), outcome: 'failure', target: adminTarget(admin.id) }, actor);
        throw forbidden('forbidden', 'current password wrong');
      }
      checkPasswordPolicy(input.password, admin.username);
      await record({ action: 'auth.password.change', actor: actorRef(actor), outcome: 'success', target: adminTarget(admin.id) }, actor);
      await store.putAccount({ ...account, passwordHash: await deps.hasher.hash(input.password), passwordChangedAt: now().toISOString() }, now().toISOString());
      // A new password ends every other session of the account.
      const current = sessionActor(actor).handle;
      for (const other of await store.listSessions(admin.id, now().toISOString())) {
        if (other.handle !== current) await store.revokeSession(other.handle, now().toISOString());
      }
    },

    /** Own sessions; all administrators' with sessions.manage and all=true. */
    async listSessions(actor: Actor, all: boolean): Promise<SessionView[]> {
      if (all && !hasPermission(actor, 'sessions.manage')) {
        await record({ action: 'auth.session.list', actor: actorRef(actor), outcome: 'denied', details: { permission: 'sessions.manage' } }, actor);
        throw forbidden('forbidden', 'missing permission sessions.manage');
      }
      const adminId = all ? undefined : actor.type === 'admin' ? actor.id : undefined;
      if (!all && adminId === undefined) return [];
      const rows = await store.listSessions(adminId, now().toISOString());
      const idle = deps.sessions.policy.idleMs;
      const t = now().getTime();
      return rows.filter((s) => t - Date.parse(s.lastSeenAt) < idle[s.kind]).map((s) => view(s, actor.session?.handle));
    },

    /** Revokes a session: one's own, or anyone's with sessions.manage. */
    async revokeSession(actor: Actor, handle: string): Promise<void> {
      const found = await store.getSessionByHandle(handle);
      const target = found && found.revokedAt === null && Date.parse(found.absoluteExpiresAt) > now().getTime() ? found : undefined;
      const own = target !== undefined && actor.type === 'admin' && target.adminId === actor.id;
      if (!own && !hasPermission(actor, 'sessions.manage')) {
        await record({ action: 'auth.session.revoke', actor: actorRef(actor), outcome: 'denied', target: { type: 'session', id: handle }, details: { permission: 'sessions.manage' } }, actor);
        throw target ? forbidden('forbidden', 'missing permission sessions.manage') : notFound();
      }
      if (!target) throw notFound();
      await record({ action: 'auth.session.revoke', actor: actorRef(actor), outcome: 'success', target: { type: 'session', id: handle }, details: { admin: target.adminId } }, actor);
      await store.revokeSession(handle, now().toISOString());
    },

    /** A local administrator with a password; MFA is enrolled at the first sign-in. Needs admins.manage. */
    async createAccount(actor: Actor, input: { username: string; password: string; breakGlass?: boolean }): Promise<{ id: string; username: string }> {
      if (!hasPermission(actor, 'admins.manage')) {
        await record({ action: 'account.create', actor: actorRef(actor), outcome: 'denied', details: { permission: 'admins.manage' } }, actor);
        throw forbidden('forbidden', 'missing permission admins.manage');
      }
      if (!USERNAME_FORMAT.test(input.username)) throw badRequest('invalid username');
      checkPasswordPolicy(input.password, input.username);
      if (await deps.admins.getByUsername(input.username)) throw conflict('administrator exists');
      const passwordHash = await deps.hasher.hash(input.password);
      return this.commitAccount(actor, { username: input.username, breakGlass: input.breakGlass === true, passwordHash });
    },

    /**
     * Creates the account once it may run: at once, or as the approved action
     * "account.create" (the executor calls this with the approved parameters).
     */
    async commitAccount(actor: Actor, p: { [k: string]: JsonValue }): Promise<{ id: string; username: string }> {
      if (!hasPermission(actor, 'admins.manage')) throw forbidden('forbidden', 'missing permission admins.manage');
      const username = typeof p.username === 'string' ? p.username : '';
      const passwordHash = typeof p.passwordHash === 'string' ? p.passwordHash : '';
      const breakGlass = p.breakGlass === true;
      if (!USERNAME_FORMAT.test(username) || !passwordHash.startsWith('$argon2id$')) throw badRequest('invalid account');
      if (deps.gate) {
        await deps.gate.guard(actor, {
          action: 'account.create',
          params: { username, breakGlass, passwordHash },
          summary: `create administrator ${username} with a password${breakGlass ? ' (break-glass)' : ''}`,
          approverPermission: 'admins.manage',
        });
      }
      if (await deps.admins.getByUsername(username)) throw conflict('administrator exists');
      const id = randomUUID();
      await record({ action: 'account.create', actor: actorRef(actor), outcome: 'success', target: adminTarget(id), details: { breakGlass } }, actor);
      await deps.admins.create({ id, username }, now().toISOString());
      await store.putAccount({ adminId: id, passwordHash, passwordChangedAt: now().toISOString(), breakGlass, oidcIssuer: null, oidcSubject: null }, now().toISOString());
      return { id, username };
    },

    /** Disables (and signs out everywhere) or re-enables an administrator. Needs admins.manage. */
    async setAccountEnabled(actor: Actor, adminId: string, enabled: boolean): Promise<void> {
      const action = enabled ? 'account.enable' : 'account.disable';
      if (!hasPermission(actor, 'admins.manage')) {
        await record({ action, actor: actorRef(actor), outcome: 'denied', target: adminTarget(adminId), details: { permission: 'admins.manage' } }, actor);
        throw forbidden('forbidden', 'missing permission admins.manage');
      }
      if (!enabled && actor.type === 'admin' && actor.id === adminId) throw conflict('cannot disable yourself');
      const admin = await deps.admins.get(adminId);
      if (!admin) throw notFound();
      await record({ action, actor: actorRef(actor), outcome: 'success', target: adminTarget(adminId) }, actor);
      await store.setDisabled(adminId, enabled ? null : now().toISOString());
      if (!enabled) await store.revokeAllSessions(adminId, now().toISOString());
    },

    /** Session for an account authenticated elsewhere (OIDC); the IdP did the second factor. */
    async issueSsoSession(admin: Admin, ctx: RequestContext, details: { [k: string]: JsonValue }): Promise<SessionGrant> {
      if (admin.disabledAt !== null) {
        await record({ action: 'auth.login', actor: anonymous, outcome: 'failure', target: adminTarget(admin.id), details: { method: 'oidc', reason: 'disabled' } }, ctx);
        throw unauthorized(INVALID, 'admin disabled');
      }
      await record({ action: 'auth.login', actor: { type: 'admin', id: admin.id }, outcome: 'success', target: adminTarget(admin.id), details: { method: 'oidc', client: 'browser', ...details } }, ctx);
      return issue(admin.id, 'browser', ctx);
    },

    record,
    /** OIDC sign-in when configured (set by openIdentity). */
    oidc: undefined as OidcLogin | undefined,
  };
}
