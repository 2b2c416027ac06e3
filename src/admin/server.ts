// The admin listener. Order of work on every request:
//   onRequest: public allowlist or bearer token (before the body is read),
//              then the route's coarse permission, then "no body where none
//              is declared"; unknown routes answer 404 only after this.
//   parsing:   JSON only, size-limited, prototype poisoning refused.
//   validation: Ajv, no coercion, no defaults, no removal of extra fields.
//   handler:   one service call (the service authorizes again, exactly).
// Every error leaves through one handler with a fixed body.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../services/types.ts';
import { forbidden, isRampartError, notFound, RampartError, unauthorized } from '../lib/errors.ts';
import { mayHoldUnder } from '../services/command-policy.ts';
import { AUTHENTICATED } from './types.ts';
import type { AdminServerDeps, AdminServices, AnyRoute } from './types.ts';
import { NON_API_ROUTES, PUBLIC_ROUTES, ROUTES, routeKey } from './routes/index.ts';
import type { AdminRouteMetrics } from '../core/metrics.ts';
import { createClientAddress } from './client-address.ts';
import { LARGE_BODY_REQUEST_TYPES } from './routes/commands.ts';
import { isApprovalPending } from '../authz/pending.ts';
import { registerScim } from '../scim/server.ts';

export const DEFAULT_BODY_BYTES = 1024 * 1024;
const MAX_ISSUES = 10;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

interface RouteConfig {
  rampart?: AnyRoute;
  /** Pre-bound metric children of this route (src/core/metrics.ts). */
  metrics?: AdminRouteMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    rampartActor: Actor | null;
    /** The client's address: the TCP peer, or X-Forwarded-For from a trusted proxy (./client-address.ts). */
    readonly rampartSource: string;
  }
}

/** Throws unless every route with permission null is on the public allowlist (and vice versa). */
export function checkRouteTable(routes: readonly AnyRoute[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    const key = routeKey(r);
    if (seen.has(key)) throw new Error(`duplicate admin route ${key}`);
    seen.add(key);
    if (r.permission === null && !PUBLIC_ROUTES.has(key)) throw new Error(`admin route ${key} has no permission and is not on the public allowlist`);
    if (r.permission !== null && PUBLIC_ROUTES.has(key)) throw new Error(`public admin route ${key} declares a permission`);
    if (!r.url.startsWith('/api/v1/') && !NON_API_ROUTES.has(key)) throw new Error(`admin route ${key} outside /api/v1/`);
  }
}

function bearerOf(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer ([\x21-\x7e]{1,256})$/i.exec(h);
  return m ? m[1] : undefined;
}

function errorBody(code: string, message: string, issues?: string[]): { error: string; message: string; issues?: string[] } {
  return issues && issues.length > 0 ? { error: code, message, issues } : { error: code, message };
}

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  params?: { missingProperty?: unknown };
}

