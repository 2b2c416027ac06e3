import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../testkit.ts';

describe('GET /api/v1/health', () => {
  it('shows only the overall status; 503 when unavailable', async () => {
    for (const [status, code] of [['ok', 200], ['degraded', 200], ['unavailable', 503]] as const) {
      const s = await createTestStack({ health: async () => ({ status, checks: { database: status === 'ok' ? 'ok' : 'fail' } }) });
      try {
        const res = await s.app.inject({ method: 'GET', url: '/api/v1/health' });
        assert.equal(res.statusCode, code);
        assert.deepEqual(res.json(), { status });
      } finally {
        await s.close();
      }
    }
  });
});
