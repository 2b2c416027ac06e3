import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { runCli } from './program.ts';
import type { CliIo } from './program.ts';

const DEVICE = 'UDID-CLI-0001';
const UUID = '0b9e5a38-2f0e-4d8e-9a3c-6e1f2d3c4b5a';

function io(env: Record<string, string | undefined> = {}, extra: Partial<CliIo> = {}): CliIo & { out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return {
    stdout: { write: (s: string) => (o += s) },
    stderr: { write: (s: string) => (e += s) },
    env,
    ...extra,
    out: () => o,
    err: () => e,
  };
}

describe('rampart CLI against a running admin server', () => {
  let s: TestStack;
  let url: string;
  before(async () => {
    s = await createTestStack();
    await s.addDevice(DEVICE, { serialNumber: 'C02CLI0001', deviceName: 'Evil\u001b[31mName', osVersion: '18.1', productName: 'iPhone17,1' });
    await s.addDevice('UDID-CLI-0002', { serialNumber: 'C02CLI0002', deviceName: 'Second' });
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = s.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `http://127.0.0.1:${addr.port}`;
  });
  after(async () => {
    await s.close();
  });

  it('devices list prints a table with terminal escapes neutralised', async () => {
    const t = io({ RAMPART_URL: url, RAMPART_TOKEN: s.rootToken });
    assert.equal(await runCli(['devices', 'list'], t), 0, t.err());
    assert.match(t.out(), /^ID\s+STATUS\s+SERIAL/);
    assert.match(t.out(), /UDID-CLI-0001\s+enrolled\s+C02CLI0001\s+Evil\?\[31mName/);
    assert.ok(!t.out().includes('\u001b'));
  });

  it('devices list --json and filters', async () => {
    const t = io();
    assert.equal(await runCli(['devices', 'list', '--json', '--url', url, '--token', s.rootToken, '--search', 'second', '--limit', '5'], t), 0, t.err());
    const page = JSON.parse(t.out()) as { items: Array<{ id: string }> };
    assert.deepEqual(page.items.map((d) => d.id), ['UDID-CLI-0002']);
  });

  it('devices show', async () => {
    const t = io({ RAMPART_URL: url, RAMPART_TOKEN: s.rootToken });
    assert.equal(await runCli(['devices', 'show', DEVICE], t), 0, t.err());
    assert.match(t.out(), /serial number\s+C02CLI0001/);
    assert.match(t.out(), /push token\s+no/);
  });

  it('command send, status, result, list and cancel', async () => {
    const env = { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken };
    let t = io(env);
    assert.equal(await runCli(['command', 'send', 'DeviceLock', '--device', DEVICE, 'UDID-CLI-0002', '--payload', '{"Message":"call IT"}', '--uuid', UUID], t), 0, t.err());
    assert.equal(t.out(), `queued DeviceLock ${UUID} for 2 device(s)\n`);
    const entries = await s.storage.queue.entriesForCommand(UUID, { limit: 10 });
    assert.equal(entries.items.length, 2);

    t = io(env);
    assert.equal(await runCli(['command', 'status', UUID], t), 0, t.err());
    assert.match(t.out(), /summary\s+pending 2, acknowledged 0/);
    assert.match(t.out(), new RegExp(`${DEVICE}\\s+${UUID}\\s+DeviceLock\\s+pending`));

    t = io(env);
    assert.equal(await runCli(['command', 'result', UUID, DEVICE, '--json'], t), 0, t.err());
    assert.equal((JSON.parse(t.out()) as { status: string }).status, 'pending');

    t = io(env);
    assert.equal(await runCli(['command', 'list', DEVICE, '--json'], t), 0, t.err());
    assert.equal((JSON.parse(t.out()) as { items: unknown[] }).items.length, 1);

    t = io(env);
    assert.equal(await runCli(['command', 'cancel', UUID, DEVICE], t), 0, t.err());
    assert.equal(t.out(), 'cancelled\n');
    t = io(env);
    assert.equal(await runCli(['command', 'cancel', UUID, DEVICE], t), 1);
    assert.equal(t.err(), 'rampart: command already finished [HTTP 409]\n');
  });

  it('errors print one line and exit non-zero', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['devices', 'list'], { RAMPART_URL: url }, /^rampart: no token: pass --token or set RAMPART_TOKEN\n$/],
      [['devices', 'list'], { RAMPART_URL: url, RAMPART_TOKEN: `rmp_${'x'.repeat(43)}` }, /^rampart: unauthorized \[HTTP 401\]\n$/],
      [['devices', 'show', 'NOPE'], { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken }, /^rampart: not found \[HTTP 404\]\n$/],
      [['command', 'send', 'NoSuchCommand', '--device', DEVICE], { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken }, /^rampart: unknown request type \[HTTP 400\]\n$/],
      [['command', 'send', 'DeviceLock', '--device', DEVICE, '--payload', '{'], { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken }, /^rampart: --payload is not valid JSON\n$/],
      [['command', 'send', 'DeviceLock', '--device', 'bad id!'], { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken }, /^rampart: invalid request \(body\/deviceIds\/0\) \[HTTP 400\]\n$/],
      [['devices', 'list'], { RAMPART_URL: 'http://192.0.2.1:9443', RAMPART_TOKEN: s.rootToken }, /^rampart: refusing to send a token over plain http/],
      [['devices', 'list'], { RAMPART_URL: 'http://127.0.0.1:1', RAMPART_TOKEN: s.rootToken }, /^rampart: cannot reach the admin API at http:\/\/127\.0\.0\.1:1/],
      [['devices', 'list', '--limit', '0'], { RAMPART_URL: url, RAMPART_TOKEN: s.rootToken }, /^rampart: --limit must be 1\.\.1000\n$/],
      [['devices', 'frobnicate'], {}, /unknown command 'frobnicate'/],
    ];
    for (const [argv, env, expected] of cases) {
      const t = io(env);
      const code = await runCli(argv, t);
      assert.notEqual(code, 0, argv.join(' '));
      assert.match(t.err(), expected, argv.join(' '));
      assert.equal(t.err().trim().split('\n').length <= 2, true, t.err());
      assert.ok(!t.err().includes(s.rootToken));
    }
  });

  it('a token with only devices.read cannot send commands', async () => {
    const token = await s.tokenFor(['devices.read']);
    const t = io({ RAMPART_URL: url, RAMPART_TOKEN: token });
    assert.equal(await runCli(['command', 'send', 'DeviceLock', '--device', DEVICE], t), 1);
    assert.equal(t.err(), 'rampart: forbidden [HTTP 403]\n');
  });

  it('--token-file reads the token from a file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rampart-cli-'));
    try {
      const file = path.join(dir, 'token');
      writeFileSync(file, `${s.rootToken}\n`, { mode: 0o600 });
      const t = io({ RAMPART_URL: url });
      assert.equal(await runCli(['devices', 'list', '--json', '--token-file', file], t), 0, t.err());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve and admin create call their hooks with the parsed options', async () => {
    const calls: unknown[] = [];
    const t = io({}, {
      serve: async (o) => void calls.push(['serve', o]),
      createAdmin: async (o) => {
        calls.push(['create', o]);
        return { token: 'rmp_shown_once', adminId: 'a1' };
      },
    });
    assert.equal(await runCli(['serve', '--dev', '--config', 'x.json'], t), 0);
    assert.equal(await runCli(['admin', 'create', 'alice'], t), 0);
    assert.deepEqual(calls, [['serve', { dev: true, config: 'x.json' }], ['create', { username: 'alice', dev: false }]]);
    assert.equal(t.out(), 'rmp_shown_once\n');
  });
});

