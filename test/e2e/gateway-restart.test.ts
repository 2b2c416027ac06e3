// The supervisor restarts the device gateway when it dies; the core, its
// queue and the admin API are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { api, enrolledIdentities, removeDataDir, simDevice, startServerProcess, stopServerProcess } from './harness.ts';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* the process went away */
    }
  }
  return out;
}

test('kill -9 of the gateway: the supervisor starts a new one and devices carry on', async () => {
  const server = await startServerProcess();
  try {
    const { identities, caPem } = await enrolledIdentities(server, 1);
    const dev = simDevice(server, identities[0]!, caPem);
    await dev.enroll();
    const gateways = childrenOf(server.child.pid!);
    assert.equal(gateways.length, 1, 'one gateway process');
    const cmdline = readFileSync(`/proc/${gateways[0]}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes('--permission'), 'the gateway runs under the permission model');
    assert.ok(cmdline.includes('--no-experimental-sqlite'));
    process.kill(gateways[0]!, 'SIGKILL');
    const queued = await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: 'DeviceLock', payload: {} });
    assert.ok(queued.status < 300, 'the admin API is unaffected');
    dev.close();
    let handled: { requestType: string; status: string }[] | undefined;
    for (let i = 0; i < 100 && !handled; i++) {
      const again = simDevice(server, identities[0]!, caPem, { udid: dev.udid });
      try {
        handled = await again.connect();
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        again.close();
      }
    }
    assert.deepEqual(handled?.map((h) => [h.requestType, h.status]), [['DeviceLock', 'Acknowledged']]);
    const now = childrenOf(server.child.pid!);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], gateways[0], 'a new gateway process');
  } finally {
    await stopServerProcess(server);
    removeDataDir(server.dataDir);
  }
});
