// Permission arithmetic over dotted scopes. A set "covers" a permission when
// it holds the permission, "*", or a scope above it (hasPermission).
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import type { AuthzContext, ScopedGrant } from './types.ts';

export function covers(set: ReadonlySet<string>, permission: string): boolean {
  return hasPermission({ permissions: set }, permission);
}

/**
 * The intersection under the scope order: every permission of `a` that `b`
 * covers, and every permission of `b` that `a` covers. intersect({"commands.send"},
 * {"commands.send.lock"}) = {"commands.send.lock"}; intersect({"*"}, X) = X.
 */
export function intersect(a: Iterable<string>, b: Iterable<string>): Set<string> {
  const as = new Set(a);
  const bs = new Set(b);
  const out = new Set<string>();
  for (const p of as) if (covers(bs, p)) out.add(p);
  for (const p of bs) if (covers(as, p)) out.add(p);
  return out;
}

/** True when `held` covers every permission of `wanted`. */
export function coversAll(held: ReadonlySet<string>, wanted: Iterable<string>): boolean {
  for (const p of wanted) if (!covers(held, p)) return false;
  return true;
}

/** The permissions of `wanted` that `held` does not cover. */
export function missing(held: ReadonlySet<string>, wanted: Iterable<string>): string[] {
  const out: string[] = [];
  for (const p of wanted) if (!covers(held, p)) out.push(p);
  return out;
}

/** Permissions that may be limited to device groups; any other permission of a scoped assignment is dropped. */
export const DEVICE_SCOPABLE: readonly string[] = ['devices.read', 'commands.read', 'commands.send', 'commands.cancel'];

/** Role assignments resolved to permissions. */
export interface Grants {
  unscoped: Set<string>;
  scoped: ScopedGrant[];
}

/**
 * The actor for an administrator: role permissions, intersected with the
 * token's scopes when acting through a token.
 */
export function actorFor(
  base: Pick<Actor, 'type' | 'id'> & { source?: string; requestId?: string },
  principalId: string,
  grants: Grants,
  tokenScopes?: readonly string[],
): Actor {
  const unscoped = tokenScopes ? intersect(tokenScopes, grants.unscoped) : new Set(grants.unscoped);
  const scoped: ScopedGrant[] = [];
  for (const g of grants.scoped) {
    let perms = intersect(g.permissions, DEVICE_SCOPABLE);
    if (tokenScopes) perms = intersect(perms, tokenScopes);
    // Nothing to add where the unscoped grants already cover it.
    for (const p of [...perms]) if (covers(unscoped, p)) perms.delete(p);
    if (perms.size > 0 && g.groups.size > 0) scoped.push({ permissions: perms, groups: new Set(g.groups) });
  }
  const all = new Set(unscoped);
  for (const g of scoped) for (const p of g.permissions) all.add(p);
  const authz: AuthzContext = { principalId, unscoped, scoped };
  const actor: Actor = { type: base.type, id: base.id, permissions: all, authz };
  if (base.source !== undefined) actor.source = base.source;
  if (base.requestId !== undefined) actor.requestId = base.requestId;
  return actor;
}

/** The administrator behind an actor (a token's owner); the actor id for actors built elsewhere. */
export function principalOf(actor: Actor): string {
  return actor.authz?.principalId ?? actor.id;
}
