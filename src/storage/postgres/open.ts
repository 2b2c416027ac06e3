// Opens a pooled PostgreSQL connection through Kysely.

import pg from 'pg';
import { CompiledQuery, Kysely } from 'kysely';
import { SchemaPostgresDialect } from './introspector.ts';

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** statement_timeout for every connection, ms (default 30000; 0 disables). */
  statementTimeoutMs?: number;
  /** Schema for all tables (search_path); default "public". */
  schema?: string;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function validSchemaName(schema: string): string {
  if (!SCHEMA_RE.test(schema)) throw new Error('invalid PostgreSQL schema name');
  return schema;
}

export interface OpenedPostgres<DB> {
  db: Kysely<DB>;
  schema: string;
  close(): Promise<void>;
}

export function openPostgresDatabase<DB>(url: string, opts: PostgresOptions = {}): OpenedPostgres<DB> {
  const schema = validSchemaName(opts.schema ?? 'public');
  const poolSize = opts.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) throw new Error('invalid pool size');
  const statementTimeout = opts.statementTimeoutMs ?? 30_000;
  if (!Number.isInteger(statementTimeout) || statementTimeout < 0) throw new Error('invalid statement timeout');
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    statement_timeout: statementTimeout,
    // A transaction left open by a bug must not hold row locks forever.
    idle_in_transaction_session_timeout: Math.max(statementTimeout, 60_000),
    application_name: 'rampart',
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its server connection emits 'error' on the pool;
  // unhandled, that would crash the process. The pool drops the client itself.
  pool.on('error', () => {});
  const db = new Kysely<DB>({
    dialect: new SchemaPostgresDialect({
      pool,
      onCreateConnection: async (conn) => {
        // The name is validated above; identifiers cannot be bound as parameters.
        await conn.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
      },
    }, schema),
  });
  let closing: Promise<void> | undefined;
  return {
    db,
    schema,
    close: () => (closing ??= db.destroy()),
  };
}
