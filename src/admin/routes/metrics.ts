// GET /metrics: the Prometheus text exposition of this node (src/core/metrics.ts).
// On the admin listener only, for an actor holding metrics.read (an API token
// scoped to it is what a scraper uses). Scrapes are not written to the audit
// log (a scraper every 15 s would drown it); refusals are.
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { notFound } from '../../lib/errors.ts';

export const METRICS_URL = '/metrics';

export const metricsRoute = defineRoute({
  id: 'metrics',
  method: 'GET',
  url: METRICS_URL,
  summary: 'Prometheus metrics of this node (text exposition format 0.0.4): admin API, device plane, commands, push, audit log, security events, process',
  tags: ['metrics'],
  permission: 'metrics.read',
  contentType: 'text/plain; version=0.0.4',
  schema: { response: { 200: Type.String({ description: 'Prometheus text exposition' }) } },
  async handler({ actor, services }) {
    if (!services.metrics) throw notFound();
    const r = await services.metrics.render(actor!);
    return { status: 200, type: r.contentType, body: r.body };
  },
});
