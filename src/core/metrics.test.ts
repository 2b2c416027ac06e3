import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createMetrics, instrumentAudit, securityKind } from './metrics.ts';
import { createTestStack, type TestStack } from '../admin/testkit.ts';
import { createAdminServer } from '../admin/server.ts';
import type { AuditEvent } from '../audit/types.ts';

const reader = { type: 'token' as const, id: 't', permissions: new Set(['metrics.read']) };

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(prefix));
}

describe('metrics', () => {
  it('renders only for metrics.read (or a scope above it), with the node label on every series', async () => {
    const m = createMetrics({ nodeId: 'node-a', defaultMetrics: true });
    await assert.rejects(m.render({ type: 'token', id: 'x', permissions: new Set(['devices.read']) }), /forbidden/);
    const out = await m.render(reader);
    assert.match(out.contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(out.body, /rampart_process_cpu_user_seconds_total\{node="node-a"\}/);
    assert.ok((await m.render({ type: 'token', id: 'o', permissions: new Set(['*']) })).body.length > 0);
    // Pre-bound series exist from the start, at zero.
    assert.equal(line(out.body, 'rampart_device_requests_total{endpoint="checkin",type="Authenticate",outcome="ok"'), 'rampart_device_requests_total{endpoint="checkin",type="Authenticate",outcome="ok",node="node-a"} 0');
    assert.equal(line(out.body, 'rampart_pushes_total{result="invalid_token"'), 'rampart_pushes_total{result="invalid_token",node="node-a"} 0');
  });

  it('counts; unknown kinds and bad labels collapse, so clients cannot grow the label space', async () => {
    const m = createMetrics({ nodeId: 'n', defaultMetrics: false });
    m.device('checkin', 'TokenUpdate', 'ok');
    m.device('checkin', 'TokenUpdate', 'ok');
    m.device('connect', 'Made-Up', 'refused');
    m.commands('queued', 5);
    m.commands('acknowledged');
    m.push('sent', 3);
    m.push('failed', 0);
    for (let i = 0; i < 150; i++) m.security(`kind_${i}`);
    m.security('Bad Label"\n');
    const r = m.adminRoute('/api/v1/devices', 'GET');
    assert.equal(m.adminRoute('/api/v1/devices', 'GET'), r, 'children are bound once');
    r.observe(200, 0.002);
    r.observe(200, 0.3);
    r.observe(403, 0.001);
    const body = (await m.render(reader)).body;
    assert.match(body, /rampart_device_requests_total\{endpoint="checkin",type="TokenUpdate",outcome="ok",node="n"\} 2/);
    assert.match(body, /rampart_device_requests_total\{endpoint="connect",type="other",outcome="refused",node="n"\} 1/);
    assert.match(body, /rampart_commands_total\{event="queued",node="n"\} 5/);
    assert.match(body, /rampart_pushes_total\{result="sent",node="n"\} 3/);
    assert.match(body, /rampart_pushes_total\{result="failed",node="n"\} 0/);
    assert.match(body, /rampart_admin_http_requests_total\{route="\/api\/v1\/devices",method="GET",status="200",node="n"\} 2/);
    assert.match(body, /rampart_admin_http_request_duration_seconds_count\{node="n",route="\/api\/v1\/devices",method="GET"\} 3/);
    const kinds = body.split('\n').filter((l) => l.startsWith('rampart_security_events_total{'));
    assert.ok(kinds.length <= 101, `${kinds.length} kinds`);
    assert.match(body, /rampart_security_events_total\{kind="other",node="n"\} 51/);
    assert.ok(!body.includes('Bad Label'));
  });

  it('gauges read their sources at scrape time', async () => {
    let depth = 7;
    let cert: { notAfter: string; state: string } | null = { notAfter: '2026-06-02T00:00:00.000Z', state: 'expiring' };
    let checkpoint: string | null = '2026-05-31T23:59:30.000Z';
    const t = new Date('2026-06-01T00:00:00Z');
    const m = createMetrics({
      nodeId: 'n', defaultMetrics: false, now: () => t,
      sources: { outboxDepth: async () => depth, auditSize: async () => 42, lastCheckpointAt: async () => checkpoint, pushCertificate: async () => cert },
    });
    let body = (await m.render(reader)).body;
    assert.match(body, /rampart_push_outbox_depth\{node="n"\} 7/);
    assert.match(body, /rampart_audit_tree_size\{node="n"\} 42/);
    assert.match(body, /rampart_audit_checkpoint_age_seconds\{node="n"\} 30/);
    assert.match(body, /rampart_push_certificate_expiry_seconds\{state="expiring",node="n"\} 86400/);
    depth = 0;
    cert = null;
    checkpoint = null;
    body = (await m.render(reader)).body;
    assert.match(body, /rampart_push_outbox_depth\{node="n"\} 0/);
    assert.ok(!/rampart_push_certificate_expiry_seconds\{/.test(body), 'no series without a certificate');
    assert.match(body, /rampart_audit_checkpoint_age_seconds\{node="n"\} -1/);
  });

  it('security kinds come from refused events and failed sign-ins; the instrumented recorder counts once the event is durable', async () => {
    const ev = (action: string, outcome: AuditEvent['outcome'], details?: AuditEvent['details']): AuditEvent => ({ action, actor: { type: 'system', id: 's' }, outcome, ...(details ? { details } : {}) });
    assert.equal(securityKind(ev('gateway.integrity_violation', 'denied', { reason: 'identity_not_verified' })), 'gateway.integrity_violation:identity_not_verified');
    assert.equal(securityKind(ev('device_plane.rejected', 'denied', { reason: 'Not A Word' })), 'device_plane.rejected');
    assert.equal(securityKind(ev('enroll.challenge.denied', 'denied', { reason: 'used' })), 'enroll.challenge.denied:used');
    assert.equal(securityKind(ev('admin.access', 'denied', { reason: 'x' })), 'admin.access');
    assert.equal(securityKind(ev('auth.login', 'failure')), 'auth.login');
    assert.equal(securityKind(ev('push.certificate.upload', 'failure')), undefined);
    assert.equal(securityKind(ev('command.enqueue', 'success')), undefined);

    const m = createMetrics({ nodeId: 'n', defaultMetrics: false });
    const recorded: AuditEvent[] = [];
    let fail = false;
    const rec = instrumentAudit({ record: async (e) => { if (fail) throw new Error('disk'); recorded.push(e); } }, m);
    await rec.record(ev('command.enqueue', 'success'));
    await rec.record(ev('gateway.integrity_violation', 'denied', { reason: 'message_mismatch' }));
    fail = true;
    await assert.rejects(rec.record(ev('auth.login', 'failure')));
    assert.equal(recorded.length, 2);
    const body = (await m.render(reader)).body;
    assert.match(body, /rampart_audit_appends_total\{node="n"\} 2/);
    assert.match(body, /rampart_security_events_total\{kind="gateway.integrity_violation:message_mismatch",node="n"\} 1/);
    assert.ok(!body.includes('kind="auth.login"'), 'an event that was not recorded is not counted');
  });

  describe('GET /metrics on the admin server', () => {
    let s: TestStack;
    let app: FastifyInstance;
    before(async () => {
      s = await createTestStack();
      app = await createAdminServer({ ...s.adminDeps, metrics: createMetrics({ nodeId: 'node-t', defaultMetrics: false }) });
    });
    after(async () => {
      await app.close();
      await s.close();
    });

    it('401 without a token, 403 (on record) without metrics.read, 200 for a token scoped to metrics.read; requests are counted by route template', async () => {
      assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
      const weak = await s.tokenFor(['devices.read']);
      assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${weak}` } })).statusCode, 403);
      assert.equal(s.audit.events.at(-1)?.outcome, 'denied');
      assert.equal(s.audit.events.at(-1)?.details?.permission, 'metrics.read');
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/devices/UDID-1', headers: { authorization: `Bearer ${weak}` } })).statusCode, 404);
      assert.equal((await app.inject({ method: 'GET', url: '/no/such/route/123', headers: { authorization: `Bearer ${weak}` } })).statusCode, 404);
      // A URL Fastify cannot route (bad percent-encoding) is counted as unmatched, not a crash.
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/devices/%E0%A4%A', headers: { authorization: `Bearer ${weak}` } })).statusCode, 400);
      const scraper = await s.tokenFor(['metrics.read']);
      const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${scraper}` } });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.match(res.body, /rampart_admin_http_requests_total\{route="\/metrics",method="GET",status="401",node="node-t"\} 1/);
      assert.match(res.body, /rampart_admin_http_requests_total\{route="\/metrics",method="GET",status="403",node="node-t"\} 1/);
      assert.match(res.body, /rampart_admin_http_requests_total\{route="\/api\/v1\/devices\/:id",method="GET",status="404",node="node-t"\} 1/);
      assert.match(res.body, /rampart_admin_http_requests_total\{route="unmatched",method="GET",status="404",node="node-t"\} 1/);
      assert.match(res.body, /rampart_admin_http_requests_total\{route="[^"]*",method="GET",status="400",node="node-t"\} 1/);
      assert.ok(!res.body.includes('no/such'), 'request paths never become labels');
    });
  });
});
