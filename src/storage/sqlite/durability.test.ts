// kill -9 durability on SQLite: a child process enqueues and acknowledges in a
// loop, reporting each operation after it was acknowledged; we SIGKILL it at a
// random moment, reopen the file and require every reported operation to be
// there, and no enqueue to be half applied.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openSqliteStorage } from '../open.ts';

const CHILD = new URL('./durability-child.ts', import.meta.url);

async function runAndKill(path: string, killAfterMs: number): Promise<{ enqueued: string[]; acked: string[] }> {
  const child = fork(CHILD, [path], { execPath: process.execPath, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const enqueued: string[] = [];
  const acked: string[] = [];
  let buf = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'READY') timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      else if (line.startsWith('E ')) enqueued.push(line.slice(2));
      else if (line.startsWith('A ')) acked.push(line.slice(2));
    }
  });
  const signal = await exited;
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `child ended without being killed: ${stderr}`);
  return { enqueued, acked };
}

test('SQLite: every acknowledged operation survives kill -9; no enqueue is half applied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-durability-'));
  try {
    const path = join(dir, 'd.db');
    const reported = { enqueued: [] as string[], acked: [] as string[] };
    for (let round = 0; round < 3; round++) {
      const r = await runAndKill(path, 150 + Math.floor(Math.random() * 400));
      reported.enqueued.push(...r.enqueued);
      reported.acked.push(...r.acked);
    }
    t.diagnostic(`reported ${reported.enqueued.length} enqueues, ${reported.acked.length} acks before the kills`);
    assert.ok(reported.enqueued.length > 0, 'child made progress');
    assert.ok(reported.acked.length > 0, 'child acknowledged something');

    const raw = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal((raw.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
      // All or nothing: every stored command has exactly one row per device.
      const partial = raw.prepare(`select c.uuid, count(q.seq) n from commands c left join command_queue q on q.command_uuid = c.uuid
        group by c.uuid having count(q.seq) <> 50`).all();
      assert.deepEqual(partial, []);
    } finally {
      raw.close();
    }

    const opened = await openSqliteStorage(path);
    try {
      await opened.migrate();
      for (const uuid of reported.enqueued) {
        assert.ok(await opened.storage.queue.getCommand(uuid), `reported enqueue ${uuid} survived`);
      }
      for (const uuid of reported.acked) {
        assert.equal((await opened.storage.queue.entry('dev-0', uuid))?.status, 'acknowledged', `reported ack ${uuid} survived`);
      }
    } finally {
      await opened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
