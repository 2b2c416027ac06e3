// Two `rampart serve` processes on one PostgreSQL schema (one data directory,
// so one key file, CA and TLS certificate). Simulated devices work through
// their queues against both nodes alternately; one node is killed with
// SIGKILL mid-run. Afterwards: every queued command acknowledged, none
// recorded twice, exactly one command.result audit entry per command, and
// `rampart audit verify` accepts the combined log against the signed
// checkpoints the nodes published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { issueLocalIdentities } from '../../src/sim/identities.ts';
import type { SimDevice } from '../../src/sim/device.ts';
import { TEST_DATABASE_URL, dropSchema, pgSkipReason, randomSchema } from '../../src/cluster/testdata/pg.ts';
import { ROOT, api, removeDataDir, simDevice, startServerProcess, stopServerProcess, type ServerProcess } from './harness.ts';

const skip = await pgSkipReason();

test('two nodes on one database: SIGKILL of one loses no command, records none twice, and the audit log verifies', { skip, timeout: 300_000 }, async () => {
  const schema = randomSchema('rampart_e2e');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-two-nodes-'));
  const env = (node: string): Record<string, string> => ({
    RAMPART_DATABASE_URL: TEST_DATABASE_URL,
    RAMPART_DATABASE_SCHEMA: schema,
    RAMPART_NODE_ID: node,
  });
  // Both start at once: the start-up lock lets exactly one bootstrap.
  const nodes: ServerProcess[] = await Promise.all(['node-a', 'node-b'].map((n) => startServerProcess({ dataDir, env: env(n) })));
  const [a, b] = nodes as [ServerProcess, ServerProcess];
  try {
    // The start-up banner can arrive in several chunks: wait for its last lines.
    const tokenOf = (n: ServerProcess): string | undefined => /One-time credential[^\n]*\n\s+(rmp_\S+)/.exec(n.output())?.[1];
    for (let i = 0; i < 200 && !nodes.every((n) => /Audit checkpoints:.*\n/.test(n.output())); i++) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 40 && !nodes.some((n) => tokenOf(n) !== undefined); i++) await new Promise((r) => setTimeout(r, 50));
    const tokens = nodes.map(tokenOf).filter((t) => t !== undefined);
    assert.equal(tokens.length, 1, 'one first administrator');
    a.token = b.token = tokens[0];
    const verifierKeys = nodes.map((n) => /Audit verifier key:\s+(\S+)/.exec(n.output())?.[1]);
    assert.ok(verifierKeys[0]);
    assert.equal(verifierKeys[0], verifierKeys[1]);

    const D = 4;
    const PER_DEVICE = 15;
    const { identities, caPem } = await issueLocalIdentities(dataDir, D, { databaseUrl: TEST_DATABASE_URL, databaseSchema: schema });
    // Each device has one simulator per node sharing its state.
    const devices: { onA: SimDevice; onB: SimDevice }[] = identities.map((id) => {
      const onA = simDevice(a, id, caPem);
      const onB = simDevice(b, id, caPem, { udid: onA.udid });
      Object.assign(onB.state, onA.state);
      return { onA, onB };
    });
    for (const [i, d] of devices.entries()) await (i % 2 ? d.onB : d.onA).enroll();

    // Commands queued through both nodes' admin APIs: one device per command.
    const uuids: string[] = [];
    for (let i = 0; i < D * PER_DEVICE; i++) {
      const dev = devices[i % D]!.onA;
      const r = await api(i % 2 ? b : a, 'POST', '/api/v1/commands', {
        deviceIds: [dev.udid],
        requestType: i % 3 ? 'DeviceInformation' : 'SecurityInfo',
        payload: i % 3 ? { Queries: ['OSVersion', 'SerialNumber'] } : {},
      });
      assert.ok(r.status < 300, JSON.stringify(r.json));
      uuids.push((r.json as { commandUuid: string }).commandUuid.toLowerCase());
    }

    // Devices alternate between the nodes, a few commands per session, all at once;
    // node B is killed in the middle of it.
    let bAlive = true;
    let executedAtKill = -1;
    const executedSoFar = (): number => devices.reduce((n, d) => n + d.onA.executed.length + d.onB.executed.length, 0);
    // Kill B once about a third of the commands ran (at a random point of a session).
    const killAt = Math.floor(uuids.length / 3) + Math.floor(Math.random() * 5);
    const killer = setInterval(() => {
      if (!bAlive || executedSoFar() < killAt) return;
      bAlive = false;
      executedAtKill = executedSoFar();
      b.child.kill('SIGKILL');
    }, 2);
    await Promise.all(devices.map(async (d, i) => {
      for (let round = 0; round < 200; round++) {
        const dev = (round + i) % 2 === 1 && bAlive ? d.onB : d.onA;
        try {
          const handled = await dev.connect({ stopAfter: 2 });
          if (handled.length === 0 && round > 4) return;
        } catch {
          /* node B died mid-session */
        }
      }
    }));
    clearInterval(killer);
    if (bAlive) {
      bAlive = false;
      b.child.kill('SIGKILL');
    }
    await b.exited;
    // Whatever is left is finished on node A.
    for (const d of devices) {
      for (let i = 0; i < 50; i++) if ((await d.onA.connect()).length === 0) break;
    }

    // The kill really fell mid-run: B had served commands, A served the rest.
    assert.ok(executedAtKill > 0 && executedAtKill < uuids.length, `killed after ${executedAtKill} of ${uuids.length}`);
    assert.ok(devices.some((d) => d.onB.executed.length > 0), 'node B served commands before it died');
    const executed = new Map<string, number>();
    for (const d of devices) for (const sim of [d.onA, d.onB]) for (const u of sim.executed) executed.set(u.toLowerCase(), (executed.get(u.toLowerCase()) ?? 0) + 1);
    for (const d of devices) for (const sim of [d.onA, d.onB]) sim.close();
    for (let i = 0; i < uuids.length; i++) {
      const uuid = uuids[i]!;
      const dev = devices[i % D]!.onA;
      const r = await api(a, 'GET', `/api/v1/commands/${uuid}/devices/${dev.udid}`);
      assert.equal(r.status, 200, `command ${uuid} was lost: ${JSON.stringify(r.json)}`);
      assert.equal((r.json as { status: string }).status, 'acknowledged', `command ${uuid}`);
      assert.ok((executed.get(uuid) ?? 0) >= 1, `device never executed ${uuid}`);
    }
    // A re-send happens only where the kill cut a session between command and answer.
    const resent = [...executed.values()].filter((n) => n > 1).length;
    assert.ok(resent <= D, `at most one re-send per device, saw ${resent}`);

    // Node A becomes (or stays) the checkpoint signer; a clean stop signs the final head.
    await new Promise((r) => setTimeout(r, 2500));
    await stopServerProcess(a);

    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    let total: number;
    try {
      const rows = await c.query(`select lower(target_id) as id, count(*)::int as n from "${schema}".audit_entry where action = 'command.result' group by 1`);
      const per = new Map((rows.rows as { id: string; n: number }[]).map((r) => [r.id, r.n]));
      for (const u of uuids) assert.equal(per.get(u), 1, `audit results for ${u}`);
      total = Number(((await c.query(`select count(*) as n from "${schema}".audit_entry`)).rows[0] as { n: string }).n);
    } finally {
      await c.end();
    }
    const verify = spawnSync(process.execPath, [
      path.join(ROOT, 'src', 'cli', 'main.ts'), 'audit', 'verify',
      '--postgres', TEST_DATABASE_URL, '--schema', schema,
      '--key', verifierKeys[0]!, '--checkpoint', path.join(dataDir, 'audit-checkpoints.log'),
    ], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, new RegExp(`OK: ${total} entries verified`));
  } finally {
    for (const n of nodes) await stopServerProcess(n, 'SIGKILL');
    removeDataDir(dataDir);
    await dropSchema(schema);
  }
});
