// Device-plane benchmark (not a test). Starts the real `rampart serve`
// process (core + sandboxed gateway) on a fresh data directory, seeds K
// enrolled devices, and drives them from this process with the simulator's
// fleet, which also hosts the local APNs stand-in (an HTTP/2 TLS server, NOT
// Apple's service).
//
//   ./node_modules/.bin/node bench/device-plane.ts [--devices 100000] [--requests 2000] [--skip-fleet] [--fleet-no-wake]
// --fleet-no-wake: devices count their push but do not connect (measures queue + push alone).
// BENCH_LEVELS=16,64 runs only those connection counts; BENCH_DEBUG=1 prints CPU per process (core, gateway).
//
// Server CPU is read from /proc/<pid>/stat of the core and gateway processes
// only (this process, the client, is not counted); RSS from /proc/<pid>/status.
// Devices are seeded straight into the database (status enrolled, identity
// certificate bound, push token and magic) before the server starts: the
// benchmark measures check-ins, command round trips and pushes, not enrollment.
// The devices share 16 identity certificates (each device is bound to one).
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { api, removeDataDir, startServerProcess, stopServerProcess, type ServerProcess } from '../test/e2e/harness.ts';
import { issueLocalIdentities } from '../src/sim/identities.ts';
import { startSimFleet, type FleetDevice, type SimFleet } from '../src/sim/fleet.ts';
import { createLocalPushCertificate } from '../src/push/local-apns.ts';
import { openSqliteStorage } from '../src/storage/open.ts';
import { buildPlist } from '../src/protocol/plist/index.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '100000' },
    requests: { type: 'string', default: '2000' },
    'skip-fleet': { type: 'boolean', default: false },
    'fleet-no-wake': { type: 'boolean', default: false },
    'only-fleet': { type: 'boolean', default: false },
  },
});
const K = Number(args.devices);
const REQUESTS = Number(args.requests);
const TOPIC = 'com.apple.mgmt.External.rampart-development';
const LEVELS = process.env.BENCH_LEVELS ? process.env.BENCH_LEVELS.split(',').map(Number) : [1, 4, 16, 64];
const TICK_MS = 10; // USER_HZ = 100 on Linux

function pids(server: ServerProcess): number[] {
  const core = server.child.pid!;
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${core}/task/${core}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no children file: gateway not counted
  }
  return [core, ...children];
}
/** user and system CPU ms of one process. */
function cpuOf(p: number): [number, number] {
  const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) * TICK_MS, Number(f[12]) * TICK_MS];
}
function cpuMs(ps: number[]): number {
  return ps.reduce((a, p) => a + cpuOf(p)[0] + cpuOf(p)[1], 0);
}
function rssMiB(ps: number[]): number {
  let kb = 0;
  for (const p of ps) {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    kb += Number(m?.[1] ?? 0);
  }
  return kb / 1024;
}
const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

async function phase(label: string, server: ServerProcess, concurrency: number, total: number, one: (worker: number, i: number) => Promise<number>): Promise<void> {
  const ps = pids(server);
  const lat: number[] = [];
  let next = 0;
  let units = 0;
  const c0 = cpuMs(ps);
  const split0 = ps.map(cpuOf);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    while (next < total) {
      const i = next++;
      const s = performance.now();
      const u = await one(w, i);
      units += u;
      lat.push(performance.now() - s);
    }
  }));
  const wall = performance.now() - t0;
  const cpu = cpuMs(ps) - c0;
  if (process.env.BENCH_DEBUG) {
    // Per process (core first, then the gateway): user/system ms per unit.
    const split = ps.map((p, i) => cpuOf(p).map((v, j) => ((v - split0[i]![j]!) / units).toFixed(3)).join('u/') + 's');
    console.log(`raw: cpu ${cpu} ms wall ${wall.toFixed(0)} ms units ${units} requests ${lat.length}; per unit core ${split[0]} gateway ${split.slice(1).join(' ')}`);
  }
  console.log(`| ${label} | ${concurrency} | ${(lat.length / (wall / 1000)).toFixed(0)} | ${pct(lat, 0.5).toFixed(2)} | ${pct(lat, 0.99).toFixed(2)} | ${(cpu / units).toFixed(3)} | ${rssMiB(ps).toFixed(0)} |`);
}

