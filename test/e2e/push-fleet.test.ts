// End to end: the real server process pushes through APNs to the simulator's
// local HTTP/2 APNs stand-in; simulated devices wake only on their push and
// connect. A fleet-wide DeviceLock (POST /api/v1/commands/bulk) reaches every
// device and its progress ends with all acknowledged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { api, removeDataDir, startServerProcess, stopServerProcess } from './harness.ts';
import { issueLocalIdentities } from '../../src/sim/identities.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import { createLocalPushCertificate } from '../../src/push/local-apns.ts';

const TOPIC = 'com.apple.mgmt.External.rampart-development';

test('fleet-wide lock: queued, pushed through the local APNs server, devices wake and acknowledge', { timeout: 180_000 }, async () => {
  const push = await createLocalPushCertificate({ topic: TOPIC });
  // First start creates the data directory and CA; identities come from it.
  let server = await startServerProcess();
  const dataDir = server.dataDir;
  const token = server.token!;
  await stopServerProcess(server);
  const { identities } = await issueLocalIdentities(dataDir, 3);
  const sim = await startSimFleet({ topic: TOPIC, identities, count: 40, pushClientCaPem: push.caPem, sessions: 8 });
  const caFile = path.join(dataDir, 'apns-ca.pem');
  writeFileSync(caFile, sim.apns.caPem);
  // Installing a push certificate is a four-eyes action by default (its own tests cover that); this test is about push.
  server = await startServerProcess({ dataDir, env: { RAMPART_APNS_URL: sim.apns.url, RAMPART_APNS_CA_FILE: caFile, RAMPART_AUTHZ: JSON.stringify({ approvals: { actions: [] } }) } });
  server.token = token;
  try {
    sim.connectTo(server.deviceUrl, readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8'));
    for (const d of sim.devices) await sim.enroll(d);
    let r = await api(server, 'POST', '/api/v1/push/certificate', { certPem: push.certPem, keyPem: push.keyPem });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    r = await api(server, 'POST', '/api/v1/commands/bulk', { requestType: 'DeviceLock', payload: { Message: 'Lost' }, selection: { filter: {} } });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const jobId = (r.json as { jobId: string }).jobId;
    let p: { state: string; total: number; pushed: number; acknowledged: number; notYetSeen: number } = { state: '', total: 0, pushed: 0, acknowledged: 0, notYetSeen: 0 };
    for (let i = 0; i < 600; i++) {
      p = (await api(server, 'GET', `/api/v1/commands/bulk/${jobId}`)).json as typeof p;
      if (p.state === 'done' && p.acknowledged === 40) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.deepEqual({ state: p.state, total: p.total, pushed: p.pushed, acknowledged: p.acknowledged, notYetSeen: p.notYetSeen }, { state: 'done', total: 40, pushed: 40, acknowledged: 40, notYetSeen: 0 });
    // Every device was woken by exactly one push for this one enqueue.
    assert.equal(sim.stats.pushes, 40);
    assert.equal(sim.stats.failures, 0);
    assert.equal(sim.stats.commands, 40);
    // The metrics saw the same: 40 rows pushed, none failed, the outbox drained, 40 queued and acknowledged.
    const res = await fetch(`${server.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    const metric = (re: RegExp): number => Number(re.exec(text)?.[1]);
    assert.equal(metric(/^rampart_pushes_total\{result="sent",node="[^"]+"\} (\S+)$/m), 40);
    assert.equal(metric(/^rampart_pushes_total\{result="failed",node="[^"]+"\} (\S+)$/m), 0);
    assert.equal(metric(/^rampart_push_outbox_depth\{node="[^"]+"\} (\S+)$/m), 0);
    assert.equal(metric(/^rampart_commands_total\{event="queued",node="[^"]+"\} (\S+)$/m), 40);
    assert.equal(metric(/^rampart_commands_total\{event="acknowledged",node="[^"]+"\} (\S+)$/m), 40);
    assert.ok(metric(/^rampart_push_certificate_expiry_seconds\{state="valid",node="[^"]+"\} (\S+)$/m) > 0);
  } finally {
    await sim.close();
    await stopServerProcess(server);
    removeDataDir(dataDir);
  }
});
