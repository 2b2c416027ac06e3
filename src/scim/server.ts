// The SCIM 2.0 service (RFC 7644) on the admin listener under /scim/v2:
// Users and Groups, discovery endpoints, bearer tokens with scim.provision.
// Every error leaves as a SCIM error body with a fixed detail; request
// bodies are parsed by Fastify's JSON parser (prototype poisoning refused)
// and mapped by hand (schema.ts), so unknown attributes IdPs send are ignored
// while every known one is validated by the directory.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRecorder } from '../audit/types.ts';
import type { Authenticator } from '../admin/types.ts';
import type { GroupService, Group } from '../directory/groups.ts';
import type { StaffDirectory } from '../directory/staff.ts';
import { isRampartError } from '../lib/errors.ts';
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { MAX_RESULTS, resourceTypes, schemas, serviceProviderConfig } from './discovery.ts';
import { ScimError, scimErrorBody } from './errors.ts';
import { parseFilter } from './filter.ts';
import { applyPatch } from './patch.ts';
import { groupIds, userIds } from './query.ts';
import { GROUP_SCHEMA, LIST_SCHEMA, etagOf, fromScimUser, getAttr, toScimUser } from './schema.ts';
import type { Json, JsonObject } from './schema.ts';

export const SCIM_PREFIX = '/scim/v2';
const CONTENT_TYPE = 'application/scim+json; charset=utf-8';
const BODY_LIMIT = 256 * 1024;

export interface ScimDeps {
  directory: StaffDirectory;
  groups: GroupService;
  auth: Authenticator;
  audit: AuditRecorder;
}

declare module 'fastify' {
  interface FastifyRequest {
    scimActor: Actor | null;
  }
}

/** Route config marking SCIM routes: the admin server's own auth hook leaves them to this module. */
export const SCIM_ROUTE_CONFIG = { scim: true } as const;

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer ([\x21-\x7e]{1,256})$/i.exec(h);
  return m ? m[1] : undefined;
}

/** If-Match: W/"3", "3" or * -> version, undefined (absent or *). A malformed one matches nothing. */
function ifMatch(req: FastifyRequest): number | undefined {
  const h = req.headers['if-match'];
  if (h === undefined || h === '*') return undefined;
  const m = /^(?:W\/)?"([0-9]{1,12})"$/.exec(String(h).trim());
  if (!m) throw new ScimError(412, undefined, 'precondition failed');
  return Number(m[1]);
}

function page(q: Record<string, unknown>): { start: number; count: number } {
  const int = (v: unknown, def: number): number => {
    if (v === undefined) return def;
    if (typeof v !== 'string' || !/^-?[0-9]{1,9}$/.test(v)) throw new ScimError(400, 'invalidValue', 'invalid startIndex or count');
    return Number(v);
  };
  // RFC 7644 §3.4.2.4: startIndex < 1 is 1; count < 0 is 0; count is capped.
  return { start: Math.max(1, int(q.startIndex, 1)), count: Math.min(MAX_RESULTS, Math.max(0, int(q.count, 100))) };
}

function toScimGroup(g: Group, base: string, withMembers: boolean): JsonObject {
  const out: JsonObject = { schemas: [GROUP_SCHEMA], id: g.id, displayName: g.displayName };
  if (g.externalId !== null) out.externalId = g.externalId;
  if (withMembers) out.members = g.members.map((m) => ({ value: m, $ref: `${base}/Users/${m}`, type: 'User' }));
  out.meta = { resourceType: 'Group', created: g.createdAt, lastModified: g.updatedAt, version: etagOf(g.version), location: `${base}/Groups/${g.id}` };
  return out;
}

function fromScimGroup(body: unknown): { displayName: unknown; externalId: unknown; members: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'request body must be a JSON object');
  const o = body as JsonObject;
  const members = getAttr(o, 'members');
  if (members !== undefined && members !== null && !Array.isArray(members)) throw new ScimError(400, 'invalidValue', 'invalid value for members');
  return {
    displayName: getAttr(o, 'displayName'),
    externalId: getAttr(o, 'externalId') ?? null,
    members: ((members as Json[] | undefined | null) ?? []).map((m) => (typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as JsonObject).value : m)),
  };
}

function mapError(e: unknown): { status: number; body: Record<string, unknown>; log: boolean } {
  if (e instanceof ScimError) return { status: e.status, body: scimErrorBody(e.status, e.message, e.scimType), log: false };
  if (isRampartError(e)) {
    if (e.code === 'conflict' && e.detail === 'precondition') return { status: 412, body: scimErrorBody(412, 'precondition failed'), log: false };
    if (e.code === 'conflict') return { status: 409, body: scimErrorBody(409, e.message, 'uniqueness'), log: false };
    if (e.code === 'bad_request') return { status: 400, body: scimErrorBody(400, e.message, 'invalidValue'), log: false };
    if (e.code === 'gone') return { status: 404, body: scimErrorBody(404, 'not found'), log: false };
    if (e.status < 500) return { status: e.status, body: scimErrorBody(e.status, e.message), log: false };
    return { status: 500, body: scimErrorBody(500, 'internal error'), log: true };
  }
  const fe = e as { statusCode?: number; code?: string };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    if (fe.statusCode === 413) return { status: 413, body: scimErrorBody(413, 'body too large', 'tooMany'), log: false };
    if (fe.statusCode === 415) return { status: 415, body: scimErrorBody(415, 'unsupported content type'), log: false };
    return { status: 400, body: scimErrorBody(400, 'invalid request', 'invalidSyntax'), log: false };
  }
  return { status: 500, body: scimErrorBody(500, 'internal error'), log: true };
}

