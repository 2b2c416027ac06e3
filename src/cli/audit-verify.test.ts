import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AuditLog } from '../audit/log.ts';
import { generateNoteKey, parseSignerKey } from '../audit/note.ts';
import { FileCheckpointSink } from '../audit/sinks.ts';
import { SqliteAuditStore } from '../audit/store-sqlite.ts';
import { runCli } from './program.ts';

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) }, env: {} },
    out: () => out,
    err: () => err,
  };
}

test('rampart audit verify: 0 for an intact log, 1 naming the modified entry after tampering', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-audit-cli-'));
  const dbFile = path.join(dir, 'audit.db');
  const cpFile = path.join(dir, 'checkpoints.log');
  const keys = generateNoteKey('test.example');
  const db = new DatabaseSync(dbFile);
  const log = await AuditLog.open({ store: new SqliteAuditStore(db), origin: 'test.example/audit', signer: parseSignerKey(keys.signerKey), sinks: [new FileCheckpointSink(cpFile)] });
  for (let i = 0; i < 10; i++) await log.record({ action: 'command.enqueue', actor: { type: 'admin', id: 'a1' }, outcome: 'success', target: { type: 'command', id: `c${i}` } });
  await log.checkpoint();
  await log.sinksIdle();
  await log.close();
  db.close();

  const args = ['audit', 'verify', '--key', keys.verifierKey, '--checkpoint', cpFile, '--sqlite', dbFile];
  const ok = capture();
  assert.equal(await runCli(args, ok.io as never), 0, ok.err());
  assert.match(ok.out(), /^OK: 10 entries verified/m);

  const t = new DatabaseSync(dbFile);
  t.exec("UPDATE audit_entry SET entry = replace(entry, '\"c4\"', '\"c9\"') WHERE idx = 4");
  t.close();
  const bad = capture();
  assert.equal(await runCli(args, bad.io as never), 1);
  assert.match(bad.out(), /entry 4 modified/);
  assert.match(bad.err(), /did not verify/);
});
