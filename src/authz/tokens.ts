// API tokens for automation, on top of src/admin/tokens.ts (format, hashing,
// shown once). Here: a token never carries a permission its creator does not
// hold, always expires (at most the configured lifetime, and never after the
// token that created it), may be bound to source networks, and acts with
// (token scopes ∩ its owner's current role permissions).
import type { AuditRecorder } from '../audit/types.ts';
import type { ApiToken, ApiTokenStore, AdminStore } from '../storage/types.ts';
import type { Actor } from '../services/types.ts';
import type { Credentials } from '../admin/types.ts';
import { issueApiToken } from '../admin/tokens.ts';
import { authorize } from '../services/command-policy.ts';
import { badRequest, forbidden, notFound, unauthorized } from '../lib/errors.ts';
import { isCatalogued } from './catalogue.ts';
import { inNetworks, normalizeNetworks } from './cidr.ts';
import { actorEvent } from './audit.ts';
import { actorFor, missing, principalOf, type Grants } from './grants.ts';
import type { AuthzStore } from './store.ts';

export const TOKENS_MANAGE = 'tokens.manage';

export interface TokenView {
  id: string;
  name: string;
  principalId: string;
  scopes: string[];
  networks: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenCreateInput {
  name: string;
  scopes: string[];
  expiresAt?: string;
  networks?: string[];
}

export interface TokenService {
  /** The token text is in the answer once and nowhere else. */
  create(actor: Actor, input: TokenCreateInput): Promise<{ token: string; record: TokenView }>;
  /** Own tokens; another administrator's (or everyone's, principalId "*") with tokens.manage. */
  list(actor: Actor, principalId?: string): Promise<TokenView[]>;
  revoke(actor: Actor, id: string): Promise<TokenView>;
}

export interface TokenServiceDeps {
  tokens: ApiTokenStore;
  admins: Pick<AdminStore, 'list'>;
  store: Pick<AuthzStore, 'setTokenNetworks' | 'tokenNetworks'>;
  audit: AuditRecorder;
  now: () => Date;
  maxLifetimeDays: number;
}

const TOKEN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { tokens, admins, store, audit, now } = deps;

  async function toView(t: ApiToken): Promise<TokenView> {
    return {
      id: t.id,
      name: t.name,
      principalId: t.principalId,
      scopes: t.scopes,
      networks: (await store.tokenNetworks(t.id)) ?? [],
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      lastUsedAt: t.lastUsedAt,
      revokedAt: t.revokedAt,
    };
  }

  async function all(): Promise<ApiToken[]> {
    const out: ApiToken[] = [];
    for (const a of await admins.list()) out.push(...(await tokens.listForPrincipal(a.id)));
    return out;
  }

