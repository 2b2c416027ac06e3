// Moves a populated SQLite installation to a fresh PostgreSQL schema with
// `rampart db copy`, verifies it, and starts a server on the copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pino from 'pino';
import { loadConfig } from '../config/config.ts';
import { startServer } from '../core/serve.ts';
import { openKeys } from '../core/keys.ts';
import { openAudit } from '../core/audit.ts';
import { openPostgresStorage, openSqliteStorage } from '../storage/open.ts';
import { runCli } from '../cli/program.ts';
import { convertValue, copySqliteToPostgres } from './db-copy.ts';
import { TEST_DATABASE_URL, dropSchema, pgSkipReason, randomSchema } from './testdata/pg.ts';

const skip = await pgSkipReason();
const logger = pino({ level: 'silent' });

test('value conversion follows the target column type and refuses what does not fit', () => {
  assert.equal(convertValue(1, 'boolean', 'x'), true);
  assert.equal(convertValue(0n, 'boolean', 'x'), false);
  assert.throws(() => convertValue(2, 'boolean', 't.c'), /t\.c/);
  assert.equal(convertValue('2026-11-22T10:00:00.000Z', 'timestamp with time zone', 'x'), '2026-11-22T10:00:00.000Z');
  assert.throws(() => convertValue('yesterday', 'timestamp with time zone', 'x'), /ISO/);
  assert.deepEqual(convertValue(new Uint8Array([1, 2]), 'bytea', 'x'), Buffer.from([1, 2]));
  assert.equal(convertValue(9007199254740993n, 'bigint', 'x'), '9007199254740993');
  assert.throws(() => convertValue(1.5, 'integer', 'x'), /integer/);
  assert.equal(convertValue(null, 'bytea', 'x'), null);
  assert.throws(() => convertValue(new Uint8Array([1]), 'text', 'x'), /binary/);
});

async function populate(dataDir: string): Promise<{ caPem: string; verifier: string }> {
  const env = { RAMPART_DATA_DIR: dataDir, RAMPART_DEVICE_LISTEN: '127.0.0.1:0', RAMPART_ADMIN_LISTEN: '127.0.0.1:0' };
  const config = loadConfig({ env, dev: true });
  const s = await startServer(config, { logger });
  const out = { caPem: s.caCertPem, verifier: s.auditVerifierKey };
  await s.stop();
  // Devices, queue and results, and their audit entries, through the real stores.
  const opened = await openSqliteStorage(path.join(dataDir, 'rampart.db'));
  const keys = await openKeys(config);
  const audit = await openAudit(config, opened, keys.sealer, logger);
  try {
    const st = opened.storage;
    const now = (): string => new Date().toISOString();
    for (let i = 0; i < 25; i++) {
      await st.devices.create(`dev-${String(i).padStart(2, '0')}`, {
        status: 'enrolled', serialNumber: `SN${i}`, isSupervised: i % 2 === 0, isEncrypted: true,
        unlockTokenSealed: new Uint8Array([i, 0, 255]), enrolledAt: now(), lastSeenAt: now(),
      }, now());
      await st.devices.replaceApps(`dev-${String(i).padStart(2, '0')}`, [{ identifier: 'com.example.a', name: 'A', version: '1', shortVersion: '1', bundleSize: 5_000_000_000, isManaged: true }], now());
    }
    const ids = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
    for (let c = 0; c < 4; c++) {
      await st.queue.enqueue({ uuid: `cmd-${c}`, requestType: 'DeviceInformation', payload: new Uint8Array([c]), createdBy: 'test' }, ids, now());
      await audit.recorder.record({ action: 'command.enqueue', actor: { type: 'system', id: 'test' }, outcome: 'success', target: { type: 'command', id: `cmd-${c}` } });
    }
    for (const id of ids.slice(0, 10)) {
      const got = await st.queue.next(id, { skipNotNow: true }, now());
      assert.ok(got);
      await st.queue.recordResult(id, got.command.uuid, 'Acknowledged', { raw: new Uint8Array([1, 2, 3]), json: '{}', errorJson: null }, now());
      await audit.recorder.record({ action: 'command.result', actor: { type: 'device', id }, outcome: 'success', target: { type: 'command', id: got.command.uuid } });
    }
    await st.settings.set('push.topic', 'com.apple.mgmt.External.test', now());
  } finally {
    await audit.close();
    await opened.close();
  }
  return out;
}

