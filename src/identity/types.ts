// The identity module's contracts: what it needs from the authorization half
// (permissions of an administrator, IdP group → role synchronisation) and the
// shapes of its stored records. The authz engineer implements PermissionResolver
// and IdpRoleSync; serve.ts wires them.

import type { Actor } from '../services/types.ts';

/** The permissions an administrator holds through roles (dotted scopes, "*" for all). */
export interface PermissionResolver {
  permissionsFor(adminId: string): Promise<ReadonlySet<string>>;
  /**
   * When present (src/authz), builds the whole actor of an administrator:
   * role permissions including device-group limits; sessions add their fields.
   */
  adminActor?(adminId: string, base: { source?: string; requestId?: string }): Promise<Actor>;
}

/** Replaces the roles an administrator holds through the IdP with these role names. */
export interface IdpRoleSync {
  syncRoles(adminId: string, roleNames: string[]): Promise<void>;
}

export type SessionKind = 'browser' | 'cli';

export interface IdentityAccount {
  adminId: string;
  /** Argon2id PHC string; null for SSO-only accounts and the bootstrap admin before first sign-in. */
  passwordHash: string | null;
  passwordChangedAt: string | null;
  /** Break-glass accounts keep password sign-in when local passwords are disabled for SSO. */
  breakGlass: boolean;
  oidcIssuer: string | null;
  oidcSubject: string | null;
  createdAt: string;
}

export interface TotpFactor {
  adminId: string;
  secretSealed: Uint8Array;
  confirmedAt: string | null;
  /** Highest TOTP time step ever accepted (replay guard); -1 before first use. */
  lastStep: number;
}

export interface WebAuthnCredential {
  /** base64url credential id. */
  id: string;
  adminId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface SessionRecord {
  /** SHA-256 (hex) of the secret session id; the secret itself is never stored. */
  idHash: string;
  /** Public handle for listing and revocation (not a credential). */
  handle: string;
  adminId: string;
  kind: SessionKind;
  createdAt: string;
  lastSeenAt: string;
  absoluteExpiresAt: string;
  /** Last successful MFA (login or step-up). */
  mfaAt: string;
  source: string | null;
  revokedAt: string | null;
}

/** A sign-in in progress: password (or SSO) done, MFA or enrolment still to do. */
export interface LoginTicket {
  idHash: string;
  adminId: string;
  /** "mfa": verify a factor; "enroll": set a password (if needed) and enrol a first factor. */
  stage: 'mfa' | 'enroll';
  kind: SessionKind;
  attempts: number;
  source: string | null;
  expiresAt: string;
  /** The account has no password yet (bootstrap): enrolment must set one. */
  needsPassword: boolean;
}

export interface ThrottleState {
  key: string;
  failures: number;
  windowStart: string;
  lockedUntil: string | null;
}

/** A one-time server-side value: WebAuthn challenge, OIDC state. */
export interface OneTimeValue {
  idHash: string;
  purpose: string;
  adminId: string | null;
  data: string;
  expiresAt: string;
}

/** The identity tables behind one small interface; implemented once with Kysely for SQLite and PostgreSQL. */
export interface IdentityStore {
  getAccount(adminId: string): Promise<IdentityAccount | undefined>;
  getAccountByOidc(issuer: string, subject: string): Promise<IdentityAccount | undefined>;
  /** Creates or replaces the account's identity row. */
  putAccount(a: Omit<IdentityAccount, 'createdAt'>, now: string): Promise<void>;
  /** Sets or clears admins.disabled_at (the storage's admins table). Returns false for an unknown admin. */
  setDisabled(adminId: string, disabledAt: string | null): Promise<boolean>;

  getTotp(adminId: string): Promise<TotpFactor | undefined>;
  putTotp(adminId: string, secretSealed: Uint8Array): Promise<void>;
  confirmTotp(adminId: string, now: string): Promise<void>;
  deleteTotp(adminId: string): Promise<boolean>;
  /** Atomically raises lastStep to `step`; false when a step >= `step` was already used (replay). */
  useTotpStep(adminId: string, step: number): Promise<boolean>;

  listWebAuthn(adminId: string): Promise<WebAuthnCredential[]>;
  getWebAuthn(id: string): Promise<WebAuthnCredential | undefined>;
  addWebAuthn(c: Omit<WebAuthnCredential, 'lastUsedAt'>): Promise<void>;
  /** Raises the signature counter (only if newCounter is greater, or both are zero); false otherwise. */
  useWebAuthn(id: string, newCounter: number, now: string): Promise<boolean>;
  deleteWebAuthn(adminId: string, id: string): Promise<boolean>;

  replaceRecoveryCodes(adminId: string, hashes: string[], now: string): Promise<void>;
  /** Marks an unused code used; false when unknown or already used. */
  useRecoveryCode(adminId: string, hash: string, now: string): Promise<boolean>;
  countRecoveryCodes(adminId: string): Promise<number>;

  createSession(s: Omit<SessionRecord, 'revokedAt'>): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  getSessionByHandle(handle: string): Promise<SessionRecord | undefined>;
  touchSession(idHash: string, now: string): Promise<void>;
  setSessionMfa(handle: string, now: string): Promise<void>;
  listSessions(adminId: string | undefined, now: string): Promise<SessionRecord[]>;
  /** Revokes by public handle; returns the revoked session or undefined. */
  revokeSession(handle: string, now: string): Promise<SessionRecord | undefined>;
  revokeSessionByHash(idHash: string, now: string): Promise<boolean>;
  revokeAllSessions(adminId: string, now: string): Promise<number>;

  createTicket(t: Omit<LoginTicket, 'attempts'>): Promise<void>;
  getTicket(idHash: string): Promise<LoginTicket | undefined>;
  /** Counts one failed attempt; returns the new count. */
  failTicket(idHash: string): Promise<number>;
  /** Deletes the ticket; false when it was already gone (used once). */
  consumeTicket(idHash: string): Promise<boolean>;
  setTicketStage(idHash: string, stage: LoginTicket['stage'], needsPassword: boolean): Promise<void>;

  putOneTime(v: OneTimeValue): Promise<void>;
  /** Deletes and returns the value (once); undefined when absent, expired or of another purpose. */
  takeOneTime(idHash: string, purpose: string, now: string): Promise<OneTimeValue | undefined>;

  getThrottle(keys: string[]): Promise<ThrottleState[]>;
  putThrottle(s: ThrottleState): Promise<void>;
  clearThrottle(key: string): Promise<void>;

  isKnownSource(adminId: string, sourceHash: string, since: string): Promise<boolean>;
  rememberSource(adminId: string, sourceHash: string, now: string): Promise<void>;

  /** Deletes expired tickets, one-time values and sessions past their absolute expiry. */
  purgeExpired(now: string): Promise<number>;
}
