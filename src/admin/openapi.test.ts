import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildOpenApi } from './openapi.ts';
import { ROUTES } from './routes/index.ts';
import { AUTHENTICATED } from './types.ts';
import { renderOpenApi, OPENAPI_FILE } from '../../scripts/gen-openapi.ts';

type Op = { operationId: string; security: unknown[]; 'x-rampart-permission': string | null; responses: Record<string, unknown>; parameters: Array<{ name: string; in: string }>; requestBody?: unknown };
type Doc = { openapi: string; paths: Record<string, Record<string, Op>>; components: { securitySchemes: Record<string, unknown> } };

describe('OpenAPI document', () => {
  const doc = buildOpenApi(ROUTES) as unknown as Doc;

  it('is OpenAPI 3.1 with a bearer scheme', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: 'rmp_<base64url> API token, or rms_<base64url> command-line session (rampart login)' });
    assert.deepEqual(doc.components.securitySchemes.session, { type: 'apiKey', in: 'cookie', name: '__Host-rampart_session', description: 'Browser session; state-changing requests also need the X-CSRF-Token header' });
  });

  it('has every route with its security requirement and permission', () => {
    for (const r of ROUTES) {
      const p = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = doc.paths[p]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${p}`);
      assert.equal(op.operationId, r.id);
      if (r.permission === null) {
        assert.deepEqual(op.security, []);
      } else {
        const req = r.permission === AUTHENTICATED ? [] : [r.permission];
        assert.deepEqual(op.security, [{ bearer: req }, { session: req }]);
        assert.ok(op.responses['401'] && op.responses['403']);
        assert.ok(typeof op['x-rampart-permission'] === 'string');
      }
      for (const m of r.url.matchAll(/:([A-Za-z]+)/g)) assert.ok(op.parameters.some((x) => x.in === 'path' && x.name === m[1]));
      assert.equal(op.requestBody !== undefined, r.schema.body !== undefined);
    }
    for (const r of ROUTES.filter((x) => x.approval)) {
      const op = doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}')]![r.method.toLowerCase()]!;
      assert.ok(op.responses['202'] && op.responses['429'], `${r.id} documents 202 and 429`);
    }
    assert.deepEqual(ROUTES.filter((x) => x.approval).map((x) => x.id).sort(), ['assignRole', 'bulkCommand', 'createAccount', 'createAdmin', 'enqueueCommand', 'exportStaff', 'importCa', 'rotateCa', 'updateRole', 'uploadPushCertificate']);
    const count = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    assert.equal(count, ROUTES.length);
  });

  it('the committed openapi/admin.json is up to date (npm run openapi)', () => {
    assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), renderOpenApi());
  });
});
