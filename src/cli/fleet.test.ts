// rampart groups ... and rampart command bulk|bulk-status against a running admin server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { createTestStack, type TestStack } from '../admin/testkit.ts';
import { createAdminServer } from '../admin/server.ts';
import { openFleet, type OpenedFleet } from '../core/fleet.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { runCli } from './program.ts';

describe('rampart groups / command bulk', () => {
  let s: TestStack;
  let fleet: OpenedFleet;
  let app: FastifyInstance;
  let env: Record<string, string>;
  before(async () => {
    s = await createTestStack();
    fleet = await openFleet({ opened: s.opened, audit: s.audit, commands: s.commands, build: (i) => buildCommand(i), log: pino({ level: 'silent' }), now: () => new Date() });
    app = await createAdminServer({ ...s.adminDeps, groups: fleet.groups, bulk: fleet.bulk });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    assert.ok(addr && typeof addr === 'object');
    env = { RAMPART_URL: `http://127.0.0.1:${addr.port}`, RAMPART_TOKEN: s.rootToken };
    for (let i = 0; i < 5; i++) await s.addDevice(`CLI-${i}`);
  });
  after(async () => {
    await app.close();
    await fleet.stop();
    await s.close();
  });

  async function run(args: string[]): Promise<string> {
    let o = '';
    let e = '';
    const code = await runCli(args, { stdout: { write: (x: string) => (o += x) }, stderr: { write: (x: string) => (e += x) }, env });
    assert.equal(code, 0, e);
    return o;
  }

  it('creates a group, adds devices, queues a bulk lock for it and reports progress', async () => {
    const g = JSON.parse(await run(['groups', 'create', 'Front desk', '--json'])) as { id: string };
    assert.match(await run(['groups', 'add', g.id, '--device', 'CLI-0', 'CLI-1', 'CLI-2']), /added 3 device/);
    assert.match(await run(['groups', 'remove', g.id, '--device', 'CLI-2']), /removed 1 device/);
    assert.equal(await run(['groups', 'members', g.id]), 'CLI-0\nCLI-1\n');
    assert.match(await run(['groups', 'list']), /Front desk\s+2/);
    const job = JSON.parse(await run(['command', 'bulk', 'DeviceLock', '--group', g.id, '--json'])) as { jobId: string };
    let out = '';
    for (let i = 0; i < 100 && !/state\s+done/.test(out); i++) {
      out = await run(['command', 'bulk-status', job.jobId]);
      if (!/state\s+done/.test(out)) await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(out, /state\s+done/);
    assert.match(out, /queued\s+2/);
    assert.match(out, /not yet seen\s+2/);
    assert.match(await run(['command', 'bulk', 'DeviceLock', '--all', '--model', 'nothing']), /accepted/);
    await run(['groups', 'delete', g.id]);
  });
});
