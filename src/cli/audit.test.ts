import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { generateNoteKey } from '../audit/note.ts';
import { treeRoot } from '../audit/merkle.ts';
import { runCli } from './program.ts';
import type { CliIo } from './program.ts';

function io(env: Record<string, string | undefined>): CliIo & { out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s) }, env, out: () => o, err: () => e };
}

describe('rampart audit (API commands)', () => {
  let s: TestStack;
  let env: Record<string, string>;
  let dir: string;
  /** Index of the one failure entry (the stack's own set-up entries come first). */
  let failureIndex: number;
  before(async () => {
    s = await createTestStack();
    const base = await s.audit.log.store.size();
    failureIndex = base + 7;
    for (let i = 0; i < 25; i++) {
      await s.audit.record({ action: i % 2 ? 'admin.login' : 'device.checkin', actor: { type: 'admin', id: `a${i % 3}` }, outcome: i === 7 ? 'failure' : 'success', source: '192.0.2.1' });
    }
    await s.audit.log.checkpoint();
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = s.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    env = { RAMPART_URL: `http://127.0.0.1:${addr.port}`, RAMPART_TOKEN: await s.tokenFor(['audit.read']) };
    dir = mkdtempSync(path.join(tmpdir(), 'rampart-audit-cli-'));
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checkpoint: prints the note; --key checks the signature, a wrong key fails', async () => {
    const t = io(env);
    assert.equal(await runCli(['audit', 'checkpoint', '--key', s.audit.verifierKey], t), 0, t.err());
    assert.match(t.out(), /signature\s+verified/);
    assert.match(t.out(), /^rampart\.test\/audit$/m);
    const bad = io(env);
    assert.equal(await runCli(['audit', 'checkpoint', '--key', generateNoteKey('rampart.test').verifierKey], bad), 1);
    assert.match(bad.err(), /does not verify/);
  });

  it('proof: verified locally against the signed checkpoint', async () => {
    const t = io(env);
    assert.equal(await runCli(['audit', 'proof', '11', '--key', s.audit.verifierKey, '--json'], t), 0, t.err());
    const p = JSON.parse(t.out());
    assert.equal(p.verified, true);
    assert.equal(p.index, 11);
    assert.equal(p.size, s.audit.log.lastCheckpoint!.size);
    const plain = io(env);
    assert.equal(await runCli(['audit', 'proof', '3', '--size', '8'], plain), 0, plain.err());
    assert.match(plain.out(), /size\s+8/);
    assert.equal(await runCli(['audit', 'proof', '1x'], io(env)), 2);
  });

  it('consistency: checks a held root against the latest signed checkpoint', async () => {
    const root = Buffer.from(await treeRoot(s.audit.log.store, 10)).toString('hex');
    const t = io(env);
    assert.equal(await runCli(['audit', 'consistency', '10', '--root', root, '--key', s.audit.verifierKey], t), 0, t.err());
    assert.match(t.out(), /verified\s+yes/);
    const forged = io(env);
    assert.equal(await runCli(['audit', 'consistency', '10', '--root', 'ab'.repeat(32), '--key', s.audit.verifierKey], forged), 1);
    assert.match(forged.err(), /NOT consistent/);
  });

  it('search: filters and cursor', async () => {
    const t = io(env);
    assert.equal(await runCli(['audit', 'search', '--action', 'admin.login', '--actor', 'a1', '--limit', '2'], t), 0, t.err());
    assert.match(t.out(), /^INDEX\s+TIME\s+ACTION/);
    assert.match(t.out(), /more: --after \d+/);
    const j = io(env);
    assert.equal(await runCli(['audit', 'search', '--outcome', 'failure', '--json'], j), 0, j.err());
    assert.deepEqual(JSON.parse(j.out()).items.map((x: { index: number }) => x.index), [failureIndex]);
  });

  it('export: to a file (0600) that verifies offline with `rampart audit verify`', async () => {
    await s.audit.log.checkpoint();
    const file = path.join(dir, 'audit.jsonl');
    const t = io(env);
    assert.equal(await runCli(['audit', 'export', '--out', file], t), 0, t.err());
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const cpFile = path.join(dir, 'trusted.note');
    writeFileSync(cpFile, s.audit.log.lastCheckpoint!.note);
    const v = io(env);
    assert.equal(await runCli(['audit', 'verify', '--key', s.audit.verifierKey, '--checkpoint', cpFile, '--export', file], v), 0, v.out() + v.err());
    assert.match(v.out(), /^OK: /);
    // Filtered export to standard output.
    const f = io(env);
    assert.equal(await runCli(['audit', 'export', '--outcome', 'failure'], f), 0, f.err());
    const lines = f.out().trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).index, failureIndex);
    assert.ok(readFileSync(file, 'utf8').includes('"checkpoint"'));
  });
});
