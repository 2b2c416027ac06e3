// Sessions of signed-in administrators. The session id is 32 random bytes;
// only its SHA-256 is stored. Browsers carry it in a __Host- cookie
// (HttpOnly, Secure, SameSite=Strict, Path=/); the command line carries it as
// a bearer token "rms_<id>". A session ends at an idle timeout, at an absolute
// timeout, at sign-out or revocation, or when its administrator is disabled.
//
// CSRF: every state-changing request authenticated by the cookie must carry
// X-CSRF-Token, an HMAC of the session id (so it is bound to the session,
// changes with it, needs no storage, and reveals nothing about the id). The
// token is returned at sign-in and by GET /api/v1/auth/me. Bearer sessions
// need no CSRF token: browsers never attach them on their own.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../services/types.ts';
import type { AdminStore } from '../storage/types.ts';
import { forbidden, unauthorized } from '../lib/errors.ts';
import type { IdentityStore, PermissionResolver, SessionKind, SessionRecord } from './types.ts';

export const SESSION_COOKIE = '__Host-rampart_session';
export const SESSION_BEARER_PREFIX = 'rms_';
export const CSRF_HEADER = 'x-csrf-token';
const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
/** lastSeenAt is written at most this often per session. */
export const SESSION_TOUCH_MS = 30_000;

export interface SessionPolicy {
  idleMs: Record<SessionKind, number>;
  absoluteMs: Record<SessionKind, number>;
  /** Step-up: sensitive actions need an MFA this recent. */
  stepUpMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  idleMs: { browser: 30 * 60_000, cli: 60 * 60_000 },
  absoluteMs: { browser: 12 * 3600_000, cli: 8 * 3600_000 },
  stepUpMs: 10 * 60_000,
};

export const hashSecret = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
export const newSecret = (): string => randomBytes(32).toString('base64url');

