// `rampart login` against the real admin server: first sign-in of the
// bootstrap administrator (credential → new password → TOTP enrolment →
// recovery codes), the saved 0600 session used by other commands, a later
// sign-in with a code, and logout.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { codeFor } from '../identity/testing.ts';
import { runCli } from './program.ts';
import type { CliIo } from './program.ts';

describe('rampart login', () => {
  let s: TestStack;
  let url: string;
  let dir: string;
  before(async () => {
    s = await createTestStack();
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = s.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `http://127.0.0.1:${addr.port}`;
    dir = mkdtempSync(path.join(tmpdir(), 'rampart-cli-login-'));
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function io(answers: (question: string, err: string) => string): CliIo & { out: () => string; err: () => string } {
    let o = '';
    let e = '';
    return {
      stdout: { write: (x: string) => (o += x) },
      stderr: { write: (x: string) => (e += x) },
      env: { RAMPART_URL: url, RAMPART_SESSION_FILE: path.join(dir, 'session.json') },
      prompt: async (q) => answers(q, e),
      out: () => o,
      err: () => e,
    };
  }

  const NEW_PW = 'a long and new passphrase';
  let secret = '';

  it('first sign-in: one-time credential, new password, TOTP enrolment, recovery codes; the session file is 0600', async () => {
    const t = io((q, err) => {
      if (q.startsWith('Username')) return 'root';
      if (q.startsWith('Password')) return s.rootToken;
      if (q.startsWith('New password') || q.startsWith('Repeat')) return NEW_PW;
      if (q.startsWith('Code from the app')) {
        secret = /\(secret ([A-Z2-7]+)\)/.exec(err)![1]!;
        return codeFor(secret, s.clock.now);
      }
      throw new Error(`unexpected prompt ${q}`);
    });
    assert.equal(await runCli(['login'], t), 0, t.err());
    assert.match(t.err(), /otpauth:\/\/totp\//);
    assert.equal(t.out().split('\n').filter((l) => /^ {2}[a-z2-9]{4}-/.test(l)).length, 10);
    const file = path.join(dir, 'session.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // Other commands use the saved session.
    const list = io(() => '');
    assert.equal(await runCli(['devices', 'list'], list), 0, list.err());
  });

  it('a session file readable by others is refused', async () => {
    const file = path.join(dir, 'session.json');
    chmodSync(file, 0o644);
    const t = io(() => '');
    assert.equal(await runCli(['devices', 'list'], t), 1);
    assert.match(t.err(), /readable by others/);
    chmodSync(file, 0o600);
  });

  it('later sign-in with password and code; logout revokes the session and deletes the file', async () => {
    s.clock.now = new Date(s.clock.now.getTime() + 30_000);
    const t = io((q) => (q.startsWith('Username') ? 'root' : q.startsWith('Password') ? NEW_PW : codeFor(secret, s.clock.now)));
    assert.equal(await runCli(['login'], t), 0, t.err());
    const before = s.audit.events.filter((e) => e.action === 'auth.logout').length;
    const out = io(() => '');
    assert.equal(await runCli(['logout'], out), 0, out.err());
    assert.equal(existsSync(path.join(dir, 'session.json')), false);
    assert.equal(s.audit.events.filter((e) => e.action === 'auth.logout').length, before + 1);
    const after = io(() => '');
    assert.equal(await runCli(['devices', 'list'], after), 1);
  });

  it('a wrong code fails without saving anything', async () => {
    s.clock.now = new Date(s.clock.now.getTime() + 30_000);
    const good = codeFor(secret, s.clock.now);
    const t = io((q) => (q.startsWith('Username') ? 'root' : q.startsWith('Password') ? NEW_PW : good === '000000' ? '111111' : '000000'));
    assert.equal(await runCli(['login'], t), 1);
    assert.match(t.err(), /invalid credentials/);
    assert.equal(existsSync(path.join(dir, 'session.json')), false);
  });
});
