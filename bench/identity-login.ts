// Cost of one password verification (Argon2id) at the default parameters and
// of a full password step through the admin server (in-process, SQLite in
// memory). Usage: node bench/identity-login.ts [rounds]
import { performance } from 'node:perf_hooks';
import { createPasswordHasher, DEFAULT_ARGON2 } from '../src/identity/passwords.ts';
import { createTestStack } from '../src/admin/testkit.ts';
import { parseIdentityConfig } from '../src/identity/config.ts';

const rounds = Number(process.argv[2] ?? '20');
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

const hasher = await createPasswordHasher(DEFAULT_ARGON2);
const stored = await hasher.hash('correct horse battery staple');
const verify: number[] = [];
for (let i = 0; i < rounds; i++) {
  const t0 = performance.now();
  await hasher.verify(stored, 'correct horse battery staple');
  verify.push(performance.now() - t0);
}
console.log(`argon2id verify m=${DEFAULT_ARGON2.memoryCost} t=${DEFAULT_ARGON2.timeCost} p=${DEFAULT_ARGON2.parallelism}: median ${pct(verify, 0.5).toFixed(1)} ms, p95 ${pct(verify, 0.95).toFixed(1)} ms`);

const open = { free: 1e9, baseLockMs: 1, maxLockMs: 1, windowMs: 1 };
const s = await createTestStack({
  identity: { argon2: parseIdentityConfig(undefined, { adminOrigin: 'https://a.test' }).argon2 },
  throttle: { pair: open, source: open, account: open, knownSourceMs: 1 },
});
const created = await s.app.inject({ method: 'POST', url: '/api/v1/accounts', headers: { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'alice', password: 'correct horse battery staple' }) });
if (created.statusCode !== 201) throw new Error(created.body);
const login: number[] = [];
for (let i = 0; i < rounds; i++) {
  const t0 = performance.now();
  const r = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: i % 2 ? 'alice' : 'nobody', password: 'correct horse battery staple' }) });
  login.push(performance.now() - t0);
  if (r.statusCode !== (i % 2 ? 200 : 401)) throw new Error(r.body);
}
console.log(`POST /api/v1/auth/login (known and unknown users alternating): median ${pct(login, 0.5).toFixed(1)} ms, p95 ${pct(login, 0.95).toFixed(1)} ms over ${rounds}`);
await s.close();
