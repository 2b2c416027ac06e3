// kill -9 of the server at any moment loses no queued command and records no
// result twice: the server is killed repeatedly while a device works through
// its queue, restarted on the same data directory, and the queue is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { api, enrolledIdentities, removeDataDir, simDevice, startServerProcess, stopServerProcess, type ServerProcess } from './harness.ts';

test('SIGKILL during delivery loses no command and acknowledges none twice', { timeout: 300_000 }, async () => {
  let server: ServerProcess = await startServerProcess();
  const dataDir = server.dataDir;
  try {
  const token = server.token!;
  const { identities, caPem } = await enrolledIdentities(server, 1);
  let dev = simDevice(server, identities[0]!, caPem);
  await dev.enroll();
  const N = 60;
  const uuids: string[] = [];
  for (let i = 0; i < N; i++) {
    const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: i % 2 ? 'DeviceInformation' : 'SecurityInfo', payload: i % 2 ? { Queries: ['OSVersion', 'SerialNumber'] } : {} });
    assert.ok(r.status < 300, JSON.stringify(r.json));
    uuids.push((r.json as { commandUuid: string }).commandUuid);
  }
  const executed = new Map<string, number>();
  const count = (d: typeof dev): void => {
    for (const u of d.executed) executed.set(u.toLowerCase(), (executed.get(u.toLowerCase()) ?? 0) + 1);
  };
  const state = dev.state;
  for (let round = 0; round < 8; round++) {
    // Work through the queue while the server is killed after a random delay.
    const killAfter = 5 + Math.floor(Math.random() * 60);
    const killer = setTimeout(() => server.child.kill('SIGKILL'), killAfter);
    try {
      await dev.connect();
    } catch {
      /* the server died mid-conversation */
    }
    clearTimeout(killer);
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    await server.exited;
    count(dev);
    dev.close();
    server = await startServerProcess({ dataDir });
    server.token = token;
    dev = simDevice(server, identities[0]!, caPem, { udid: state.udid });
    Object.assign(dev.state, { ...state, notNowOnce: new Set() });
  }
  // Let the device finish on a server that stays up.
  for (let i = 0; i < 5; i++) {
    const handled = await dev.connect();
    if (handled.length === 0) break;
  }
  count(dev);
  dev.close();
  const acknowledged: string[] = [];
  for (const uuid of uuids) {
    const r = await api(server, 'GET', `/api/v1/commands/${uuid}/devices/${state.udid}`);
    assert.equal(r.status, 200, `command ${uuid} was lost: ${JSON.stringify(r.json)}`);
    const entry = r.json as { status: string; deliveries: number };
    assert.equal(entry.status, 'acknowledged', `command ${uuid} ended ${entry.status}`);
    acknowledged.push(uuid);
    assert.ok((executed.get(uuid.toLowerCase()) ?? 0) >= 1, `device never executed ${uuid}`);
  }
  assert.equal(acknowledged.length, N);
  // Every command reached the device; a re-send happens only when the kill hit between send and answer.
  const resent = [...executed.values()].filter((n) => n > 1).length;
  assert.ok(resent <= 8, `at most one re-send per kill, saw ${resent}`);
  // The audit log holds exactly one result per command, however often the server died.
  await stopServerProcess(server);
  const audit = new DatabaseSync(path.join(dataDir, 'audit.db'), { readOnly: true });
  const rows = audit.prepare("SELECT target_id AS id, COUNT(*) AS n FROM audit_entry WHERE action = 'command.result' GROUP BY target_id").all() as { id: string; n: number }[];
  audit.close();
  const perCommand = new Map(rows.map((r) => [r.id.toLowerCase(), r.n]));
  for (const uuid of uuids) assert.equal(perCommand.get(uuid.toLowerCase()), 1, `audit results for ${uuid}`);
  } finally {
    await stopServerProcess(server, 'SIGKILL');
    removeDataDir(dataDir);
  }
});
