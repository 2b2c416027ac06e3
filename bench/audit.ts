// Audit log benchmark.
//
//   node bench/audit.ts [--appends N] [--size N] [--proofs N] [--warmup N] [--db PATH] [--keep]
//                       [--skip-verify] [--sequential]
//   env: AUDIT_BENCH_APPENDS, AUDIT_BENCH_SIZE, AUDIT_BENCH_PROOFS, AUDIT_BENCH_DB
//
// 1. appends/s through AuditLog.record() on SQLite (WAL, synchronous=FULL),
//    group commit, checkpoint every second (default 200,000 appends);
// 2. a tree of --size entries (default 10,000,000) bulk-loaded through the
//    store (reused if --db already holds it), then the time of inclusion
//    proofs at that size (random indices, each verified);
//    (--warmup untimed proofs first: default 200), and the time of opening
//    (init, which migrates a log without audit_leaf by backfilling it);
// 3. verification of all --size entries from the database (verifyLog: two
//    threads for a clean log; --sequential forces one).

import { DatabaseSync } from 'node:sqlite';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/audit/log.ts';
import { SqliteAuditStore } from '../src/audit/store-sqlite.ts';
import { buildEntry } from '../src/audit/entry.ts';
import { CompactRange, verifyInclusion } from '../src/audit/merkle.ts';
import { generateNoteKey, parseSignerKey, signCheckpoint } from '../src/audit/note.ts';
import { verifyLog } from '../src/audit/verify.ts';
import { NODE_STRIDE } from '../src/audit/store.ts';
import type { StoredEntry, StoredNode } from '../src/audit/store.ts';
import type { AuditEvent } from '../src/audit/types.ts';

function arg(name: string, env: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : process.env[env];
  return v === undefined ? def : Number(v.replace(/_/g, ''));
}
const APPENDS = arg('appends', 'AUDIT_BENCH_APPENDS', 200_000);
const SIZE = arg('size', 'AUDIT_BENCH_SIZE', 10_000_000);
const PROOFS = arg('proofs', 'AUDIT_BENCH_PROOFS', 2000);
const WARMUP = arg('warmup', 'AUDIT_BENCH_WARMUP', 200);
const la = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const dbArgI = process.argv.indexOf('--db');
const DB = dbArgI >= 0 ? process.argv[dbArgI + 1] : process.env.AUDIT_BENCH_DB;
const KEEP = process.argv.includes('--keep');

const ORIGIN = 'bench.rampart/audit';
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);
const tmp = mkdtempSync(join(tmpdir(), 'rampart-audit-bench-'));
const rows: [string, string][] = [];
const log = (s: string) => process.stderr.write(s + '\n');

const event = (i: number): AuditEvent => ({
  action: i % 3 === 0 ? 'device.checkin' : 'command.enqueue',
  actor: { type: 'device', id: `device-${i % 5000}` },
  source: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  target: { type: 'device', id: `device-${(i * 7) % 5000}` },
  outcome: 'success',
  requestId: `req-${i}`,
  details: { seq: i, kind: 'bench' },
});

// 1. Appends through the log.
{
  const db = new DatabaseSync(join(tmp, 'appends.db'));
  const store = new SqliteAuditStore(db);
  const auditLog = await AuditLog.open({ store, origin: ORIGIN, signer, checkpointIntervalMs: 1000 });
  const t0 = performance.now();
  const inflight = 2000;
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < APPENDS) await auditLog.record(event(next++));
    }),
  );
  const dt = (performance.now() - t0) / 1000;
  const cps = (await store.listCheckpoints()).length;
  await auditLog.close();
  db.close();
  rows.push(['appends (AuditLog.record, SQLite WAL+FULL, 2000 in flight)', `${APPENDS.toLocaleString('en')} in ${dt.toFixed(2)} s = ${Math.round(APPENDS / dt).toLocaleString('en')}/s, ${cps} checkpoints`]);
  log(rows[rows.length - 1]!.join(': '));
}

