import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openAdminDirectoryStack } from '../directory/admin-testkit.ts';
import type { AdminDirectoryStack } from '../directory/admin-testkit.ts';
import { dumpDatabase } from '../directory/staff.suite.ts';
import { runCli } from './program.ts';
import type { CliIo } from './program.ts';

function io(env: Record<string, string | undefined>): CliIo & { out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s) }, env, out: () => o, err: () => e };
}

const HEADER = 'userName,externalId,givenName,familyName,displayName,email,phones,employeeNumber,department,active';

describe('rampart staff / rampart pii access', () => {
  let k: AdminDirectoryStack;
  let url: string;
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    k = await openAdminDirectoryStack();
    await k.app.listen({ host: '127.0.0.1', port: 0 });
    const a = k.app.server.address();
    assert.ok(a && typeof a === 'object');
    url = `http://127.0.0.1:${a.port}`;
    dir = mkdtempSync(path.join(tmpdir(), 'rampart-staff-cli-'));
    env = { RAMPART_URL: url, RAMPART_TOKEN: k.rootToken };
  });
  after(async () => {
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (args: string[], e: Record<string, string> = env): Promise<{ code: number; out: string; err: string }> => {
    const t = io(e);
    const code = await runCli(args, t);
    return { code, out: t.out(), err: t.err() };
  };

  it('import --dry-run reports row by row and changes nothing; an invalid row blocks the whole file', async () => {
    const file = path.join(dir, 'staff.csv');
    writeFileSync(file, `${HEADER}\r\nmarie.curie@example.org,ext-1,Marie,Curie,Marie Curie,marie.curie@example.org,+33 6 12 34 56 78,E-1,Physics,true\r\n"pierre@example.org",ext-2,Pierre,Curie,"Curie, Pierre",pierre@example.org,,E-2,Physics,\r\nbad@example.org,ext-3,Bad,Row,,not-an-email,,E-3,,\r\n`);
    let r = await run(['staff', 'import', '--dry-run', file]);
    assert.equal(r.code, 1);
    assert.match(r.out, /2\s+created/);
    assert.match(r.out, /4\s+invalid\s+-\s+invalid email/);
    assert.match(r.out, /nothing applied/);
    assert.ok(!r.out.includes('not-an-email'));
    r = await run(['staff', 'import', file]);
    assert.equal(r.code, 1);
    r = await run(['staff', 'list', '--json']);
    assert.deepEqual(JSON.parse(r.out).items, []);
    writeFileSync(file, readFileSync(file, 'utf8').split('\r\n').slice(0, 3).join('\r\n'));
    r = await run(['staff', 'import', '--dry-run', file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /created 2, updated 0, unchanged 0, invalid 0; nothing applied \(dry run\)/);
    r = await run(['staff', 'import', file]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /created 2.*; applied/);
    r = await run(['staff', 'import', '--dry-run', file]);
    assert.match(r.out, /created 0, updated 0, unchanged 2/);
  });

  it('list and search are masked; reveal needs a reason; pii access answers who saw whom', async () => {
    let r = await run(['staff', 'list']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /M\*\*\* C\*\*\*/);
    assert.match(r.out, /\+33 \*\*\* \*\* 78/);
    assert.ok(!r.out.includes('Marie'));
    r = await run(['staff', 'search', '--phone', '0033612345678', '--json']);
    const id = JSON.parse(r.out).items[0].id as string;
    r = await run(['staff', 'reveal', id]);
    assert.notEqual(r.code, 0);
    r = await run(['staff', 'reveal', id, '--reason', 'support', '--ticket', 'INC-9']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /given name\s+Marie/);
    r = await run(['pii', 'access', '--staff', id, '--since', '2000-01-01T00:00:00Z']);
    assert.equal(r.code, 0, r.err);
    const principal = r.out.split('\n')[1]?.split(/\s+/)[0] as string;
    r = await run(['pii', 'access', '--principal', principal, '--since', '2000-01-01T00:00:00Z']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /people exposed\s+2/);
    assert.match(r.out, /people revealed in clear\s+1/);
    assert.ok(r.out.includes(id));
  });

  it('export: sealed to a recipient key, opened by decrypt-export; nothing readable without the key', async () => {
    const keyFile = path.join(dir, 'recipient.pem');
    let r = await run(['staff', 'export-keygen', '--out', keyFile]);
    assert.equal(r.code, 0, r.err);
    const pub = r.out.trim();
    const sealed = path.join(dir, 'export.rseal');
    r = await run(['staff', 'export', '--recipient', pub, '--out', sealed]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^2 records sealed/);
    const bytes = readFileSync(sealed);
    assert.ok(!bytes.includes(Buffer.from('Marie')));
    r = await run(['staff', 'decrypt-export', sealed, '--key', keyFile]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^userName,externalId,displayName/);
    assert.match(r.out, /marie\.curie@example\.org,ext-1,Marie Curie,Marie,Curie,marie\.curie@example\.org,\+33612345678,Physics,E-1,true/);
    assert.match(r.out, /"Curie, Pierre"/);
    const other = path.join(dir, 'other.pem');
    await run(['staff', 'export-keygen', '--out', other]);
    r = await run(['staff', 'decrypt-export', sealed, '--key', other]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot be opened/);
    const limited = await k.tokenFor(['staff.read']);
    r = await run(['staff', 'export', '--recipient', pub, '--out', path.join(dir, 'x')], { RAMPART_URL: url, RAMPART_TOKEN: limited.token });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /403/);
  });

  it('no planted value in the database, the WAL, the server log or the audit log after the CLI flows', async () => {
    const haystacks = [...(await dumpDatabase(k.s)), k.logs.join('\n'), JSON.stringify(k.audit.events)];
    for (const h of haystacks) for (const n of ['Marie', 'Pierre', 'marie.curie', '612345678', 'Physics']) assert.ok(!h.includes(n), n);
  });
});
