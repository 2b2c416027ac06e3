// OpenAPI 3.1 from the route definitions. The same function serves
// /api/v1/openapi.json and writes openapi/admin.json (scripts/gen-openapi.ts),
// so the document cannot drift from the routes.
import type { TSchema } from 'typebox';
import { AUTHENTICATED } from './types.ts';
import type { AnyRoute } from './types.ts';
import { ErrorBody } from './schemas.ts';

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

export function buildOpenApi(routes: readonly AnyRoute[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const p = toOpenApiPath(r.url);
    const responses: Record<string, Json> = {};
    for (const [code, schema] of Object.entries(r.schema.response)) {
      responses[code] = {
        description: code.startsWith('2') ? 'Success' : 'Unavailable',
        content: { [code.startsWith('2') && r.contentType ? r.contentType : 'application/json']: { schema: plain(schema as TSchema) } },
      };
    }
    const errors = r.permission === null ? ['500'] : Object.keys(ERROR_RESPONSES);
    for (const code of errors) {
      responses[code] = { description: ERROR_RESPONSES[code]!, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: Record<string, Json> = {
      operationId: r.id,
      summary: r.summary,
      tags: r.tags,
      parameters: [...parameters('path', r.schema.params), ...parameters('query', r.schema.querystring)],
      responses,
      security: r.permission === null ? [] : [{ bearer: [] }],
      'x-rampart-permission': r.permission,
    };
    if (r.permission === AUTHENTICATED) op['x-rampart-permission'] = 'any valid token';
    if (r.servicePermissions) op['x-rampart-service-permissions'] = r.servicePermissions;
    if (r.audit) op['x-rampart-audit'] = r.audit;
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
        'Administration API of the Rampart MDM server. Every route except /api/v1/health needs a bearer token ' +
        '(rmp_...). x-rampart-permission names the scope checked before the body is read; the service checks it ' +
        'again, and for commands the scope of the command class (commands.send.query|lock|manage|erase). "*" grants all; ' +
        'a scope grants the scopes below it.',
    },
    servers: [{ url: 'http://127.0.0.1:9443' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'rmp_<base64url> API token' } },
      schemas: { Error: plain(ErrorBody) },
    },
  };
}
