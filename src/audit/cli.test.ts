import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createWriteStream, writeFileSync } from 'node:fs';
import { AuditLog } from './log.ts';
import { generateNoteKey, parseSignerKey } from './note.ts';
import { FileCheckpointSink } from './sinks.ts';
import { writeExport } from './export.ts';
import { parseAuditVerifyArgs, runAuditVerifyCli } from './cli.ts';
import { sqliteStore, tempDir } from './testdata/helpers.ts';

test('rampart audit verify: export and sqlite, exit codes', async () => {
  const fx = await sqliteStore();
  const td = tempDir();
  const key = generateNoteKey('rampart.test/audit');
  try {
    const sink = join(td.dir, 'cps.jsonl');
    const log = await AuditLog.open({ store: fx.store, origin: 'rampart.test/audit', signer: parseSignerKey(key.signerKey), sinks: [new FileCheckpointSink(sink)] });
    for (let i = 0; i < 30; i++) await log.record({ action: 'admin.login', actor: { type: 'admin', id: 'a' }, outcome: 'success', details: { i } });
    await log.close();
    const exp = join(td.dir, 'export.jsonl');
    const ws = createWriteStream(exp);
    await writeExport(fx.store, ws);
    await new Promise<void>((r) => ws.end(r));
    let out = '';
    const w = (s: string) => void (out += s);
    assert.equal(await runAuditVerifyCli(['--key', key.verifierKey, '--checkpoint', sink, '--export', exp], w), 0);
    assert.match(out, /^OK: 30 entries verified/);
    out = '';
    assert.equal(await runAuditVerifyCli(['--key', key.verifierKey, '--checkpoint', sink, '--sqlite', fx.path, '--json'], w), 0);
    assert.equal(JSON.parse(out).ok, true);

    fx.db.prepare('DELETE FROM audit_entry WHERE idx = 4').run();
    out = '';
    assert.equal(await runAuditVerifyCli(['--key', key.verifierKey, '--checkpoint', sink, '--sqlite', fx.path], w), 1);
    assert.match(out, /entry 4 deleted/);

    const other = generateNoteKey('rampart.test/audit');
    out = '';
    assert.equal(await runAuditVerifyCli(['--key', other.verifierKey, '--checkpoint', sink, '--export', exp], w), 2);
    assert.match(out, /not signed by a trusted key/);
    const noteFile = join(td.dir, 'cp.txt');
    writeFileSync(noteFile, 'garbage');
    assert.equal(await runAuditVerifyCli(['--key', key.verifierKey, '--checkpoint', noteFile, '--export', exp], w), 2);
    assert.throws(() => parseAuditVerifyArgs(['--key', 'k', '--checkpoint', 'c']), /exactly one/);
    assert.throws(() => parseAuditVerifyArgs(['--bogus']), /unknown argument/);
  } finally {
    await fx.cleanup();
    td.cleanup();
  }
});

test('--help prints the usage and exits 0', async () => {
  let out = '';
  assert.equal(await runAuditVerifyCli(['--help'], (s) => (out += s)), 0);
  assert.match(out, /^usage: rampart audit verify --key/);
});
