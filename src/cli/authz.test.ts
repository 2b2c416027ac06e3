// `rampart admins|roles|token|approvals` against a running admin server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from '../admin/testkit.ts';
import type { TestStack } from '../admin/testkit.ts';
import { runCli } from './program.ts';
import type { CliIo } from './program.ts';

function io(env: Record<string, string | undefined>): CliIo & { out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s) }, env, out: () => o, err: () => e };
}

describe('rampart authorization commands', () => {
  let s: TestStack;
  let url: string;
  let second: { adminId: string; token: string };
  before(async () => {
    s = await createTestStack();
    await s.addDevice('UDID-CLI-E');
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = s.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `http://127.0.0.1:${addr.port}`;
    second = await s.adminWithToken('second', ['owner']);
  });
  after(async () => s.close());

  const root = () => io({ RAMPART_URL: url, RAMPART_TOKEN: s.rootToken });

  it('token create prints the token once on stdout; list shows it without the secret; revoke', async () => {
    let t = root();
    assert.equal(await runCli(['token', 'create', 'ci job', '--scope', 'devices.read,commands.read', '--network', '10.0.0.0/8'], t), 0, t.err());
    const token = t.out().trim();
    assert.match(token, /^rmp_[A-Za-z0-9_-]{43}$/);
    assert.match(t.err(), /shown once/);
    t = root();
    assert.equal(await runCli(['token', 'list'], t), 0, t.err());
    assert.match(t.out(), /ci job/);
    assert.match(t.out(), /10\.0\.0\.0\/8/);
    assert.ok(!t.out().includes(token));
    const id = (await s.storage.tokens.listForPrincipal(s.adminId)).find((x) => x.name === 'ci job')!.id;
    t = root();
    assert.equal(await runCli(['token', 'revoke', id], t), 0, t.err());
    t = root();
    assert.equal(await runCli(['token', 'create', 'bad', '--scope', 'no.such'], t), 1);
    assert.match(t.err(), /HTTP 400/);
  });

  it('roles create/assign and admins list; an assignment waits for approval, approvals approve runs it', async () => {
    let t = root();
    assert.equal(await runCli(['roles', 'create', 'lockers', '--permission', 'devices.read', '--permission', 'commands.send.lock', '--description', 'lock only'], t), 0, t.err());
    t = root();
    assert.equal(await runCli(['roles', 'list'], t), 0, t.err());
    assert.match(t.out(), /lockers/);
    assert.match(t.out(), /security-officer/);
    t = root();
    assert.equal(await runCli(['roles', 'assign', second.adminId, 'lockers', '--group', 'g1'], t), 0, t.err());
    assert.match(t.out(), /held for approval/);
    const id = /approvals approve ([0-9a-f-]{36})/.exec(t.out())![1]!;
    t = root();
    assert.equal(await runCli(['approvals', 'approve', id], t), 1, 'own request');
    assert.match(t.err(), /cannot approve own request/);
    t = io({ RAMPART_URL: url, RAMPART_TOKEN: second.token });
    assert.equal(await runCli(['approvals', 'list', '--status', 'pending'], t), 0, t.err());
    assert.match(t.out(), /admin\.elevate/);
    t = io({ RAMPART_URL: url, RAMPART_TOKEN: second.token });
    assert.equal(await runCli(['approvals', 'approve', id], t), 0, t.err());
    assert.match(t.out(), /executed/);
    t = root();
    assert.equal(await runCli(['admins', 'show', second.adminId], t), 0, t.err());
    assert.match(t.out(), /lockers\s+g1/);
  });

  it('command send EraseDevice is held; approvals deny closes it', async () => {
    let t = root();
    assert.equal(await runCli(['command', 'send', 'EraseDevice', '--device', 'UDID-CLI-E'], t), 0, t.err());
    const id = /approvals approve ([0-9a-f-]{36})/.exec(t.out())![1]!;
    t = io({ RAMPART_URL: url, RAMPART_TOKEN: second.token });
    assert.equal(await runCli(['approvals', 'deny', id, '--reason', 'wrong device'], t), 0, t.err());
    assert.match(t.out(), /denied/);
    assert.equal((await s.storage.queue.entriesForDevice('UDID-CLI-E', { limit: 5 })).length, 0);
  });

  it('admins create waits for approval; admins disable', async () => {
    let t = root();
    assert.equal(await runCli(['admins', 'create', 'carol', '--role', 'viewer'], t), 0, t.err());
    const id = /approvals approve ([0-9a-f-]{36})/.exec(t.out())![1]!;
    t = io({ RAMPART_URL: url, RAMPART_TOKEN: second.token });
    assert.equal(await runCli(['approvals', 'approve', id, '--json'], t), 0, t.err());
    const adminId = (JSON.parse(t.out()) as { result: { adminId: string } }).result.adminId;
    t = root();
    assert.equal(await runCli(['admins', 'list'], t), 0, t.err());
    assert.match(t.out(), /carol\s+viewer/);
    t = root();
    assert.equal(await runCli(['admins', 'disable', adminId], t), 0, t.err());
  });
});
