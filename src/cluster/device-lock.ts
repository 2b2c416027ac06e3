// Serialises work per key (a device id) within a node and across nodes.
//
// Used where a check-then-act spans two stores and so cannot be one
// transaction: the connect service looks up the audit log for a device's
// `command.result` entry, writes it if absent, then records the result in the
// queue. Two identical reports of one device handled at once (a device retrying
// on another node while the first request is still running) would otherwise
// both find no entry and both write one.
//
// In-process: a promise chain per key. PostgreSQL: additionally a session
// advisory lock per key, taken on a connection of a small pool of its own (so
// the work inside, which uses the storage and audit pools, can never wait for
// a connection the lock holders keep).

import { createHash } from 'node:crypto';
import pg from 'pg';
import { validSchemaName } from '../storage/postgres/open.ts';

export type Serializer = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

/** Per-key mutual exclusion inside this process. */
export function localSerializer(): Serializer {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** "RMDV": class of the per-device advisory locks. */
const DEVICE_LOCK_CLASS = 0x524d4456;

export interface PgSerializer {
  run: Serializer;
  close(): Promise<void>;
}

export function pgSerializer(opts: { connectionString: string; schema: string; poolSize?: number }): PgSerializer {
  const schema = validSchemaName(opts.schema);
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolSize ?? 4,
    application_name: 'rampart-device-lock',
    // Waiting for another node's holder is bounded; the work inside is short.
    statement_timeout: 30_000,
  });
  pool.on('error', () => undefined);
  const local = localSerializer();
  const keyOf = (key: string): number => createHash('sha256').update(`${schema} ${key}`).digest().readInt32BE(0);
  return {
    run: <T>(key: string, fn: () => Promise<T>): Promise<T> =>
      local(key, async () => {
        const k = keyOf(key);
        const c = await pool.connect();
        let locked = false;
        try {
          await c.query('select pg_advisory_lock($1, $2)', [DEVICE_LOCK_CLASS, k]);
          locked = true;
          return await fn();
        } finally {
          if (locked) {
            try {
              await c.query('select pg_advisory_unlock($1, $2)', [DEVICE_LOCK_CLASS, k]);
              locked = false;
            } catch {
              /* the connection is closed below, which frees the lock */
            }
          }
          // A connection that may still hold the lock is closed, not reused.
          c.release(locked ? true : undefined);
        }
      }),
    close: () => pool.end(),
  };
}
