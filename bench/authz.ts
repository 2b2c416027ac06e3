// Authorization benchmark: what roles and the four-eyes gate cost per request.
//
//   node bench/authz.ts [--n N]
//
// 1. token authentication with role resolution (scopes ∩ roles, one custom
//    role, network binding checked) through the real authenticator on a
//    SQLite file: latency per request (p50, p99) and requests/s, one caller;
// 2. four-eyes round trip through the gate (request, approve: claim, executor,
//    completion, four audit entries) per second, one caller.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage } from '../src/storage/open.ts';
import { openTestAudit } from '../src/admin/testkit.ts';
import { createAuthenticator, issueApiToken } from '../src/admin/tokens.ts';
import { openAuthz } from '../src/authz/index.ts';
import { parseAuthzConfig } from '../src/authz/config.ts';
import { isApprovalPending } from '../src/authz/pending.ts';

const i = process.argv.indexOf('--n');
const N = i >= 0 ? Number(process.argv[i + 1]) : 5000;
const dir = mkdtempSync(join(tmpdir(), 'rampart-authz-bench-'));
try {
  const opened = await openSqliteStorage(join(dir, 'rampart.db'));
  await opened.migrate();
  const now = () => new Date();
  const audit = await openTestAudit(now);
  const authz = await openAuthz({ opened, storage: opened.storage, audit, config: parseAuthzConfig({ approvals: { actions: ['bench.action'] } }), now });
  const t0 = now().toISOString();
  await opened.storage.admins.create({ id: 'a1', username: 'a1' }, t0);
  await opened.storage.admins.create({ id: 'a2', username: 'a2' }, t0);
  await authz.store.createRole({ name: 'ops', description: 'bench', permissions: ['devices.read', 'commands.send.lock', 'tokens.manage'] }, t0);
  await authz.store.assign({ adminId: 'a1', role: 'ops', groups: [], source: 'local', createdBy: 'bench' }, t0);
  await authz.store.assign({ adminId: 'a1', role: 'viewer', groups: ['g1'], source: 'local', createdBy: 'bench' }, t0);
  await authz.store.assign({ adminId: 'a2', role: 'owner', groups: [], source: 'local', createdBy: 'bench' }, t0);
  const { token, record } = await issueApiToken({ tokens: opened.storage.tokens, now }, { principalId: 'a1', name: 'bench', scopes: ['*'] });
  await authz.store.setTokenNetworks(record.id, ['127.0.0.0/8', '::1/128'], t0);
  const auth = createAuthenticator({ tokens: opened.storage.tokens, admins: opened.storage.admins, now, toActor: authz.tokenActor });

  for (let k = 0; k < 200; k++) await auth.authenticate({ bearer: token, source: '127.0.0.1' });
  const lat: number[] = [];
  const start = performance.now();
  for (let k = 0; k < N; k++) {
    const s = performance.now();
    await auth.authenticate({ bearer: token, source: '127.0.0.1' });
    lat.push(performance.now() - s);
  }
  const total = performance.now() - start;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(3);
  console.log(`authenticate (token → actor with roles, networks): n=${N} p50=${pct(0.5)} ms p99=${pct(0.99)} ms ${Math.round(N / (total / 1000))} req/s`);

  let runs = 0;
  authz.gate.register('bench.action', async () => ({ ok: ++runs }));
  const requester = await authz.adminActor('a1');
  const approver = await authz.adminActor('a2');
  const M = Math.max(100, Math.floor(N / 10));
  const gs = performance.now();
  for (let k = 0; k < M; k++) {
    let id = '';
    try {
      await authz.gate.guard(requester, { action: 'bench.action', params: { k }, summary: 'bench' });
    } catch (e) {
      if (!isApprovalPending(e)) throw e;
      id = e.approval.id;
    }
    const done = await authz.gate.approve(approver, id);
    if (done.status !== 'executed') throw new Error(`approval ${done.status}`);
  }
  const gt = performance.now() - gs;
  if (runs !== M) throw new Error('executor ran a wrong number of times');
  console.log(`four-eyes round trip (request + approve + run, audited): n=${M} ${(gt / M).toFixed(2)} ms each, ${Math.round(M / (gt / 1000))}/s`);
  console.log(`machine: ${cpus().length} cores, node ${process.version}`);
  await audit.close();
  await opened.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
