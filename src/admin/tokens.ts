// API tokens: "rmp_" + 32 random bytes in base64url. Only the SHA-256 of the
// token is stored; the token is shown once. A token acts for an enabled
// administrator with exactly the scopes it was issued with.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Admin, AdminStore, ApiToken, ApiTokenStore } from '../storage/types.ts';
import type { Actor } from '../services/types.ts';
import type { Authenticator, Credentials } from './types.ts';
import { badRequest, conflict, unauthorized } from '../lib/errors.ts';
import { isKnownScope } from '../services/command-policy.ts';

export const TOKEN_PREFIX = 'rmp_';
const TOKEN_BYTES = 32;
/** "rmp_" and 43 base64url characters (32 bytes). */
const TOKEN_FORMAT = /^rmp_[A-Za-z0-9_-]{43}$/;
/** lastUsedAt is written at most this often per token. */
export const TOUCH_INTERVAL_MS = 60_000;
const USERNAME = /^[a-z][a-z0-9._-]{0,63}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function isTokenFormat(token: string): boolean {
  return TOKEN_FORMAT.test(token);
}

export interface IssueDeps {
  tokens: Pick<ApiTokenStore, 'create'>;
  now: () => Date;
  random?: (bytes: number) => Uint8Array;
  newId?: () => string;
}

export interface IssueInput {
  principalId: string;
  name: string;
  scopes: string[];
  expiresAt?: string;
}

export async function issueApiToken(deps: IssueDeps, input: IssueInput): Promise<{ token: string; record: ApiToken }> {
  const random = deps.random ?? ((n: number) => randomBytes(n));
  const newId = deps.newId ?? randomUUID;
  if (!TOKEN_NAME.test(input.name)) throw badRequest('invalid token name');
  if (input.scopes.length === 0 || !input.scopes.every(isKnownScope)) throw badRequest('invalid scopes');
  const now = deps.now();
  let expiresAt: string | null = null;
  if (input.expiresAt !== undefined) {
    const t = Date.parse(input.expiresAt);
    if (Number.isNaN(t) || t <= now.getTime()) throw badRequest('invalid expiry');
    expiresAt = new Date(t).toISOString();
  }
  const bytes = random(TOKEN_BYTES);
  if (bytes.byteLength !== TOKEN_BYTES) throw new Error('random source returned the wrong length');
  const token = TOKEN_PREFIX + Buffer.from(bytes).toString('base64url');
  const record = await deps.tokens.create(
    {
      id: newId(),
      name: input.name,
      secretHash: hashToken(token),
      principalId: input.principalId,
      scopes: [...new Set(input.scopes)],
      expiresAt,
    },
    now.toISOString(),
  );
  return { token, record };
}

export interface AuthenticatorDeps {
  tokens: Pick<ApiTokenStore, 'getBySecretHash' | 'touch'>;
  admins: Pick<AdminStore, 'get'>;
  now: () => Date;
  /** Told about refused known tokens (expired, revoked, disabled owner); never the token. */
  onRejected?: (info: { tokenId: string; reason: 'expired' | 'revoked' | 'principal' }) => void;
  /**
   * Builds the actor of a valid token (src/authz: scopes ∩ the owner's roles,
   * source networks); may throw unauthorized. Default: exactly the token's scopes.
   */
  toActor?: (record: ApiToken, cred: Credentials) => Promise<Actor>;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  return {
    async authenticate(cred: Credentials): Promise<Actor> {
      if (!isTokenFormat(cred.bearer)) throw unauthorized('unauthorized', 'malformed token');
      const record = await deps.tokens.getBySecretHash(hashToken(cred.bearer));
      if (!record) throw unauthorized('unauthorized', 'unknown token');
      const now = deps.now();
      let reason: 'expired' | 'revoked' | 'principal' | undefined;
      let admin: Admin | undefined;
      if (record.revokedAt !== null) reason = 'revoked';
      else if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now.getTime()) reason = 'expired';
      else {
        admin = await deps.admins.get(record.principalId);
        if (!admin || admin.disabledAt !== null) reason = 'principal';
      }
      if (reason !== undefined) {
        deps.onRejected?.({ tokenId: record.id, reason });
        throw unauthorized('unauthorized', `token ${record.id} ${reason}`);
      }
      let actor: Actor;
      if (deps.toActor) actor = await deps.toActor(record, cred);
      else {
        actor = { type: 'token', id: record.id, permissions: new Set(record.scopes) };
        if (cred.source !== undefined) actor.source = cred.source;
        if (cred.requestId !== undefined) actor.requestId = cred.requestId;
      }
      if (record.lastUsedAt === null || now.getTime() - Date.parse(record.lastUsedAt) >= TOUCH_INTERVAL_MS) {
        await deps.tokens.touch(record.id, now.toISOString());
      }
      return actor;
    },
  };
}

export interface BootstrapStorage {
  admins: Pick<AdminStore, 'create' | 'getByUsername'>;
  tokens: Pick<ApiTokenStore, 'create'>;
}

/**
 * Creates an administrator and a full-access token for it; returns the token
 * (shown once). Refuses an existing username.
 */
export async function createFirstAdmin(
  storage: BootstrapStorage,
  username: string,
  opts: { now?: () => Date; tokenName?: string; scopes?: string[]; expiresAt?: string } = {},
): Promise<{ admin: Admin; token: string; record: ApiToken }> {
  const now = opts.now ?? (() => new Date());
  if (!USERNAME.test(username)) throw badRequest('invalid username');
  if (await storage.admins.getByUsername(username)) throw conflict('administrator exists');
  const admin = await storage.admins.create({ id: randomUUID(), username }, now().toISOString());
  const input: IssueInput = { principalId: admin.id, name: opts.tokenName ?? `${username} initial`, scopes: opts.scopes ?? ['*'] };
  if (opts.expiresAt !== undefined) input.expiresAt = opts.expiresAt;
  const { token, record } = await issueApiToken({ tokens: storage.tokens, now }, input);
  return { admin, token, record };
}
