// Liveness for load balancers and the CLI: the only public admin route.
import { defineRoute } from '../types.ts';
import { Health } from '../schemas.ts';

export const healthRoute = defineRoute({
  id: 'getHealth',
  method: 'GET',
  url: '/api/v1/health',
  summary: 'Service health (public; shows only an overall status)',
  tags: ['health'],
  permission: null,
  schema: { response: { 200: Health, 503: Health } },
  async handler({ services }) {
    const report = await services.health();
    return { status: report.status === 'unavailable' ? 503 : 200, body: { status: report.status } };
  },
});
