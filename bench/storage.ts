// Storage benchmark (not a test): fleet-wide enqueue to 100,000 devices on
// SQLite and PostgreSQL, and the next()+recordResult round trip on SQLite.
//   ./node_modules/.bin/node bench/storage.ts [postgres-url]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { openPostgresStorage, openSqliteStorage } from '../src/storage/open.ts';
import type { OpenedStorage } from '../src/storage/open.ts';

const FLEET = 100_000;
const ROUND_TRIPS = 2000;
const ms = (ns: bigint) => Number(ns) / 1e6;

async function seedDevices(o: OpenedStorage, ids: string[]): Promise<void> {
  const now = new Date().toISOString();
  // Seeding is not what we measure: bulk insert directly.
  for (let i = 0; i < ids.length; i += 5000) {
    const rows = ids.slice(i, i + 5000).map((id) => ({ id, status: 'enrolled', created_at: now, updated_at: now }));
    await o.db.withTables<{ devices: { id: string; status: string; created_at: string; updated_at: string } }>()
      .insertInto('devices').values(rows).execute();
  }
}

async function fleetEnqueue(label: string, o: OpenedStorage): Promise<void> {
  await o.migrate();
  const ids = Array.from({ length: FLEET }, (_, i) => `UDID-${String(i).padStart(6, '0')}`);
  await seedDevices(o, ids);
  const payload = new Uint8Array(600).fill(60);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await o.storage.queue.enqueue({ uuid: 'fleet-lock', requestType: 'DeviceLock', payload, createdBy: 'bench' }, ids, new Date().toISOString());
  const wall = ms(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  const sum = await o.storage.queue.summary('fleet-lock');
  console.log(`${label}: enqueue to ${FLEET} devices: ${wall.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms node CPU (pending=${sum.pending})`);
}

async function roundTrip(o: OpenedStorage): Promise<void> {
  const now = () => new Date().toISOString();
  await o.storage.devices.create('rt-device', { status: 'enrolled' }, now());
  for (let j = 0; j < ROUND_TRIPS * 2 + 1; j++) {
    await o.storage.queue.enqueue({ uuid: `rt-${j}`, requestType: 'DeviceInformation', payload: new Uint8Array(400), createdBy: 'bench' }, ['rt-device'], now());
  }
  const result = { raw: new Uint8Array(800), json: '{"Status":"Acknowledged"}', errorJson: null };
  const report = (label: string, t0: bigint, c0: NodeJS.CpuUsage): void => {
    const wall = ms(process.hrtime.bigint() - t0) * 1000 / ROUND_TRIPS;
    const cpu = process.cpuUsage(c0);
    console.log(`sqlite: ${label}: ${wall.toFixed(0)} µs wall, ${((cpu.user + cpu.system) / ROUND_TRIPS).toFixed(0)} µs process CPU (user ${(cpu.user / ROUND_TRIPS).toFixed(0)}, system ${(cpu.system / ROUND_TRIPS).toFixed(0)}; ${ROUND_TRIPS} iterations, synchronous=FULL)`);
  };
  // Before: two transactions (two durable commits) per connect.
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const got = await o.storage.queue.next('rt-device', { skipNotNow: true }, now());
    if (!got) throw new Error('queue drained early');
    await o.storage.queue.recordResult('rt-device', got.command.uuid, 'Acknowledged', result, now());
  }
  report('next() then recordResult() (two commits)', t0, c0);
  // After: what the connect service does now, one transaction per connect.
  let current = (await o.storage.queue.next('rt-device', { skipNotNow: true }, now()))!.command.uuid;
  t0 = process.hrtime.bigint();
  c0 = process.cpuUsage();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const r = await o.storage.queue.recordResultAndNext('rt-device', current, 'Acknowledged', result, { skipNotNow: true }, now());
    if (!r.next) throw new Error('queue drained early');
    current = r.next.command.uuid;
  }
  report('recordResultAndNext() (one commit)', t0, c0);
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-'));
try {
  const s = await openSqliteStorage(join(dir, 'bench.db'));
  await fleetEnqueue('sqlite', s);
  await roundTrip(s);
  await s.close();

  const url = process.argv[2] ?? process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `rampart_bench_${randomBytes(4).toString('hex')}`;
  const p = await openPostgresStorage(url, { schema, statementTimeoutMs: 120_000 });
  try {
    await fleetEnqueue('postgres', p);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 500; i++) {
      const got = await p.storage.queue.next(`UDID-${String(i).padStart(6, '0')}`, { skipNotNow: true }, new Date().toISOString());
      if (!got) throw new Error('nothing due');
      await p.storage.queue.recordResult(got.entry.deviceId, got.command.uuid, 'Acknowledged', { raw: new Uint8Array(10), json: '{}', errorJson: null }, new Date().toISOString());
    }
    console.log(`postgres: next()+recordResult round trip: ${(ms(process.hrtime.bigint() - t0) * 1000 / 500).toFixed(0)} µs wall (local server, 500 iterations)`);
  } finally {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(p.db).catch(() => {});
    await p.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