export function csrfTokenFor(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('rampart-csrf-v1').digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function sessionCookie(secret: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${secret}; Path=/; Max-Age=${Math.floor(maxAgeMs / 1000)}; HttpOnly; Secure; SameSite=Strict`;
}

export function clearSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
}

/** The session secret from a Cookie header; undefined when absent or malformed (or given twice). */
export function sessionFromCookieHeader(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() !== SESSION_COOKIE) continue;
    if (found !== undefined) return undefined;
    found = part.slice(i + 1).trim();
  }
  return found !== undefined && SECRET_FORMAT.test(found) ? found : undefined;
}

export function isSessionBearer(bearer: string): boolean {
  return bearer.startsWith(SESSION_BEARER_PREFIX) && SECRET_FORMAT.test(bearer.slice(SESSION_BEARER_PREFIX.length));
}

export interface CookieRequest {
  cookie: string | undefined;
  method: string;
  csrf: string | undefined;
  source?: string;
  requestId?: string;
}

export interface SessionManager {
  readonly policy: SessionPolicy;
  /** A new session (at sign-in: always a fresh id, so an id planted before sign-in is worthless). */
  create(adminId: string, kind: SessionKind, source: string | null, now: Date): Promise<{ secret: string; record: SessionRecord }>;
  /** The session behind a secret if it is still valid; touches it. */
  validate(secret: string, now: Date): Promise<SessionRecord | undefined>;
  authenticateCookie(req: CookieRequest): Promise<Actor>;
  authenticateBearer(bearer: string, source?: string, requestId?: string): Promise<Actor>;
}

export interface SessionDeps {
  store: Pick<IdentityStore, 'createSession' | 'getSession' | 'touchSession'>;
  admins: Pick<AdminStore, 'get'>;
  permissions: PermissionResolver;
  now: () => Date;
  policy?: SessionPolicy;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createSessionManager(deps: SessionDeps): SessionManager {
  const policy = deps.policy ?? DEFAULT_SESSION_POLICY;

  async function validate(secret: string, now: Date): Promise<SessionRecord | undefined> {
    const rec = await deps.store.getSession(hashSecret(secret));
    if (!rec || rec.revokedAt !== null) return undefined;
    const t = now.getTime();
    if (t >= Date.parse(rec.absoluteExpiresAt)) return undefined;
    if (t - Date.parse(rec.lastSeenAt) >= policy.idleMs[rec.kind]) return undefined;
    const admin = await deps.admins.get(rec.adminId);
    if (!admin || admin.disabledAt !== null) return undefined;
    if (t - Date.parse(rec.lastSeenAt) >= SESSION_TOUCH_MS) await deps.store.touchSession(rec.idHash, now.toISOString());
    return rec;
  }

  async function actorFor(rec: SessionRecord, source?: string, requestId?: string): Promise<Actor> {
    const session = { handle: rec.handle, mfaAt: rec.mfaAt };
    if (deps.permissions.adminActor) {
      const base: { source?: string; requestId?: string } = {};
      if (source !== undefined) base.source = source;
      if (requestId !== undefined) base.requestId = requestId;
      const built = await deps.permissions.adminActor(rec.adminId, base);
      return { ...built, type: 'admin', id: rec.adminId, session };
    }
    const actor: Actor = {
      type: 'admin',
      id: rec.adminId,
      permissions: new Set(await deps.permissions.permissionsFor(rec.adminId)),
      session,
    };
    if (source !== undefined) actor.source = source;
    if (requestId !== undefined) actor.requestId = requestId;
    return actor;
  }

  return {
    policy,
    async create(adminId, kind, source, now) {
      const secret = newSecret();
      const record: SessionRecord = {
        idHash: hashSecret(secret),
        handle: randomBytes(12).toString('base64url'),
        adminId,
        kind,
        createdAt: now.toISOString(),
        lastSeenAt: now.toISOString(),
        absoluteExpiresAt: new Date(now.getTime() + policy.absoluteMs[kind]).toISOString(),
        mfaAt: now.toISOString(),
        source,
        revokedAt: null,
      };
      await deps.store.createSession(record);
      return { secret, record };
    },
    validate,
    async authenticateCookie(req) {
      const secret = sessionFromCookieHeader(req.cookie);
      if (secret === undefined) throw unauthorized('unauthorized', 'no session cookie');
      const rec = await validate(secret, deps.now());
      if (!rec || rec.kind !== 'browser') throw unauthorized('unauthorized', 'session invalid or expired');
      if (!SAFE_METHODS.has(req.method)) {
        if (req.csrf === undefined || !safeEqual(req.csrf, csrfTokenFor(secret))) throw forbidden('forbidden', 'csrf token missing or wrong');
      }
      return actorFor(rec, req.source, req.requestId);
    },
    async authenticateBearer(bearer, source, requestId) {
      if (!isSessionBearer(bearer)) throw unauthorized('unauthorized', 'malformed session token');
      const rec = await validate(bearer.slice(SESSION_BEARER_PREFIX.length), deps.now());
      if (!rec || rec.kind !== 'cli') throw unauthorized('unauthorized', 'session invalid or expired');
      return actorFor(rec, source, requestId);
    },
  };
}

export interface StepUpOptions {
  /** Default 10 minutes. */
  maxAgeMs?: number;
  now?: Date;
  /** API tokens cannot do MFA; they are refused unless the caller allows them. */
  allowTokens?: boolean;
}

/**
 * Step-up check for sensitive actions: throws forbidden unless the actor is a
 * session whose last MFA is recent (or the system). Services call it before
 * the state change.
 */
export function requireRecentMfa(actor: Actor, opts: StepUpOptions = {}): void {
  if (actor.type === 'system') return;
  if (actor.type === 'token') {
    if (opts.allowTokens === true) return;
    throw forbidden('step-up authentication required', 'api tokens cannot satisfy step-up');
  }
  const maxAge = opts.maxAgeMs ?? DEFAULT_SESSION_POLICY.stepUpMs;
  const now = (opts.now ?? new Date()).getTime();
  const at = actor.session ? Date.parse(actor.session.mfaAt) : NaN;
  if (Number.isNaN(at) || now - at > maxAge || at > now + 60_000) {
    throw forbidden('step-up authentication required', 'mfa too old');
  }
}
