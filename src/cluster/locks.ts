// Advisory-lock keys and the start-up lock for several nodes on one
// PostgreSQL database. Keys are two int32s: a class naming Rampart's cluster
// locks and a hash of (schema, name), so two installations in different
// schemas of one database never contend. The audit log's own locks use a
// different class (src/audit/store-pg.ts).

import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { NoTables } from '../storage/schema.ts';

/** "RMLD": class of the cluster advisory locks. */
export const CLUSTER_LOCK_CLASS = 0x524d4c44;

export interface LockKey {
  classId: number;
  objId: number;
}

const NAME_RE = /^[a-z][a-z0-9_.-]{0,62}$/;

/** The advisory-lock key of a named lock in a schema. */
export function lockKey(schema: string, name: string): LockKey {
  if (!NAME_RE.test(name)) throw new Error('invalid lock name');
  return { classId: CLUSTER_LOCK_CLASS, objId: createHash('sha256').update(`rampart ${schema} ${name}`).digest().readInt32BE(0) };
}

/**
 * Runs `fn` while holding a session advisory lock on one connection of `db`
 * (PostgreSQL), so nodes starting at once run it one after the other: the
 * second sees what the first created (first administrator, CA, audit signer
 * key, ...). The lock goes with the session if the holder dies. On SQLite
 * (one node; BEGIN IMMEDIATE serialises writers) `fn` simply runs.
 */
export async function withClusterLock<T>(
  target: { backend: 'sqlite' | 'postgres'; db: Kysely<NoTables>; schema: string | undefined },
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  if (target.backend !== 'postgres') return fn();
  const key = lockKey(target.schema ?? 'public', name);
  return target.db.connection().execute(async (conn) => {
    // Another node's start-up (CA key generation, migrations) may take longer
    // than the pool's statement_timeout: wait up to five minutes for it.
    await sql`select set_config('statement_timeout', '300000', false)`.execute(conn);
    try {
      await sql`select pg_advisory_lock(${key.classId}, ${key.objId})`.execute(conn);
    } finally {
      await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
    }
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(${key.classId}, ${key.objId})`.execute(conn).catch(() => undefined);
    }
  });
}

/**
 * Like withClusterLock, for code that cannot be wrapped in one function:
 * resolves once the lock is held, with a function that releases it.
 */
export async function holdClusterLock(
  target: { backend: 'sqlite' | 'postgres'; db: Kysely<NoTables>; schema: string | undefined },
  name: string,
): Promise<() => Promise<void>> {
  if (target.backend !== 'postgres') return async () => undefined;
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  let finished: Promise<void> = Promise.resolve();
  const held = new Promise<void>((resolve, reject) => {
    const done = withClusterLock(target, name, async () => {
      resolve();
      await released;
    });
    done.catch(reject);
    finished = done;
  });
  await held;
  // Idempotent: releasing twice is harmless.
  return async () => {
    release();
    await finished.catch(() => undefined);
  };
}
