// GET /metrics on the real server process: only with metrics.read (an API
// token scoped to it works for a scraper), never on the device listener, and
// the counters move with real traffic from a simulated device.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { api, enrolledIdentities, removeDataDir, simDevice, startServerProcess, stopServerProcess, type ServerProcess } from './harness.ts';
import type { SimIdentity } from '../../src/sim/device.ts';

let server: ServerProcess;
let identities: SimIdentity[];
let caPem: string;

before(async () => {
  server = await startServerProcess();
  ({ identities, caPem } = await enrolledIdentities(server, 1));
});
after(async () => {
  await stopServerProcess(server);
  removeDataDir(server.dataDir);
});

async function scrape(token: string | null): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${server.adminUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** The value of one series (labels in any order; the node label included). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2]);
  }
  return Number.NaN;
}

async function token(scopes: string[]): Promise<string> {
  const r = await api(server, 'POST', '/api/v1/tokens', { name: `scraper-${scopes.join('-')}`, scopes });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return (r.json as { token: string }).token;
}

function rawDevice(path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const base = new URL(server.deviceUrl);
    const req = https.request({ host: base.hostname, port: base.port, path, method, ca: caPem, headers: { 'content-length': '1' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('x');
  });
}

test('GET /metrics needs a token with metrics.read; the device listener has no metrics route', async () => {
  assert.equal((await scrape(null)).status, 401);
  assert.equal((await scrape('rmp_wrong')).status, 401);
  const weak = await token(['devices.read']);
  assert.equal((await scrape(weak)).status, 403);
  const scraper = await token(['metrics.read']);
  const ok = await scrape(scraper);
  assert.equal(ok.status, 200);
  assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
  assert.match(ok.text, /# TYPE rampart_admin_http_requests_total counter/);
  assert.match(ok.text, /rampart_process_cpu_user_seconds_total\{node="[^"]+"\}/, 'default process metrics with the node label');
  // The refusal above went on record and counts as a security event.
  assert.ok(value(ok.text, 'rampart_admin_http_requests_total', { route: '/metrics', method: 'GET', status: '403' }) >= 1);
  assert.ok(value(ok.text, 'rampart_security_events_total', { kind: 'admin.access' }) >= 1);
  // A scoped token cannot do anything else.
  assert.equal((await api(server, 'GET', '/api/v1/devices', undefined, scraper)).status, 403);
  assert.equal(await rawDevice('/metrics'), 404);
});

test('counters move with real traffic: check-ins, connects, commands, audit appends, refused device requests', async () => {
  const scraper = await token(['metrics.read']);
  const before = (await scrape(scraper)).text;
  const dev = simDevice(server, identities[0]!, caPem);
  try {
    await dev.enroll();
    const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: 'DeviceInformation', payload: { Queries: ['SerialNumber'] }, push: false });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    dev.state.notNowOnce.add('SecurityInfo');
    assert.equal((await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: 'SecurityInfo', push: false })).status, 201);
    const handled = await dev.connect();
    assert.deepEqual(handled.map((h) => h.status), ['Acknowledged', 'NotNow']);
  } finally {
    dev.close();
  }
  // Unsigned device requests: refused by the gateway, recorded by the core.
  assert.equal(await rawDevice('/mdm/checkin', 'PUT'), 401);
  let after = '';
  for (let i = 0; i < 50; i++) {
    after = (await scrape(scraper)).text;
    if (value(after, 'rampart_security_events_total', { kind: 'device_plane.rejected:missing_signature' }) >= 1) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const delta = (name: string, labels: Record<string, string> = {}): number => (value(after, name, labels) || 0) - (value(before, name, labels) || 0);
  assert.equal(delta('rampart_device_requests_total', { endpoint: 'checkin', type: 'Authenticate', outcome: 'ok' }), 1);
  assert.equal(delta('rampart_device_requests_total', { endpoint: 'checkin', type: 'TokenUpdate', outcome: 'ok' }), 1);
  assert.equal(delta('rampart_device_requests_total', { endpoint: 'connect', type: 'Acknowledged', outcome: 'ok' }), 1);
  assert.equal(delta('rampart_device_requests_total', { endpoint: 'connect', type: 'NotNow', outcome: 'ok' }), 1);
  assert.ok(delta('rampart_device_requests_total', { endpoint: 'connect', type: 'Idle', outcome: 'ok' }) >= 1);
  assert.equal(delta('rampart_commands_total', { event: 'queued' }), 2);
  assert.equal(delta('rampart_commands_total', { event: 'acknowledged' }), 1);
  assert.equal(delta('rampart_commands_total', { event: 'notnow' }), 1);
  assert.equal(delta('rampart_admin_http_requests_total', { route: '/api/v1/commands', method: 'POST', status: '201' }), 2);
  assert.ok(delta('rampart_audit_appends_total') >= 5);
  assert.ok(value(after, 'rampart_audit_tree_size') > value(before, 'rampart_audit_tree_size'));
  assert.ok(delta('rampart_security_events_total', { kind: 'device_plane.rejected:missing_signature' }) >= 1, after.split('\n').filter((l) => l.startsWith('rampart_security')).join('\n'));
  assert.ok(value(after, 'rampart_push_outbox_depth') >= 0);
  const age = value(after, 'rampart_audit_checkpoint_age_seconds');
  assert.ok(age >= 0 && age < 600, `checkpoint age ${age}`);
});