/** Paths of failing parts ("body/deviceIds/0"), never values or unknown keys. */
function issuePaths(err: FastifyError): string[] {
  const context = (err as FastifyError & { validationContext?: string }).validationContext ?? 'request';
  const out = new Set<string>();
  for (const v of (err.validation ?? []) as AjvIssue[]) {
    let p = `${context}${v.instancePath ?? ''}`;
    if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') p += `/${v.params.missingProperty}`;
    out.add(/^[A-Za-z0-9_/]{1,200}$/.test(p) ? p : context);
    if (out.size >= MAX_ISSUES) break;
  }
  return [...out];
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Requests no route matched share the route label "unmatched" (SCIM routes: their template), so a client cannot grow the label space. */
function unmatchedMetrics(metrics: NonNullable<AdminServerDeps['metrics']>, method: string, template: string | undefined): AdminRouteMetrics {
  // adminRoute binds each (route, method) once and returns the same children afterwards.
  return metrics.adminRoute(template ?? 'unmatched', METHODS.has(method) ? method : 'OTHER');
}

export async function createAdminServer(deps: AdminServerDeps): Promise<FastifyInstance> {
  checkRouteTable(ROUTES);
  const limits = {
    bodyBytes: deps.limits?.bodyBytes ?? DEFAULT_BODY_BYTES,
    installProfileBodyBytes: deps.limits?.installProfileBodyBytes ?? DEFAULT_BODY_BYTES,
  };
  const services: AdminServices = { devices: deps.devices, commands: deps.commands, health: deps.health, authz: deps.authz, auditLog: deps.auditLog, ...(deps.push ? { push: deps.push } : {}), ...(deps.groups ? { groups: deps.groups } : {}), ...(deps.bulk ? { bulk: deps.bulk } : {}), ...(deps.directory ? { directory: deps.directory } : {}), ...(deps.exportJob ? { exportJob: deps.exportJob } : {}), ...(deps.exportDownload ? { exportDownload: deps.exportDownload } : {}), ...(deps.metrics ? { metrics: deps.metrics } : {}) };
  if (deps.identity) services.identity = deps.identity;
  if (deps.enrollment) services.enrollment = deps.enrollment;
  const { audit, auth } = deps;

  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    bodyLimit: limits.bodyBytes,
    exposeHeadRoutes: false,
    // Request lines carry query strings (search terms); only refusals and failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false } },
    frameworkErrors: (err, request, reply) => {
      // Malformed URLs never reach routing: authenticate first, then refuse.
      void (async () => {
        try {
          await authenticate(request);
          await sendError(request, reply, new RampartError('bad_request', 'invalid request', err.code));
        } catch (e) {
          await sendError(request, reply, e);
        }
        // No route, no onResponse hook: counted here.
        if (deps.metrics) unmatchedMetrics(deps.metrics, request.method, undefined).observe(reply.statusCode, reply.elapsedTime / 1000);
      })();
    },
  });

  app.decorateRequest('rampartActor', null);
  // Throttling, network-bound tokens and the audit source all use this address.
  const clientAddress = createClientAddress(deps.trustProxy ?? []);
  app.decorateRequest('rampartSource', {
    getter(this: FastifyRequest): string {
      return clientAddress(this.ip, this.headers['x-forwarded-for']);
    },
  });
  // Only JSON bodies; text/plain's default parser is gone.
  app.removeContentTypeParser('text/plain');

  async function authenticate(request: FastifyRequest): Promise<Actor> {
    const bearer = bearerOf(request);
    let actor: Actor;
    if (bearer !== undefined) {
      actor = await auth.authenticate({ bearer, source: request.rampartSource, requestId: request.id });
    } else if (deps.sessions && typeof request.headers.cookie === 'string') {
      // Browser session cookie; state-changing methods also need the session's CSRF token.
      const csrf = request.headers['x-csrf-token'];
      actor = await deps.sessions.authenticateCookie({
        cookie: request.headers.cookie,
        method: request.method,
        csrf: typeof csrf === 'string' ? csrf : undefined,
        source: request.rampartSource,
        requestId: request.id,
      });
    } else {
      throw unauthorized('unauthorized', 'no bearer token');
    }
    request.rampartActor = actor;
    return actor;
  }

  async function sendError(request: FastifyRequest, reply: FastifyReply, e: unknown): Promise<void> {
    if (reply.sent) return;
    let status = 500;
    let body = errorBody('internal', 'internal error');
    const fe = e as FastifyError;
    if (isApprovalPending(e)) {
      // Held for a second administrator's approval: accepted, not done.
      reply.code(202).type('application/json; charset=utf-8');
      await reply.send(e.approval);
      return;
    }
    if (isRampartError(e)) {
      status = e.status;
      body = errorBody(e.code, e.message);
      if (e.status >= 500) request.log.error({ err: e }, 'admin request failed');
      else request.log.info({ code: e.code, detail: e.detail }, 'admin request refused');
    } else if (fe && Array.isArray(fe.validation)) {
      status = 400;
      body = errorBody('bad_request', 'invalid request', issuePaths(fe));
    } else if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      if (fe.statusCode === 413) {
        status = 413;
        body = errorBody('payload_too_large', 'body too large');
      } else if (fe.statusCode === 415) {
        status = 415;
        body = errorBody('unsupported_media_type', 'unsupported content type');
      } else {
        status = 400;
        body = errorBody('bad_request', 'invalid request');
      }
      request.log.info({ code: fe.code }, 'admin request refused');
    } else {
      request.log.error({ err: e }, 'admin request failed');
    }
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    // Every 429 says when to come back (RFC 9110 section 10.2.3); a limit that cannot name it asks for a minute.
    if (status === 429) reply.header('retry-after', String(isRampartError(e) && e.retryAfterSeconds !== undefined ? e.retryAfterSeconds : 60));
    reply.code(status).type('application/json; charset=utf-8');
    await reply.send(body);
  }

  app.addHook('onRequest', async (request) => {
    // SCIM routes authenticate in src/scim/server.ts (SCIM error bodies, scim.provision).
    if ((request.routeOptions.config as { scim?: boolean }).scim === true) return;
    const def = (request.routeOptions.config as RouteConfig).rampart;
    if (def && def.permission === null && PUBLIC_ROUTES.has(routeKey(def)) && request.method === def.method) return;
    const actor = await authenticate(request);
    if (!def) throw notFound();
    if (def.permission !== null && def.permission !== AUTHENTICATED && !mayHoldUnder(actor, def.permission)) {
      await audit.record({
        action: def.audit ?? 'admin.access',
        actor: { type: actor.type, id: actor.id },
        source: request.rampartSource,
        requestId: request.id,
        outcome: 'denied',
        details: { route: routeKey(def), permission: def.permission },
      });
      throw forbidden('forbidden', `missing permission ${def.permission}`);
    }
    if (!def.schema.body) {
      const len = request.headers['content-length'];
      if ((len !== undefined && len !== '0') || request.headers['transfer-encoding'] !== undefined) {
        throw new RampartError('bad_request', 'invalid request', 'body on a route without one');
      }
    }
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    return payload;
  });

  if (deps.metrics) {
    const metrics = deps.metrics;
    app.addHook('onResponse', async (request, reply) => {
      const config = (request.routeOptions.config ?? {}) as RouteConfig & { scim?: boolean };
      const m = config.metrics ?? unmatchedMetrics(metrics, request.method, config.scim === true ? request.routeOptions.url : undefined);
      m.observe(reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  app.setErrorHandler(async (err, request, reply) => {
    await sendError(request, reply, err);
  });

  app.setNotFoundHandler(async () => {
    // Reached only after onRequest authenticated the caller.
    throw notFound();
  });

  for (const def of ROUTES) {
    const config: RouteConfig = { rampart: def, ...(deps.metrics ? { metrics: deps.metrics.adminRoute(def.url, def.method) } : {}) };
    app.route({
      method: def.method,
      url: def.url,
      config,
      bodyLimit: def.bodyLimit ? def.bodyLimit(limits) : limits.bodyBytes,
      schema: {
        ...(def.schema.params ? { params: def.schema.params } : {}),
        ...(def.schema.querystring ? { querystring: def.schema.querystring } : {}),
        ...(def.schema.body ? { body: def.schema.body } : {}),
        response: def.schema.response,
      },
      ...(def.bodyLimit
        ? {
            preHandler: async (request: FastifyRequest) => {
              // The raised limit is for profiles and manifests only.
              const body = request.body as { requestType?: unknown } | undefined;
              const type = typeof body?.requestType === 'string' ? body.requestType : '';
              if (!LARGE_BODY_REQUEST_TYPES.includes(type) && Buffer.byteLength(JSON.stringify(body ?? null)) > limits.bodyBytes) {
                throw new RampartError('payload_too_large', 'body too large');
              }
            },
          }
        : {}),
      handler: async (request, reply) => {
        const out = await def.handler({
          actor: request.rampartActor,
          params: request.params as never,
          query: request.query as never,
          body: request.body as never,
          services,
          routes: ROUTES,
          request: { source: request.rampartSource, requestId: request.id, cookie: typeof request.headers.cookie === 'string' ? request.headers.cookie : undefined },
        });
        if (out.headers) reply.headers(out.headers);
        reply.code(out.status);
        if (out.type !== undefined) reply.type(out.type);
        return out.body;
      },
    });
  }

  if (deps.directory && deps.scimGroups) await registerScim(app as unknown as FastifyInstance, { directory: deps.directory, groups: deps.scimGroups, auth, audit });

  await app.ready();
  return app as unknown as FastifyInstance;
}