describe('rampart admin create on a local data directory', () => {
  it('creates an administrator whose token works, and refuses a duplicate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rampart-admin-'));
    try {
      const env = { RAMPART_DATA_DIR: dir };
      {
        let t = io(env);
        assert.equal(await runCli(['admin', 'create', 'alice', '--dev'], t), 0, t.err());
        const token = t.out().trim();
        assert.match(token, /^rmp_[A-Za-z0-9_-]{43}$/);
        t = io(env);
        assert.equal(await runCli(['admin', 'create', 'alice', '--dev'], t), 1);
        assert.equal(t.err(), 'rampart: administrator exists\n');
        t = io(env);
        assert.equal(await runCli(['admin', 'create', 'Bad Name', '--dev'], t), 1);
        assert.equal(t.err(), 'rampart: invalid username\n');
        t = io(env);
        assert.equal(await runCli(['admin', 'create', 'bob'], t), 1);
        assert.match(t.err(), /^rampart: invalid configuration: RAMPART_TLS_CERT: .*\n$/);
        const { openSqliteStorage } = await import('../storage/open.ts');
        const opened = await openSqliteStorage(path.join(dir, 'rampart.db'));
        try {
          const { createAuthenticator } = await import('../admin/tokens.ts');
          const actor = await createAuthenticator({ tokens: opened.storage.tokens, admins: opened.storage.admins, now: () => new Date() }).authenticate({ bearer: token });
          assert.ok(actor.permissions.has('*'));
          // Break-glass: the local command makes an owner, so the token keeps its power under roles.
          const { createAuthzStore } = await import('../authz/store.ts');
          const alice = await opened.storage.admins.getByUsername('alice');
          assert.deepEqual((await createAuthzStore(opened.db, 'sqlite').assignmentsOf(alice!.id)).map((a) => a.role), ['owner']);
        } finally {
          await opened.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