const push = await createLocalPushCertificate({ topic: TOPIC });
let server = await startServerProcess();
const dataDir = server.dataDir;
const token = server.token!;
await stopServerProcess(server);
let fleet: SimFleet | undefined;
try {
  const { identities } = await issueLocalIdentities(dataDir, 16);
  fleet = await startSimFleet({ topic: TOPIC, identities, count: K, pushClientCaPem: push.caPem, sessions: 64, wake: !args['fleet-no-wake'] });
  const sim = fleet;
  // Seed the enrolled devices.
  const seedT0 = performance.now();
  const opened = await openSqliteStorage(path.join(dataDir, 'rampart.db'));
  const now = new Date().toISOString();
  type DevRow = { id: string; status: string; identity_cert_sha256: string; topic: string; push_token: string; push_magic: string; model: string; os_version: string; enrolled_at: string; created_at: string; updated_at: string };
  for (let i = 0; i < K; i += 2000) {
    const rows: DevRow[] = sim.devices.slice(i, i + 2000).map((d) => ({
      id: d.udid, status: 'enrolled', identity_cert_sha256: sim.identitySha256[d.identity]!, topic: TOPIC, push_token: d.token, push_magic: d.pushMagic,
      model: 'iPhone15,2', os_version: '18.1', enrolled_at: now, created_at: now, updated_at: now,
    }));
    await opened.db.withTables<{ devices: DevRow }>().insertInto('devices').values(rows).execute();
  }
  await opened.close();
  console.log(`seeded ${K} enrolled devices in ${((performance.now() - seedT0) / 1000).toFixed(1)} s`);

  const caFile = path.join(dataDir, 'apns-ca.pem');
  writeFileSync(caFile, sim.apns.caPem);
  server = await startServerProcess({ dataDir, env: {
    RAMPART_APNS_URL: sim.apns.url, RAMPART_APNS_CA_FILE: caFile, RAMPART_LOG_LEVEL: 'error',
    // The push-certificate install and the fleet-wide action are four-eyes by
    // default; the benchmark measures the device plane, not the approval round.
    RAMPART_AUTHZ: JSON.stringify({ approvals: { actions: [] }, rateLimits: { 'command.bulk': { limit: 10_000_000, windowMinutes: 60 } } }),
  } });
  server.token = token;
  sim.connectTo(server.deviceUrl, readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8'));
  const up = await api(server, 'POST', '/api/v1/push/certificate', { certPem: push.certPem, keyPem: push.keyPem });
  if (up.status !== 201) throw new Error(`push certificate upload: ${up.status}`);
  console.log(`server pids ${pids(server).join(', ')}; RSS after start with ${K} devices: ${rssMiB(pids(server)).toFixed(0)} MiB`);

  if (!args['only-fleet']) {
  console.log('\n| scenario | connections | requests/s | p50 ms | p99 ms | server CPU ms per unit | server RSS MiB |');
  console.log('|---|---|---|---|---|---|---|');
  // Idle check-ins: signed Idle connects with nothing queued (signature prepared once per device).
  const idleDevs = sim.devices.slice(0, Math.min(K, 2000));
  const idleBodies = idleDevs.map((d) => {
    const body = buildPlist({ UDID: d.udid, Status: 'Idle' });
    return { d, body, sig: sim.sign(d, body) };
  });
  for (const c of LEVELS) {
    await phase('idle check-in (unit: request)', server, c, REQUESTS, async (_w, i) => {
      const x = idleBodies[i % idleBodies.length]!;
      const r = await sim.put(x.d, '/mdm/connect', x.body, x.sig);
      if (r.status !== 200 || r.body.length !== 0) throw new Error(`idle answered ${r.status}`);
      return 1;
    });
  }
  // Command round trips: each worker device has PER commands queued; every request
  // reports the previous command's result and receives the next one.
  let base = 2000;
  for (const c of LEVELS) {
    const per = Math.max(2, Math.ceil(REQUESTS / c));
    const devs: FleetDevice[] = sim.devices.slice(base, base + c);
    base += c;
    const uuids: string[] = [];
    for (let j = 0; j < per; j++) {
      const commandUuid = randomUUID();
      uuids.push(commandUuid);
      const r = await api(server, 'POST', '/api/v1/commands', { deviceIds: devs.map((d) => d.udid), requestType: 'DeviceLock', payload: {}, push: false, commandUuid });
      if (r.status !== 201) throw new Error(`enqueue: ${r.status}`);
    }
    // Every report is signed before the phase, as the idle bodies are: a real
    // device signs on its own hardware, and here the client's RSA signing would
    // take a core of the two the server runs on. The server verifies each.
    const signed = (d: FleetDevice, dict: Record<string, string>): { body: Uint8Array; sig: string } => {
      const body = buildPlist(dict);
      return { body, sig: sim.sign(d, body) };
    };
    const idleOf = new Map(devs.map((d) => [d.udid, signed(d, { UDID: d.udid, Status: 'Idle' })]));
    const ackOf = new Map(devs.map((d) => [d.udid, new Map(uuids.map((u) => [u, signed(d, { UDID: d.udid, CommandUUID: u, Status: 'Acknowledged' })]))]));
    const current = new Map<string, string | undefined>();
    await phase('command round trip, signatures verified (unit: command)', server, c, c * (per + 1), async (w) => {
      const d = devs[w]!;
      const uuid = current.get(d.udid);
      const x = uuid === undefined ? idleOf.get(d.udid)! : ackOf.get(d.udid)!.get(uuid);
      if (!x) throw new Error(`unexpected command ${uuid}`);
      const r = await sim.put(d, '/mdm/connect', x.body, x.sig);
      if (r.status !== 200) throw new Error(`connect answered ${r.status}`);
      const m = /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(r.body.toString('utf8'));
      current.set(d.udid, m?.[1]);
      return uuid === undefined ? 0 : 1;
    });
  }

  }

  if (!args['skip-fleet']) {
    await sim.idle();
    const ps = pids(server);
    let maxRss = rssMiB(ps);
    const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(ps))), 250);
    const pushed0 = sim.apns.received();
    const c0 = cpuMs(ps);
    const t0 = performance.now();
    const r = await api(server, 'POST', '/api/v1/commands/bulk', { requestType: 'DeviceLock', payload: { Message: 'Lost device' }, selection: { filter: {} } });
    if (r.status !== 202) throw new Error(`bulk: ${r.status} ${JSON.stringify(r.json)}`);
    const jobId = (r.json as { jobId: string }).jobId;
    let tQueued = 0;
    let tPushed = 0;
    // Progress (three counts over the command's 100k queue and outbox rows) is
    // read every 250 ms until the job is queued, then once a second, as a
    // console would; the push count comes from the APNs stand-in every 20 ms.
    let lastPoll = -Infinity;
    let p = { state: 'pending', total: 0, acknowledged: 0 };
    let polls = 0;
    for (;;) {
      const since = performance.now() - lastPoll;
      if (since >= (tQueued ? 1000 : 250)) {
        lastPoll = performance.now();
        p = (await api(server, 'GET', `/api/v1/commands/bulk/${jobId}`)).json as typeof p;
        polls++;
      }
      const t = performance.now() - t0;
      if (!tQueued && p.state === 'done') tQueued = t;
      if (!tPushed && sim.apns.received() - pushed0 >= K) tPushed = t;
      if (p.state === 'failed') throw new Error('bulk job failed');
      if (tQueued && tPushed && (p.acknowledged >= K || args['fleet-no-wake'])) {
        const cpu = cpuMs(ps) - c0;
        clearInterval(rssTimer);
        console.log(`\nfleet-wide DeviceLock to ${K} devices: queued (bulk job done) ${(tQueued / 1000).toFixed(1)} s; queued + every push handed to the local APNs server ${(tPushed / 1000).toFixed(1)} s; ${args['fleet-no-wake'] ? 'devices not woken (--fleet-no-wake)' : `all acknowledged ${(t / 1000).toFixed(1)} s`}`);
        await sim.idle();
        const pc0 = cpuMs(ps);
        for (let i = 0; i < 20; i++) await api(server, 'GET', `/api/v1/commands/bulk/${jobId}`);
        console.log(`  progress polls during the run ${polls}; server CPU per progress read afterwards ${((cpuMs(ps) - pc0) / 20).toFixed(1)} ms`);
        console.log(`  server CPU for the whole run ${(cpu / 1000).toFixed(1)} s; peak server RSS (core + gateway) ${maxRss.toFixed(0)} MiB; device sessions ${sim.stats.sessions}, failures ${sim.stats.failures}`);
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  }
} finally {
  await fleet?.close();
  await stopServerProcess(server);
  removeDataDir(dataDir);
}