// 2. Bulk-load a large tree (or reuse one).
const bigPath = DB ?? join(tmp, 'big.db');
const bigDb = new DatabaseSync(bigPath);
const big = new SqliteAuditStore(bigDb);
{
  const t0 = performance.now();
  await big.init();
  const dt = (performance.now() - t0) / 1000;
  if (dt > 0.5) {
    rows.push(['open (init; migration: audit_leaf backfill)', `${dt.toFixed(1)} s; load average ${la()}`]);
    log(rows[rows.length - 1]!.join(': '));
  }
}
let have = await big.size();
if (have < SIZE) {
  log(`loading ${SIZE - have} entries into ${bigPath} ...`);
  const t0 = performance.now();
  const tree = new CompactRange(have, await (await import('../src/audit/merkle.ts')).subtreeHashes(big, CompactRange.subtrees(have)));
  let prev = have > 0 ? ((await big.readHashes([{ level: 0, start: have - 1, count: 1 }]))[0]![0]!) : null;
  const when = new Date('2025-06-01T00:00:00Z');
  while (have < SIZE) {
    const n = Math.min(50_000, SIZE - have);
    const entries: StoredEntry[] = [];
    const nodes: StoredNode[] = [];
    for (let i = have; i < have + n; i++) {
      const s = buildEntry(event(i), i, prev, when).stored;
      prev = s.leafHash;
      tree.append(s.leafHash, (level, index, hash) => {
        if (level % NODE_STRIDE === 0) nodes.push({ level, index, hash });
      });
      entries.push(s);
    }
    await big.append(entries, nodes);
    have += n;
    if (have % 1_000_000 === 0) log(`  ${have.toLocaleString('en')}`);
  }
  const root = tree.root();
  await big.putCheckpoint({ size: have, rootHash: root, note: signCheckpoint({ origin: ORIGIN, size: have, rootHash: root }, signer), createdAt: new Date().toISOString() });
  const dt = (performance.now() - t0) / 1000;
  rows.push(['bulk load (store.append, 50k per transaction)', `${SIZE.toLocaleString('en')} entries in ${dt.toFixed(1)} s`]);
  log(rows[rows.length - 1]!.join(': '));
}

// 3. Inclusion proofs at SIZE.
{
  const cp = (await big.latestCheckpoint())!;
  const size = cp.size;
  // Sign with this run's key for verification below if the DB was made by an earlier run.
  const note = signCheckpoint({ origin: ORIGIN, size, rootHash: cp.rootHash }, signer);
  const { inclusionProof } = await import('../src/audit/merkle.ts');
  const times: number[] = [];
  // CPU per proof is too short for the kernel's per-thread accounting (it comes in ticks): total over the timed proofs.
  let cpuTotal = 0;
  for (let k = -WARMUP; k < PROOFS; k++) {
    const i = Math.floor(Math.random() * size);
    const c0 = process.threadCpuUsage();
    const t0 = performance.now();
    const [leaf] = await big.readHashes([{ level: 0, start: i, count: 1 }]);
    const proof = await inclusionProof(big, i, size);
    const wall = performance.now() - t0;
    const c = process.threadCpuUsage(c0);
    if (k >= 0) {
      times.push(wall);
      cpuTotal += (c.user + c.system) / 1000;
    }
    if (!verifyInclusion(leaf![0]!, i, size, proof, cp.rootHash)) throw new Error(`proof ${i} failed`);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const us = (x: number) => `${(x * 1000).toFixed(0)} µs`;
  rows.push([
    `inclusion proof at ${size.toLocaleString('en')} entries (${PROOFS} random after ${WARMUP} untimed, read+build)`,
    `wall: median ${us(q(0.5))}, p90 ${us(q(0.9))}, p99 ${us(q(0.99))}, p99.9 ${us(q(0.999))}, max ${us(q(1))}; main-thread CPU: mean ${us(cpuTotal / PROOFS)}; load average ${la()}`,
  ]);
  log(rows[rows.length - 1]!.join(': '));

  // 4. Verify everything.
  if (process.argv.includes('--skip-verify')) {
    bigDb.close();
    printTable();
    process.exit(0);
  }
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const laBefore = la();
  let path = '';
  const r = await verifyLog(big, note, key.verifierKey, { checkpoints: [], split: !process.argv.includes('--sequential'), onSplit: (o) => (path = o) });
  const dt = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuS = (c.user + c.system) / 1e6;
  if (!r.ok && !r.findings.every((f) => f.kind === 'bad_checkpoint')) throw new Error(`verification failed: ${JSON.stringify(r.findings.slice(0, 5))}`);
  rows.push([`verifyLog of ${size.toLocaleString('en')} entries (live SQLite, incl. stored nodes)`, `${dt.toFixed(1)} s wall (${Math.round(size / dt).toLocaleString('en')} entries/s), ${cpuS.toFixed(1)} s CPU (all threads), path: ${path || 'sequential'}; load average before ${laBefore}, after ${la()}`]);
  log(rows[rows.length - 1]!.join(': '));
}
bigDb.close();

function printTable(): void {
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`\nRampart audit benchmark — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} CPU(s): ${cpus()[0]?.model ?? '?'}\n`);
console.log(`| ${'measurement'.padEnd(w)} | result |`);
console.log(`|${'-'.repeat(w + 2)}|--------|`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
}
printTable();
if (!KEEP) rmSync(tmp, { recursive: true, force: true });
else console.log(`\nkept ${tmp}`);
if (DB && !existsSync(DB)) process.exitCode = 1;
