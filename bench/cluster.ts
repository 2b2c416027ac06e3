// Device-plane benchmark on PostgreSQL with one and two nodes (not a test).
// Starts real `rampart serve` processes (each forks its sandboxed gateway) on
// a fresh schema, enrols simulated devices (spread round-robin over the
// nodes), then measures
//   - idle check-ins: a connect with Status Idle and an empty queue (1 request),
//   - command round trips: each device works through its queue (1 request per
//     command: the answer to one command fetches the next),
// at several client concurrencies. Reports requests/s, p50/p99 latency, and
// CPU per request of the Rampart processes (core + gateway, from /proc) and of
// their PostgreSQL backends (pg_stat_activity pids, from /proc).
//
//   ./node_modules/.bin/node bench/cluster.ts [--nodes 1,2] [--devices 64] [--conc 1,4,16] [--commands 8] [--idle 2000]

import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { issueLocalIdentities } from '../src/sim/identities.ts';
import type { SimDevice } from '../src/sim/device.ts';
import { api, removeDataDir, simDevice, startServerProcess, stopServerProcess, type ServerProcess } from '../test/e2e/harness.ts';

const URL_ = process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
// "sqlite" = one node on embedded SQLite, for comparison.
const NODES = arg('nodes', 'sqlite,1,2').split(',').map((x) => (x === 'sqlite' ? 0 : Number(x)));
const DEVICES = Number(arg('devices', '64'));
const CONC = arg('conc', '1,4,16').split(',').map(Number);
const COMMANDS = Number(arg('commands', '8'));
const IDLE = Number(arg('idle', '2000'));
const TICK = 100; // USER_HZ

function cpuTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * CPU of the PostgreSQL backends serving Rampart (every pool and session sets
 * an application_name starting with "rampart"). Pools close idle connections,
 * so backends are sampled every 100 ms and each one's growth between its first
 * and last sample is summed.
 */
function pgCpuSampler(c: pg.Client): { stop(): Promise<number> } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let busy = false;
  const sample = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const r = await c.query("select pid from pg_stat_activity where application_name like 'rampart%' and datname = current_database()");
      for (const { pid } of r.rows as { pid: number }[]) {
        const t = cpuTicks(pid);
        if (!first.has(pid)) first.set(pid, t);
        last.set(pid, t);
      }
    } finally {
      busy = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), 100);
  return {
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 5));
      await sample();
      let ticks = 0;
      for (const [pid, t0] of first) ticks += (last.get(pid) ?? t0) - t0;
      return ticks;
    },
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

interface Cluster {
  nodes: ServerProcess[];
  devices: SimDevice[];
  dataDir: string;
  schema: string;
  rampartPids: number[];
}

async function startCluster(requested: number): Promise<Cluster> {
  const sqlite = requested === 0;
  const n = sqlite ? 1 : requested;
  const schema = `rampart_bench_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-bench-cluster-'));
  const env = (i: number): Record<string, string> => ({
    ...(sqlite ? {} : { RAMPART_DATABASE_URL: URL_, RAMPART_DATABASE_SCHEMA: schema }), RAMPART_NODE_ID: `bench-${i}`, RAMPART_LOG_LEVEL: 'error',
  });
  const first = await startServerProcess({ dataDir, env: env(0) });
  const nodes = [first];
  for (let i = 1; i < n; i++) nodes.push(await startServerProcess({ dataDir, env: env(i) }));
  for (const s of nodes) s.token = first.token;
  const { identities, caPem } = await issueLocalIdentities(dataDir, DEVICES, sqlite ? {} : { databaseUrl: URL_, databaseSchema: schema });
  const devices = identities.map((id, i) => simDevice(nodes[i % n]!, id, caPem));
  for (const d of devices) await d.enroll();
  const rampartPids = nodes.flatMap((s) => [s.child.pid!, ...childrenOf(s.child.pid!)]);
  return { nodes, devices, dataDir, schema, rampartPids };
}

async function measure(
  cl: Cluster,
  pgc: pg.Client,
  label: string,
  conc: number,
  work: (dev: SimDevice, lat: number[]) => Promise<number>,
  jobs: SimDevice[],
): Promise<void> {
  const pgCpu = pgCpuSampler(pgc);
  const r0 = cl.rampartPids.reduce((s, p) => s + cpuTicks(p), 0);
  const lat: number[] = [];
  let requests = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    for (;;) {
      const i = next++;
      if (i >= jobs.length) return;
      const n = await work(jobs[i]!, lat);
      requests += n;
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const r1 = cl.rampartPids.reduce((s, p) => s + cpuTicks(p), 0);
  const rCpu = ((r1 - r0) * 1000) / TICK / requests;
  const pCpu = ((await pgCpu.stop()) * 1000) / TICK / requests;
  console.log(
    `${label.padEnd(42)} conc ${String(conc).padStart(2)}: ${String(requests).padStart(5)} req, ${(requests / wall).toFixed(0).padStart(5)} req/s, ` +
    `p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, rampart CPU ${rCpu.toFixed(2)} ms/req, postgres CPU ${pCpu.toFixed(2)} ms/req`,
  );
}

function timedPuts(dev: SimDevice, lat: number[]): () => number {
  let n = 0;
  const orig = dev.put.bind(dev);
  dev.put = async (...a: Parameters<SimDevice['put']>) => {
    const t = performance.now();
    try {
      return await orig(...a);
    } finally {
      lat.push(performance.now() - t);
      n++;
    }
  };
  return () => {
    dev.put = orig;
    return n;
  };
}

const pgc = new pg.Client({ connectionString: URL_ });
await pgc.connect();
console.log(`# ${new Date().toISOString()}  devices ${DEVICES}, commands/device ${COMMANDS}, idle check-ins ${IDLE}; PostgreSQL ${((await pgc.query('show server_version')).rows[0] as { server_version: string }).server_version}`);
for (const requested of NODES) {
  const n = Math.max(1, requested);
  const name = requested === 0 ? 'sqlite, 1 node' : `postgres, ${n} node(s)`;
  const cl = await startCluster(requested);
  try {
    // Warm-up: every device once.
    for (const d of cl.devices) await d.connect();
    for (const conc of CONC) {
      const idleJobs = Array.from({ length: IDLE }, (_, i) => cl.devices[i % cl.devices.length]!);
      await measure(cl, pgc, `${name}: idle check-in`, conc, async (dev, lat) => {
        const done = timedPuts(dev, lat);
        await dev.connect();
        return done();
      }, idleJobs);
    }
    for (const conc of CONC) {
      // Queue COMMANDS per device through the nodes' admin APIs.
      for (let i = 0; i < cl.devices.length; i++) {
        for (let c = 0; c < COMMANDS; c++) {
          const r = await api(cl.nodes[(i + c) % n]!, 'POST', '/api/v1/commands', { deviceIds: [cl.devices[i]!.udid], requestType: 'DeviceInformation', payload: { Queries: ['OSVersion'] } });
          if (r.status >= 300) throw new Error(JSON.stringify(r.json));
        }
      }
      await measure(cl, pgc, `${name}: command round trip`, conc, async (dev, lat) => {
        const done = timedPuts(dev, lat);
        const handled = await dev.connect();
        if (handled.length !== COMMANDS) throw new Error(`device handled ${handled.length} of ${COMMANDS}`);
        return done();
      }, cl.devices);
    }
  } finally {
    for (const d of cl.devices) d.close();
    for (const s of cl.nodes) await stopServerProcess(s);
    removeDataDir(cl.dataDir);
    await pgc.query(`drop schema if exists "${cl.schema}" cascade`);
  }
}
await pgc.end();
