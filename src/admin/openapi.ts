// OpenAPI 3.1 from the route definitions. The same function serves
// /api/v1/openapi.json and writes openapi/admin.json (scripts/gen-openapi.ts),
// so the document cannot drift from the routes.
import type { TSchema } from 'typebox';
import { AUTHENTICATED } from './types.ts';
import type { AnyRoute } from './types.ts';
import { ErrorBody } from './schemas.ts';
import { ApprovalView } from './routes/authz-schemas.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const API_VERSION = '1.0.0';

/** A plain JSON copy of a schema (TypeBox's non-enumerable markers dropped). */
function plain(s: TSchema): Json {
  return JSON.parse(JSON.stringify(s)) as Json;
}

function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(where: 'path' | 'query', schema: TSchema | undefined): Json[] {
  if (!schema) return [];
  const obj = plain(schema) as { properties?: Record<string, Json>; required?: string[] };
  const required = new Set(obj.required ?? []);
  return Object.entries(obj.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' ? true : required.has(name),
    schema: s,
  }));
}

const ERROR_RESPONSES: Record<string, string> = {
  '400': 'Invalid request (fixed body; offending paths listed, values never echoed)',
  '401': 'Missing, invalid, expired or revoked token',
  '403': 'Token lacks the permission',
  '404': 'Not found',
  '409': 'Conflict',
  '413': 'Body too large',
  '500': 'Internal error',
};

/** Refusals only some routes give: expired approvals, rate limits on destructive actions. */
const FOUR_EYES_RESPONSES: Record<string, string> = {
  '410': 'The approval expired',
  '429': 'Rate limit of this action for this administrator reached (applies even when approved)',
};

/** Sign-in routes behind the login throttle (src/identity/throttle.ts). */
const THROTTLED = new Set(['login', 'loginMfa', 'enrollTotpConfirm', 'stepUp']);
const THROTTLED_RESPONSE = 'Too many sign-in attempts for this account or from this address';

/** Every 429 carries Retry-After. */
const RETRY_AFTER: Json = {
  'Retry-After': { description: 'Seconds until a retry can succeed (the time left on the longest lock, or until enough counted actions leave the window)', schema: { type: 'integer', minimum: 1 } },
};

/** Scopes of a security requirement: the route's permission, none for "any signed-in caller". */
function requirement(permission: string): string[] {
  return permission === AUTHENTICATED ? [] : [permission];
}

export function buildOpenApi(routes: readonly AnyRoute[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const p = toOpenApiPath(r.url);
    const responses: Record<string, Json> = {};
    for (const [code, schema] of Object.entries(r.schema.response)) {
      responses[code] = {
        description: code.startsWith('2') ? 'Success' : code.startsWith('3') ? 'Redirect' : 'Unavailable',
        content: { [code.startsWith('2') && r.contentType ? r.contentType : 'application/json']: { schema: plain(schema as TSchema) } },
      };
    }
    const errors = r.permission === null ? ['500'] : Object.keys(ERROR_RESPONSES);
    for (const code of errors) {
      responses[code] = { description: ERROR_RESPONSES[code]!, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    if (r.approval && r.schema.response[202] !== undefined) {
      // The route's own 202 schema already admits the approval (e.g. a background job or the approval).
      responses['202'] = {
        description: `Accepted, or held for a second administrator's approval (four-eyes action ${r.approval}); approve with POST /api/v1/approvals/{id}/approve`,
        content: { 'application/json': { schema: plain(r.schema.response[202] as TSchema) } },
      };
    } else if (r.approval) {
      responses['202'] = {
        description: `Held for a second administrator's approval (four-eyes action ${r.approval}); approve with POST /api/v1/approvals/{id}/approve`,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Approval' } } },
      };
    }
    const fourEyes = r.id === 'approveApproval' ? ['410', '429'] : r.approval ? ['429'] : [];
    for (const code of fourEyes) {
      responses[code] = { description: FOUR_EYES_RESPONSES[code]!, ...(code === '429' ? { headers: RETRY_AFTER } : {}), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    if (THROTTLED.has(r.id)) responses['429'] = { description: THROTTLED_RESPONSE, headers: RETRY_AFTER, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Record<string, Json> = {
      operationId: r.id,
      summary: r.summary,
      tags: r.tags,
      parameters: [...parameters('path', r.schema.params), ...parameters('query', r.schema.querystring)],
      responses,
      // OpenAPI 3.1 lets a non-OAuth requirement list role names: here, the permission the route needs,
      // with a bearer token (API token or CLI session) or a browser session cookie.
      security: r.permission === null ? [] : [{ bearer: requirement(r.permission) }, { session: requirement(r.permission) }],
      'x-rampart-permission': r.permission,
    };
    if (r.permission === AUTHENTICATED) op['x-rampart-permission'] = 'any signed-in caller';
    if (r.servicePermissions) op['x-rampart-service-permissions'] = r.servicePermissions;
    if (r.audit) op['x-rampart-audit'] = r.audit;
    if (r.approval) op['x-rampart-approval'] = r.approval;
    if (r.schema.body) {
      op.requestBody = { required: true, content: { 'application/json': { schema: plain(r.schema.body) } } };
    }
    (paths[p] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rampart admin API',
      version: API_VERSION,
      description:
        'Administration API of the Rampart MDM server. Every route except /api/v1/health and the sign-in entry points ' +
        '(/api/v1/auth/login, mfa, enroll, oidc) needs a bearer token (rmp_... API token or rms_... command-line session) ' +
        'or a browser session cookie with its CSRF token (docs/identity.md). x-rampart-permission names the scope checked before the body is read; the service checks it ' +
        'again, and for commands the scope of the command class (commands.send.query|lock|manage|erase). "*" grants all; ' +
        'a scope grants the scopes below it. The same permission is listed in each operation\'s security requirement. ' +
        'A token acts with its scopes intersected with its owner\'s current role permissions. Routes with ' +
        'x-rampart-approval may answer 202 with an approval that a second administrator must approve.',
    },
    servers: [{ url: 'http://127.0.0.1:9443' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'rmp_<base64url> API token, or rms_<base64url> command-line session (rampart login)' },
        session: { type: 'apiKey', in: 'cookie', name: '__Host-rampart_session', description: 'Browser session; state-changing requests also need the X-CSRF-Token header' },
      },
      schemas: { Error: plain(ErrorBody), Approval: plain(ApprovalView) },
    },
  };
}
