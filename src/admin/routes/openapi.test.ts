import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../testkit.ts';
import { buildOpenApi } from '../openapi.ts';
import { ROUTES } from './index.ts';

describe('GET /api/v1/openapi.json', () => {
  it('serves the generated document to any valid token, and 401 without one', async () => {
    const s = await createTestStack();
    try {
      const token = await s.tokenFor(['devices.read']);
      let res = await s.app.inject({ method: 'GET', url: '/api/v1/openapi.json', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), buildOpenApi(ROUTES));
      res = await s.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
      assert.equal(res.statusCode, 401);
    } finally {
      await s.close();
    }
  });
});