export async function registerScim(app: FastifyInstance, deps: ScimDeps): Promise<void> {
  app.decorateRequest('scimActor', null);
  await app.register(
    async (scope) => {
      const json = scope.getDefaultJsonParser('error', 'error');
      scope.addContentTypeParser('application/scim+json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, json);

      scope.addHook('onRequest', async (req) => {
        const token = bearer(req);
        if (token === undefined) throw new ScimError(401, undefined, 'unauthorized');
        let actor: Actor;
        try {
          actor = await deps.auth.authenticate({ bearer: token, source: req.rampartSource, requestId: req.id });
        } catch {
          throw new ScimError(401, undefined, 'unauthorized');
        }
        if (!hasPermission(actor, 'scim.provision')) {
          await deps.audit.record({ action: 'scim.access', actor: { type: actor.type, id: actor.id }, source: req.rampartSource, requestId: req.id, outcome: 'denied', details: { permission: 'scim.provision' } });
          throw new ScimError(403, undefined, 'forbidden');
        }
        req.scimActor = actor;
      });

      scope.setErrorHandler(async (err, req, reply) => {
        const m = mapError(err);
        if (m.log) req.log.error({ err: isRampartError(err) ? err.message : 'scim failure' }, 'scim request failed');
        else req.log.info({ status: m.status, detail: (err as { internal?: string; detail?: string }).internal ?? (err as { detail?: string }).detail }, 'scim request refused');
        if (m.status === 401) reply.header('www-authenticate', 'Bearer');
        reply.code(m.status).type(CONTENT_TYPE);
        return m.body;
      });

      const base = (req: FastifyRequest): string => `${req.protocol}://${req.host}${SCIM_PREFIX}`;
      const actorOf = (req: FastifyRequest): Actor => req.scimActor as Actor;
      const send = (reply: FastifyReply, status: number, body: JsonObject, etag?: string): JsonObject => {
        reply.code(status).type(CONTENT_TYPE);
        if (etag) reply.header('etag', etag);
        return body;
      };
      const cfg = { config: SCIM_ROUTE_CONFIG, bodyLimit: BODY_LIMIT };
      const id = (req: FastifyRequest): string => {
        const v = (req.params as { id?: string }).id ?? '';
        if (!/^[A-Za-z0-9-]{1,64}$/.test(v)) throw new ScimError(404, undefined, 'not found');
        return v;
      };

      scope.get('/ServiceProviderConfig', cfg, async (req, reply) => send(reply, 200, serviceProviderConfig(base(req))));
      scope.get('/ResourceTypes', cfg, async (req, reply) => {
        const r = resourceTypes(base(req));
        return send(reply, 200, { schemas: [LIST_SCHEMA], totalResults: r.length, startIndex: 1, itemsPerPage: r.length, Resources: r });
      });
      scope.get('/ResourceTypes/:id', cfg, async (req, reply) => {
        const r = resourceTypes(base(req)).find((x) => x.id === (req.params as { id: string }).id);
        if (!r) throw new ScimError(404, undefined, 'not found');
        return send(reply, 200, r);
      });
      scope.get('/Schemas', cfg, async (req, reply) => {
        const r = schemas(base(req));
        return send(reply, 200, { schemas: [LIST_SCHEMA], totalResults: r.length, startIndex: 1, itemsPerPage: r.length, Resources: r });
      });
      scope.get('/Schemas/:id', cfg, async (req, reply) => {
        const r = schemas(base(req)).find((x) => x.id === (req.params as { id: string }).id);
        if (!r) throw new ScimError(404, undefined, 'not found');
        return send(reply, 200, r);
      });

      // Users
      scope.get('/Users', cfg, async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        const { start, count } = page(q);
        const actor = actorOf(req);
        let total: number;
        let views;
        if (q.filter !== undefined) {
          if (typeof q.filter !== 'string') throw new ScimError(400, 'invalidFilter', 'invalid filter');
          const ids = await userIds(deps.directory, actor, parseFilter(q.filter));
          total = ids.length;
          views = await deps.directory.getMany(actor, ids.slice(start - 1, start - 1 + count), 'scim');
        } else {
          const p = await deps.directory.list(actor, { limit: count, offset: start - 1 }, 'scim');
          total = p.total ?? 0;
          views = p.items;
        }
        const Resources = views.map((v) => toScimUser(v, base(req)));
        return send(reply, 200, { schemas: [LIST_SCHEMA], totalResults: total, startIndex: start, itemsPerPage: Resources.length, Resources });
      });
      scope.post('/Users', cfg, async (req, reply) => {
        const v = await deps.directory.create(actorOf(req), fromScimUser(req.body), 'scim');
        reply.header('location', `${base(req)}/Users/${v.id}`);
        return send(reply, 201, toScimUser(v, base(req)), etagOf(v.version));
      });
      scope.get('/Users/:id', cfg, async (req, reply) => {
        const v = await deps.directory.get(actorOf(req), id(req), 'scim');
        return send(reply, 200, toScimUser(v, base(req)), etagOf(v.version));
      });
      scope.put('/Users/:id', cfg, async (req, reply) => {
        const actor = actorOf(req);
        const want = ifMatch(req);
        const input = fromScimUser(req.body);
        const cur = await deps.directory.get(actor, id(req), 'scim');
        if (want !== undefined && want !== cur.version) throw new ScimError(412, undefined, 'precondition failed');
        // Device and invitation links are Rampart's, not the identity provider's: kept.
        const v = await deps.directory.replace(actor, cur.id, { ...input, deviceIds: cur.deviceIds, invitationIds: cur.invitationIds }, 'scim', cur.version);
        return send(reply, 200, toScimUser(v, base(req)), etagOf(v.version));
      });
      scope.patch('/Users/:id', cfg, async (req, reply) => {
        const actor = actorOf(req);
        const want = ifMatch(req);
        const cur = await deps.directory.get(actor, id(req), 'scim');
        if (want !== undefined && want !== cur.version) throw new ScimError(412, undefined, 'precondition failed');
        const patched = applyPatch(toScimUser(cur, base(req)), req.body);
        const input = fromScimUser(patched);
        const v = await deps.directory.replace(actor, cur.id, { ...input, deviceIds: cur.deviceIds, invitationIds: cur.invitationIds }, 'scim', cur.version);
        return send(reply, 200, toScimUser(v, base(req)), etagOf(v.version));
      });
      scope.delete('/Users/:id', cfg, async (req, reply) => {
        await deps.directory.remove(actorOf(req), id(req), 'scim', ifMatch(req));
        reply.code(204);
        return reply.send();
      });

      // Groups
      const withMembers = (req: FastifyRequest): boolean => {
        const ex = (req.query as Record<string, unknown>).excludedAttributes;
        return !(typeof ex === 'string' && ex.split(',').some((a) => a.trim().toLowerCase() === 'members'));
      };
      scope.get('/Groups', cfg, async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        const { start, count } = page(q);
        const actor = actorOf(req);
        if (q.filter !== undefined && typeof q.filter !== 'string') throw new ScimError(400, 'invalidFilter', 'invalid filter');
        const ids = q.filter !== undefined ? await groupIds(deps.groups, actor, parseFilter(q.filter as string)) : await deps.groups.ids(actor);
        const Resources: JsonObject[] = [];
        for (const gid of ids.slice(start - 1, start - 1 + count)) Resources.push(toScimGroup(await deps.groups.get(actor, gid), base(req), withMembers(req)));
        return send(reply, 200, { schemas: [LIST_SCHEMA], totalResults: ids.length, startIndex: start, itemsPerPage: Resources.length, Resources });
      });
      scope.post('/Groups', cfg, async (req, reply) => {
        const g = await deps.groups.create(actorOf(req), fromScimGroup(req.body));
        reply.header('location', `${base(req)}/Groups/${g.id}`);
        return send(reply, 201, toScimGroup(g, base(req), true), etagOf(g.version));
      });
      scope.get('/Groups/:id', cfg, async (req, reply) => {
        const g = await deps.groups.get(actorOf(req), id(req));
        return send(reply, 200, toScimGroup(g, base(req), withMembers(req)), etagOf(g.version));
      });
      scope.put('/Groups/:id', cfg, async (req, reply) => {
        const actor = actorOf(req);
        const g = await deps.groups.replace(actor, id(req), fromScimGroup(req.body), ifMatch(req));
        return send(reply, 200, toScimGroup(g, base(req), true), etagOf(g.version));
      });
      scope.patch('/Groups/:id', cfg, async (req, reply) => {
        const actor = actorOf(req);
        const want = ifMatch(req);
        const cur = await deps.groups.get(actor, id(req));
        if (want !== undefined && want !== cur.version) throw new ScimError(412, undefined, 'precondition failed');
        const patched = applyPatch(toScimGroup(cur, base(req), true), req.body);
        const g = await deps.groups.replace(actor, cur.id, fromScimGroup(patched), cur.version);
        return send(reply, 200, toScimGroup(g, base(req), true), etagOf(g.version));
      });
      scope.delete('/Groups/:id', cfg, async (req, reply) => {
        await deps.groups.remove(actorOf(req), id(req), ifMatch(req));
        reply.code(204);
        return reply.send();
      });

      // Anything else under /scim/v2 (after authentication): a SCIM 404.
      scope.all('/*', cfg, async () => {
        throw new ScimError(404, undefined, 'not found');
      });
    },
    { prefix: SCIM_PREFIX },
  );
}
