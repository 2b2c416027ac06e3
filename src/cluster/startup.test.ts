// Two nodes starting at the same moment on one PostgreSQL schema (and one data
// directory) create exactly one first administrator, one CA, one audit signer
// key, one key file and one TLS certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../config/config.ts';
import { startServer } from '../core/serve.ts';
import { PgAuditStore } from '../audit/store-pg.ts';
import pg from 'pg';
import { TEST_DATABASE_URL, dropSchema, pgSkipReason, randomSchema } from './testdata/pg.ts';

const skip = await pgSkipReason();

test('config: node id and database schema', () => {
  const c = loadConfig({ env: { RAMPART_NODE_ID: 'node-a', RAMPART_DATABASE_SCHEMA: 'mdm' }, dev: true, cwd: '/tmp' });
  assert.equal(c.nodeId, 'node-a');
  assert.equal(c.databaseSchema, 'mdm');
  const d = loadConfig({ env: {}, dev: true, cwd: '/tmp' });
  assert.equal(d.databaseSchema, 'public');
  assert.match(d.nodeId, /^[A-Za-z0-9_.-]{1,48}$/);
  assert.throws(() => loadConfig({ env: { RAMPART_NODE_ID: 'a b' }, dev: true, cwd: '/tmp' }), /RAMPART_NODE_ID/);
  assert.throws(() => loadConfig({ env: { RAMPART_DATABASE_SCHEMA: 'Bad"' }, dev: true, cwd: '/tmp' }), /RAMPART_DATABASE_SCHEMA/);
});

test('postgres: two nodes starting at once bootstrap the installation once', { skip, timeout: 120_000 }, async () => {
  const schema = randomSchema();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-cluster-'));
  const env = (node: string): Record<string, string> => ({
    RAMPART_DATA_DIR: dataDir,
    RAMPART_DATABASE_URL: TEST_DATABASE_URL,
    RAMPART_DATABASE_SCHEMA: schema,
    RAMPART_NODE_ID: node,
    RAMPART_DEVICE_LISTEN: '127.0.0.1:0',
    RAMPART_ADMIN_LISTEN: '127.0.0.1:0',
  });
  const logger = pino({ level: 'silent' });
  const servers = await Promise.all(['a', 'b'].map((n) => startServer(loadConfig({ env: env(n), dev: true }), { logger })));
  try {
    assert.equal(servers.filter((s) => s.firstAdminToken !== undefined).length, 1, 'one first administrator');
    assert.equal(servers[0]!.caCertPem, servers[1]!.caCertPem, 'one CA');
    assert.equal(servers[0]!.auditVerifierKey, servers[1]!.auditVerifierKey, 'one audit signer key');
    assert.equal(servers[0]!.tlsCaPem, servers[1]!.tlsCaPem);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    try {
      const admins = await pool.query(`select count(*)::int as n from "${schema}".admins`);
      assert.equal((admins.rows[0] as { n: number }).n, 1);
      const store = new PgAuditStore(pool, { schema });
      assert.equal((await store.search({ action: 'ca.create' })).length, 1);
      assert.equal((await store.search({ action: 'admin.create' })).length, 1);
    } finally {
      await pool.end();
    }
    // Exactly one node leads the periodic jobs.
    const deadline = Date.now() + 20_000;
    while (servers.filter((s) => s.cluster.leader.isLeader).length !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(servers.filter((s) => s.cluster.leader.isLeader).length, 1);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
  }
});

test('postgres: a node that fails during start-up releases the start-up lock', { skip, timeout: 120_000 }, async () => {
  const schema = randomSchema();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-cluster-'));
  const base = {
    RAMPART_DATA_DIR: dataDir,
    RAMPART_DATABASE_URL: TEST_DATABASE_URL,
    RAMPART_DATABASE_SCHEMA: schema,
    RAMPART_DEVICE_LISTEN: '127.0.0.1:0',
    RAMPART_ADMIN_LISTEN: '127.0.0.1:0',
  };
  const logger = pino({ level: 'silent' });
  try {
    const broken = loadConfig({ env: { ...base, RAMPART_TLS_CERT: path.join(dataDir, 'missing.pem'), RAMPART_TLS_KEY: path.join(dataDir, 'missing.key') }, dev: true });
    await assert.rejects(startServer(broken, { logger }), /ENOENT/);
    const s = await startServer(loadConfig({ env: base, dev: true }), { logger });
    await s.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
  }
});
