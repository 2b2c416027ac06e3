import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestStack, type TestStack } from '../admin/testkit.ts';
import { runCli, type CliIo } from './program.ts';
import type { Actor } from '../services/types.ts';
import { opensslRoot } from '../pki/external-root.test.ts';

const ROOT: Actor = { type: 'admin', id: 'root', permissions: new Set(['*']) };

function io(env: Record<string, string | undefined>): CliIo & { out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s) }, env, out: () => o, err: () => e };
}

describe('rampart invite / ca against a running admin server', () => {
  let s: TestStack;
  let env: Record<string, string>;
  let dir: string;
  before(async () => {
    s = await createTestStack();
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = s.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    env = { RAMPART_URL: `http://127.0.0.1:${addr.port}`, RAMPART_TOKEN: s.rootToken };
    dir = mkdtempSync(path.join(tmpdir(), 'rampart-cli-enroll-'));
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('invite create prints the one-time URL and a terminal QR code, and writes a PNG', async () => {
    const t = io(env);
    const png = path.join(dir, 'invite.png');
    const staff = await s.directory.create(ROOT, { userName: 'jane@example.org', displayName: 'Jane' }, 'admin');
    assert.equal(await runCli(['invite', 'create', '--staff', staff.id, '--expires-in-hours', '4', '--png', png], t), 0, t.err());
    assert.match(t.out(), /https:\/\/mdm\.test\/enroll\/[A-Za-z0-9_-]{43}\n/);
    assert.match(t.out(), /[▀▄█]/); // block characters of the QR code
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('invite create refuses a staff member or device group that does not exist (400, on record, nothing stored)', async () => {
    const before = (await s.enrollment.store.list({ limit: 1000 })).length;
    for (const args of [['--staff', 'staff-42'], ['--group', 'grp_00000000000000000000000000000000']]) {
      const t = io(env);
      assert.equal(await runCli(['invite', 'create', '--no-qr', ...args], t), 1);
      assert.match(t.err(), args[0] === '--staff' ? /unknown staff member/ : /unknown device group/);
    }
    assert.equal((await s.enrollment.store.list({ limit: 1000 })).length, before);
    const ev = await s.audit.log.store.search({ action: 'enroll.invitation.create', limit: 10 });
    assert.deepEqual(ev.filter((e) => e.outcome === 'failure').length, 2);
  });

  it('invite list and revoke', async () => {
    const c = io(env);
    assert.equal(await runCli(['invite', 'create', '--no-qr', '--json'], c), 0, c.err());
    const id = (JSON.parse(c.out()) as { invitation: { id: string } }).invitation.id;
    const l = io(env);
    assert.equal(await runCli(['invite', 'list', '--status', 'open'], l), 0, l.err());
    assert.match(l.out(), new RegExp(`${id}\\s+open`));
    const r = io(env);
    assert.equal(await runCli(['invite', 'revoke', id], r), 0, r.err());
    assert.equal(r.out(), `invitation ${id} is revoked\n`);
    const bad = io(env);
    assert.notEqual(await runCli(['invite', 'revoke', 'not-a-uuid'], bad), 0);
  });

  it('ca show and rotate; a token without ca.manage cannot rotate', async () => {
    const sh = io(env);
    assert.equal(await runCli(['ca', 'show'], sh), 0, sh.err());
    assert.match(sh.out(), /^CA: CN=Test Enrollment CA/);
    assert.match(sh.out(), /SCEP RA: CN=Rampart SCEP RA/);
    const reader = await s.tokenFor(['ca.read']);
    const denied = io({ ...env, RAMPART_TOKEN: reader });
    assert.notEqual(await runCli(['ca', 'rotate'], denied), 0);
    // Rotating the CA is a four-eyes action: held, then approved by a second owner.
    const held = io(env);
    assert.equal(await runCli(['ca', 'rotate'], held), 0, held.err());
    const approvalId = /rampart approvals approve (\S+)/.exec(held.out())?.[1];
    assert.ok(approvalId, held.out());
    const officer = await s.adminWithToken('ca-officer', ['owner']);
    const rot = io({ ...env, RAMPART_TOKEN: officer.token });
    assert.equal(await runCli(['approvals', 'approve', approvalId], rot), 0, rot.err());
    const again = io(env);
    assert.equal(await runCli(['ca', 'show'], again), 0);
    assert.match(again.out(), /^CA: CN=Rampart Enrollment CA/);
    assert.match(again.out(), /previous CA \(trusted for its identities until they expire or renew\): CN=Test Enrollment CA/);
    const ev = await s.audit.log.store.search({ action: 'ca.rotate', limit: 10 });
    assert.deepEqual(ev.map((e) => e.outcome), ['denied', 'success']);
  });

  it('ca csr, then ca import of the intermediate an openssl root signed (four-eyes)', async () => {
    const root = opensslRoot();
    s.clock.now = new Date(); // openssl's certificates start now
    try {
      const csrFile = path.join(dir, 'rampart.csr');
      const c = io(env);
      assert.equal(await runCli(['ca', 'csr', '--cn', 'CLI Intermediate', '--out', csrFile], c), 0, c.err());
      assert.match(c.out(), /CSR written to/);
      const intPem = root.signIntermediate(readFileSync(csrFile, 'utf8'), { pathlen: 0 });
      writeFileSync(path.join(dir, 'int.pem'), intPem);
      writeFileSync(path.join(dir, 'root.pem'), root.rootPem);
      const bad = io(env);
      assert.equal(await runCli(['ca', 'import', '--cert', path.join(dir, 'root.pem')], bad), 1);
      assert.match(bad.err(), /not for the key of the pending CSR/);
      const held = io(env);
      assert.equal(await runCli(['ca', 'import', '--cert', path.join(dir, 'int.pem'), '--chain', path.join(dir, 'root.pem')], held), 0, held.err());
      const approvalId = /rampart approvals approve (\S+)/.exec(held.out())?.[1];
      assert.ok(approvalId, held.out());
      const officer = await s.adminWithToken('ca-officer-2', ['owner']);
      const ok = io({ ...env, RAMPART_TOKEN: officer.token });
      assert.equal(await runCli(['approvals', 'approve', approvalId], ok), 0, ok.err());
      const sh = io(env);
      assert.equal(await runCli(['ca', 'show'], sh), 0);
      assert.match(sh.out(), /^CA: CN=CLI Intermediate/);
      assert.match(sh.out(), /issued by: CN=External Root CA/);
      const pem = io(env);
      assert.equal(await runCli(['ca', 'show', '--pem'], pem), 0);
      assert.equal((pem.out().match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
      // ca revoke: exactly one of --serial/--device; an unknown serial is a 404.
      const both = io(env);
      assert.equal(await runCli(['ca', 'revoke', '--serial', '0a', '--device', 'UDID'], both), 2);
      const unknown = io(env);
      assert.equal(await runCli(['ca', 'revoke', '--serial', 'abcdef0123'], unknown), 1);
      assert.match(unknown.err(), /no certificate with that serial/);
      const noDevice = io(env);
      assert.equal(await runCli(['ca', 'revoke', '--device', 'UDID-NONE', '--reason', 'keyCompromise'], noDevice), 1);
      assert.match(noDevice.err(), /no unrevoked identity/);
    } finally {
      root.close();
    }
  });
});
