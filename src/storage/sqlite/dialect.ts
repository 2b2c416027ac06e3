// A Kysely dialect over node:sqlite (DatabaseSync). Kysely ships a SQLite
// dialect for better-sqlite3 only; node:sqlite differs in small ways (variadic
// parameters, no `reader` flag, no booleans), and we want our own transaction
// semantics:
//
// - Every read-write transaction is `BEGIN IMMEDIATE`: the write lock is taken
//   at the start, so two processes on one file never both hold a read snapshot
//   and then deadlock upgrading to a writer (SQLITE_BUSY mid-transaction).
// - The adapter reports transactional DDL (SQLite has it), so Kysely's
//   Migrator runs migrations inside one such transaction, which also makes a
//   concurrent migration from another process wait instead of racing.
// - Kysely serialises use of the single connection (supportsMultipleConnections
//   is false), so a transaction's statements never interleave with others.
//
// node:sqlite is synchronous: a query runs to completion on the calling
// thread. That is what makes it fast; it also means a process must not open
// the same file through two DatabaseSync handles and hold a transaction open
// on one while the other waits for the lock (it would block its own event
// loop). src/storage/sqlite/open.ts enforces one handle per file per process.

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  SelectQueryNode,
} from 'kysely';
import type {
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';

/** Prepared statements kept per connection; Kysely emits the same SQL for the same query shape. */
const STATEMENT_CACHE_SIZE = 256;

export class NodeSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** Converts a Kysely parameter into something node:sqlite accepts. */
export function toSqliteValue(v: unknown): SQLInputValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
      return v;
    case 'boolean':
      return v ? 1 : 0;
    default:
      break;
  }
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`unsupported SQLite parameter type: ${Object.prototype.toString.call(v)}`);
}

export class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, { stmt: StatementSync; reader: boolean }>();
  readonly #beforeUse: (() => void) | undefined;

  constructor(db: DatabaseSync, beforeUse?: () => void) {
    this.#db = db;
    this.#beforeUse = beforeUse;
  }

  #prepare(sqlText: string): { stmt: StatementSync; reader: boolean } {
    const hit = this.#cache.get(sqlText);
    if (hit) {
      // Refresh LRU position.
      this.#cache.delete(sqlText);
      this.#cache.set(sqlText, hit);
      return hit;
    }
    const stmt = this.#db.prepare(sqlText);
    const entry = { stmt, reader: stmt.columns().length > 0 };
    this.#cache.set(sqlText, entry);
    if (this.#cache.size > STATEMENT_CACHE_SIZE) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    return entry;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    this.#beforeUse?.();
    const { stmt, reader } = this.#prepare(compiledQuery.sql);
    const params = compiledQuery.parameters.map(toSqliteValue);
    if (reader) {
      return { rows: stmt.all(...params) as R[] };
    }
    const { changes, lastInsertRowid } = stmt.run(...params);
    return {
      insertId: BigInt(lastInsertRowid),
      numAffectedRows: BigInt(changes),
      rows: [],
    };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) {
      throw new Error('node:sqlite driver only streams select queries');
    }
    this.#beforeUse?.();
    const { stmt } = this.#prepare(compiledQuery.sql);
    // A statement being iterated must not be reused meanwhile: take it out of the cache.
    this.#cache.delete(compiledQuery.sql);
    for (const row of stmt.iterate(...compiledQuery.parameters.map(toSqliteValue))) {
      yield { rows: [row as R] };
    }
  }

  clearCache(): void {
    this.#cache.clear();
  }
}

export interface NodeSqliteDialectConfig {
  /** An open database; the driver closes it on Kysely#destroy(). */
  database: DatabaseSync;
  /** Called before every statement Kysely runs (the commit group's flush: src/storage/sqlite/commit-group.ts). */
  beforeUse?: () => void;
}

class NodeSqliteDriver implements Driver {
  readonly #config: NodeSqliteDialectConfig;
  #connection: NodeSqliteConnection | undefined;

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    this.#connection = new NodeSqliteConnection(this.#config.database, this.#config.beforeUse);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.#connection) throw new Error('driver not initialised');
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const mode = settings.accessMode === 'read only' ? 'deferred' : 'immediate';
    await connection.executeQuery(CompiledQuery.raw(`begin ${mode}`));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // A failed COMMIT or an SQLite-initiated rollback may already have ended it.
    if (this.#config.database.isTransaction) {
      await connection.executeQuery(CompiledQuery.raw('rollback'));
    }
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(savepointQuery('savepoint', name));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(savepointQuery('rollback to', name));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(savepointQuery('release', name));
  }

  async releaseConnection(): Promise<void> {
    // Single connection, serialised by Kysely's connection mutex.
  }

  async destroy(): Promise<void> {
    this.#connection?.clearCache();
    this.#connection = undefined;
    if (this.#config.database.isOpen) this.#config.database.close();
  }
}

function savepointQuery(command: 'savepoint' | 'rollback to' | 'release', name: string): CompiledQuery {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error('invalid savepoint name');
  return CompiledQuery.raw(`${command} "${name}"`);
}

export class NodeSqliteDialect implements Dialect {
  readonly #config: NodeSqliteDialectConfig;

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new NodeSqliteAdapter();
  }

  // Kysely's own signature takes Kysely<any>.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
