// Shared test fixtures for src/audit tests (not shipped code).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { SqliteAuditStore } from '../store-sqlite.ts';
import { PgAuditStore } from '../store-pg.ts';
import type { AuditStore } from '../store.ts';

export function tempDir(prefix = 'rampart-audit-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function sqliteStore(): Promise<{ store: SqliteAuditStore; db: DatabaseSync; path: string; cleanup: () => Promise<void> }> {
  const t = tempDir();
  const path = join(t.dir, 'audit.db');
  const db = new DatabaseSync(path);
  const store = new SqliteAuditStore(db);
  await store.init();
  return {
    store,
    db,
    path,
    cleanup: async () => {
      await store.close();
      db.close();
      t.cleanup();
    },
  };
}

export const PG_CONFIG = { host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test' };

/**
 * A PgAuditStore in a fresh random schema, or a skip reason when PostgreSQL is
 * unreachable (a failure instead when RAMPART_TEST_REQUIRE_POSTGRES=1).
 */
export async function pgStore(): Promise<
  { store: PgAuditStore; pool: pg.Pool; schema: string; cleanup: () => Promise<void> } | { skip: string }
> {
  const pool = new pg.Pool({ ...PG_CONFIG, max: 6, connectionTimeoutMillis: 2000 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch {
    await pool.end().catch(() => undefined);
    if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') throw new Error('PostgreSQL required but unreachable at 127.0.0.1:5432');
    return { skip: 'PostgreSQL not reachable at 127.0.0.1:5432' };
  }
  const schema = `audit_test_${randomBytes(6).toString('hex')}`;
  const store = new PgAuditStore(pool, { schema });
  await store.init();
  return {
    store,
    pool,
    schema,
    cleanup: async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

export type StoreFactory = () => Promise<{ store: AuditStore; cleanup: () => Promise<void> } | { skip: string }>;
