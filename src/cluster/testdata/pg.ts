// Test fixtures: a reachable PostgreSQL (or a skip reason; a failure when
// RAMPART_TEST_REQUIRE_POSTGRES=1) and fresh random schemas.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** undefined when PostgreSQL answers; otherwise why the PG tests skip. Throws when PG is required. */
export async function pgSkipReason(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (e) {
    const msg = `PostgreSQL unreachable: ${e instanceof Error ? e.message : String(e)}`;
    if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') throw new Error(`PostgreSQL required but ${msg}`);
    return msg;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function randomSchema(prefix = 'rampart_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await c.end();
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Terminates every backend whose application_name is `app` (as an operator or a network failure would). */
export async function terminateBackends(app: string): Promise<number> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query('select pg_terminate_backend(pid) as t from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()', [app]);
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}