test('postgres: db copy moves a stopped SQLite installation, verifies it, and a server runs on the copy', { skip, timeout: 180_000 }, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-copy-'));
  const schema = randomSchema();
  try {
    const src = await populate(dataDir);
    const main = path.join(dataDir, 'rampart.db');

    // A live process on the source is refused.
    const live = new DatabaseSync(main);
    live.exec('pragma journal_mode = wal');
    live.prepare('select count(*) from devices').get();
    await assert.rejects(copySqliteToPostgres({ fromSqlite: main, toUrl: TEST_DATABASE_URL, schema }), /in use/);
    live.close();

    // The copy, through the command line, in small batches to cross batch boundaries.
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} };
    const code = await runCli(['db', 'copy', '--from', `sqlite:${main}`, '--to', TEST_DATABASE_URL, '--schema', schema, '--batch', '7', '--json'], io);
    assert.equal(code, 0, err.join(''));
    const report = JSON.parse(out.join('')) as { ok: boolean; tables: { table: string; sourceRows: number; targetRows: number }[]; audit: { size: number; rootMatches: boolean; verified: boolean } };
    assert.equal(report.ok, true);
    const rows = Object.fromEntries(report.tables.map((t) => [t.table, t.targetRows]));
    assert.equal(rows.devices, 25);
    assert.equal(rows.device_apps, 25);
    assert.equal(rows.command_queue, 100);
    assert.equal(rows.commands, 4);
    assert.ok(rows.audit_entry! >= 14 + 2);
    assert.ok(rows.settings! >= 5);
    assert.ok(report.tables.every((t) => t.sourceRows === t.targetRows));
    assert.equal(report.audit.rootMatches, true);
    assert.equal(report.audit.verified, true);

    // A second copy into the now non-empty target is refused, unless forced.
    await assert.rejects(copySqliteToPostgres({ fromSqlite: main, toUrl: TEST_DATABASE_URL, schema }), /not empty/);
    const forced = await copySqliteToPostgres({ fromSqlite: main, toUrl: TEST_DATABASE_URL, schema, forceEmptyTarget: true });
    assert.equal(forced.ok, true);

    // Types came across: booleans, bytea, bigints, times.
    const pg = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 2 });
    try {
      const d = await pg.storage.devices.get('dev-02');
      assert.equal(d?.isSupervised, true);
      assert.deepEqual(d?.unlockTokenSealed, new Uint8Array([2, 0, 255]));
      assert.match(d?.enrolledAt ?? '', /^\d{4}-\d{2}-\d{2}T/);
      assert.equal((await pg.storage.devices.listApps('dev-02'))[0]?.bundleSize, 5_000_000_000);
      const e = await pg.storage.queue.entry('dev-00', 'cmd-0');
      assert.equal(e?.status, 'acknowledged');
      assert.deepEqual(e?.resultRaw, new Uint8Array([1, 2, 3]));
      // The identity sequence continues after the copied keys.
      await pg.storage.queue.enqueue({ uuid: 'cmd-after', requestType: 'DeviceInformation', payload: new Uint8Array([9]), createdBy: 't' }, ['dev-00'], new Date().toISOString());
      const after = await pg.storage.queue.entry('dev-00', 'cmd-after');
      assert.ok(after && after.seq > 100);
    } finally {
      await pg.close();
    }

    // A server on the copy: same CA and audit key, no new first admin, the log continues.
    const config = loadConfig({
      env: { RAMPART_DATA_DIR: dataDir, RAMPART_DATABASE_URL: TEST_DATABASE_URL, RAMPART_DATABASE_SCHEMA: schema, RAMPART_DEVICE_LISTEN: '127.0.0.1:0', RAMPART_ADMIN_LISTEN: '127.0.0.1:0' },
      dev: true,
    });
    const s = await startServer(config, { logger });
    try {
      assert.equal(s.firstAdminToken, undefined);
      assert.equal(s.caCertPem, src.caPem);
      assert.equal(s.auditVerifierKey, src.verifier);
      assert.equal(s.topic, 'com.apple.mgmt.External.test');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
  }
});