  return {
    async create(actor, input) {
      const action = 'token.create';
      await authorize(audit, actor, TOKENS_MANAGE, { action });
      const principalId = principalOf(actor);
      if (!Array.isArray(input.scopes) || input.scopes.length === 0 || input.scopes.length > 64 || !input.scopes.every((s) => typeof s === 'string' && isCatalogued(s))) {
        throw badRequest('invalid scopes');
      }
      const scopes = [...new Set(input.scopes)].sort();
      // Scopes held only for some device groups do not count: a token scope applies everywhere it is held.
      const lacking = [...new Set([...missing(actor.permissions, scopes), ...(actor.authz ? missing(actor.authz.unscoped, scopes) : [])])];
      if (lacking.length > 0) {
        await audit.record(actorEvent(actor, { action, outcome: 'denied', details: { reason: 'escalation', missing: lacking.sort() } }));
        throw forbidden('forbidden', 'cannot grant a permission you do not hold');
      }
      const nowD = now();
      let latest = nowD.getTime() + deps.maxLifetimeDays * 86_400_000;
      if (actor.type === 'token') {
        const own = (await tokens.listForPrincipal(principalId)).find((t) => t.id === actor.id);
        if (own?.expiresAt) latest = Math.min(latest, Date.parse(own.expiresAt));
      }
      let expires = latest;
      if (input.expiresAt !== undefined) {
        expires = Date.parse(input.expiresAt);
        if (Number.isNaN(expires) || expires <= nowD.getTime()) throw badRequest('invalid expiry');
        if (expires > latest) throw badRequest('expiry beyond the longest allowed lifetime');
      }
      const networks = input.networks === undefined ? [] : normalizeNetworks(input.networks);
      const { token, record } = await issueApiToken({ tokens, now }, { principalId, name: input.name, scopes, expiresAt: new Date(expires).toISOString() });
      if (networks.length > 0) await store.setTokenNetworks(record.id, networks, nowD.toISOString());
      await audit.record(actorEvent(actor, {
        action,
        outcome: 'success',
        target: { type: 'token', id: record.id },
        details: { owner: principalId, scopes, expiresAt: record.expiresAt, networks },
      }));
      return { token, record: await toView(record) };
    },

    async list(actor, principalId) {
      const self = principalOf(actor);
      if (principalId !== undefined && principalId !== self) {
        await authorize(audit, actor, TOKENS_MANAGE, { action: 'token.list' });
        const list = principalId === '*' ? await all() : await tokens.listForPrincipal(principalId);
        return Promise.all(list.map(toView));
      }
      return Promise.all((await tokens.listForPrincipal(self)).map(toView));
    },

    async revoke(actor, id) {
      const action = 'token.revoke';
      if (typeof id !== 'string' || !TOKEN_ID.test(id)) throw notFound();
      const self = principalOf(actor);
      let t = (await tokens.listForPrincipal(self)).find((x) => x.id === id);
      if (!t) {
        await authorize(audit, actor, TOKENS_MANAGE, { action, target: { type: 'token', id } });
        t = (await all()).find((x) => x.id === id);
      }
      if (!t) throw notFound();
      const done = await tokens.revoke(t.id, now().toISOString());
      await audit.record(actorEvent(actor, { action, outcome: done ? 'success' : 'failure', target: { type: 'token', id: t.id }, details: { owner: t.principalId, ...(done ? {} : { reason: 'already_revoked' }) } }));
      const after = (await tokens.listForPrincipal(t.principalId)).find((x) => x.id === t.id) ?? t;
      return toView(after);
    },
  };
}

/**
 * The `toActor` of createAuthenticator: refuses (and records) a token used
 * from outside its networks; otherwise the actor holds the token's scopes ∩
 * the owner's role permissions as they are now.
 */
export function createTokenActor(deps: {
  store: Pick<AuthzStore, 'tokenNetworks'>;
  grantsFor: (adminId: string) => Promise<Grants>;
  audit: AuditRecorder;
}): (record: ApiToken, cred: Credentials) => Promise<Actor> {
  return async (record, cred) => {
    const networks = await deps.store.tokenNetworks(record.id);
    if (networks !== undefined && networks.length > 0 && !inNetworks(cred.source, networks)) {
      await deps.audit.record({
        action: 'token.network_refused',
        actor: { type: 'token', id: record.id },
        ...(cred.source !== undefined ? { source: cred.source } : {}),
        ...(cred.requestId !== undefined ? { requestId: cred.requestId } : {}),
        outcome: 'denied',
        details: { principal: record.principalId, reason: 'source_network' },
      });
      throw unauthorized('unauthorized', `token ${record.id} used outside its networks`);
    }
    const grants = await deps.grantsFor(record.principalId);
    const base: { type: 'token'; id: string; source?: string; requestId?: string } = { type: 'token', id: record.id };
    if (cred.source !== undefined) base.source = cred.source;
    if (cred.requestId !== undefined) base.requestId = cred.requestId;
    return actorFor(base, record.principalId, grants, record.scopes);
  };
}
