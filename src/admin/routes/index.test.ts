import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NON_API_ROUTES, PUBLIC_ROUTES, ROUTES, routeKey } from './index.ts';

describe('route list', () => {
  it('every route is under /api/v1 (except the Prometheus /metrics), unique, and public only when allowlisted', () => {
    const keys = ROUTES.map(routeKey);
    assert.equal(new Set(keys).size, keys.length);
    for (const r of ROUTES) {
      assert.ok(r.url.startsWith('/api/v1/') || NON_API_ROUTES.has(routeKey(r)), r.url);
      assert.equal(r.permission === null, PUBLIC_ROUTES.has(routeKey(r)), routeKey(r));
    }
    // Besides health, only the sign-in entry points (src/identity) are public.
    assert.deepEqual([...PUBLIC_ROUTES].filter((k) => !/^(POST|GET) \/api\/v1\/auth\/(login|mfa|enroll|oidc)(\/|$)/.test(k)), ['GET /api/v1/health']);
  });
  it('the only route outside /api/v1 is GET /metrics, and it needs metrics.read', () => {
    assert.deepEqual([...NON_API_ROUTES], ['GET /metrics']);
    assert.deepEqual(ROUTES.filter((r) => !r.url.startsWith('/api/v1/')).map((r) => [routeKey(r), r.permission]), [['GET /metrics', 'metrics.read']]);
  });
  it('state-changing routes name their audit action', () => {
    for (const r of ROUTES.filter((x) => x.method !== 'GET')) assert.ok(r.audit, routeKey(r));
  });
});
