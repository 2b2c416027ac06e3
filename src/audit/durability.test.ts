import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { generateNoteKey } from './note.ts';
import { readCheckpointFile } from './sinks.ts';
import { SqliteAuditStore } from './store-sqlite.ts';
import { AuditLog } from './log.ts';
import { parseSignerKey } from './note.ts';
import { verifyLog } from './verify.ts';
import { tempDir } from './testdata/helpers.ts';

const CHILD = fileURLToPath(new URL('./testdata/durability-child.ts', import.meta.url));

test('kill -9 while appending: every acknowledged entry survives and the log still verifies', async () => {
  const td = tempDir();
  const key = generateNoteKey('rampart.test/audit');
  const dbPath = join(td.dir, 'audit.db');
  const sinkPath = join(td.dir, 'checkpoints.jsonl');
  try {
    for (let round = 0; round < 2; round++) {
      const child = spawn(process.execPath, [CHILD, dbPath, key.signerKey, sinkPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      const acked: number[] = [];
      let buf = '';
      let ready = false;
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', () => resolve());
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop() ?? '';
          for (const l of lines) {
            if (l === 'ready') ready = true;
            else acked.push(Number(l));
          }
          // Kill at a random moment once enough acknowledgements and checkpoints exist.
          if (acked.length >= 3000 + Math.floor(Math.random() * 2000) && !child.killed) child.kill('SIGKILL');
        });
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      });
      assert.ok(ready && acked.length >= 3000, `acknowledged ${acked.length}`);

      const db = new DatabaseSync(dbPath);
      const store = new SqliteAuditStore(db);
      await store.init();
      const size = await store.size();
      const max = Math.max(...acked);
      assert.ok(size > max, `size ${size} must exceed every acknowledged index (max ${max})`);
      const have = new Set<number>();
      for await (const e of store.readEntries(0)) have.add(e.index);
      for (const i of acked) assert.ok(have.has(i), `acknowledged entry ${i} lost`);

      const cps = readCheckpointFile(sinkPath);
      assert.ok(cps.length > 0);
      const trusted = cps[cps.length - 1]!.note;
      const r = await verifyLog(store, trusted, key.verifierKey);
      assert.deepEqual(r.findings, []);
      // The log reopens for writing and continues.
      const log = await AuditLog.open({ store, origin: 'rampart.test/audit', signer: parseSignerKey(key.signerKey) });
      await log.record({ action: 'system.restart', actor: { type: 'system', id: 'test' }, outcome: 'success' });
      await log.close();
      db.close();
    }
  } finally {
    td.cleanup();
  }
});
