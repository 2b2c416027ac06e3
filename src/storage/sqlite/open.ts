// Opens an SQLite database file with the settings Rampart relies on and wraps
// it in Kysely through the node:sqlite dialect.

import { closeSync, openSync, realpathSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely } from 'kysely';
import { NodeSqliteDialect } from './dialect.ts';
import { createCommitGroup, type CommitGroup } from './commit-group.ts';

export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** Files this process has open: a second handle on the same file could deadlock the event loop. */
const openFiles = new Set<string>();

function canonicalPath(path: string): string {
  // The file exists by now (created below); resolve symlinks so two spellings collide.
  return join(realpathSync(dirname(path)), basename(path));
}

/** Creates the file owner-only (0600) if absent; SQLite gives -wal and -shm the same mode. */
function ensureFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

export interface OpenedSqlite<DB> {
  db: Kysely<DB>;
  raw: DatabaseSync;
  /** Group commit for synchronous writers on raw (the device plane's fast path). */
  group: CommitGroup;
  /** Destroys the Kysely instance and closes the file (idempotent). */
  close(): Promise<void>;
}

export function openSqliteDatabase<DB>(path: string): OpenedSqlite<DB> {
  const memory = path === ':memory:';
  let key: string | undefined;
  if (!memory) {
    if (path.length === 0 || path.includes('\0')) throw new Error('invalid SQLite path');
    ensureFile(path);
    key = canonicalPath(path);
    if (openFiles.has(key)) throw new Error('SQLite database is already open in this process');
  }
  const raw = new DatabaseSync(path, {
    enableForeignKeyConstraints: true,
    timeout: SQLITE_BUSY_TIMEOUT_MS,
  });
  try {
    raw.enableDefensive(true);
    if (!memory) {
      const mode = raw.prepare('pragma journal_mode = wal').get() as { journal_mode?: string } | undefined;
      if (mode?.journal_mode !== 'wal') throw new Error('could not enable WAL mode');
    }
    raw.exec('pragma synchronous = full');
    raw.exec('pragma foreign_keys = on');
    raw.exec(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    raw.exec('pragma trusted_schema = off');
    // Case-insensitive Unicode folding for device search (SQLite's lower() folds ASCII only).
    raw.function('rampart_lower', { deterministic: true }, (v) => (typeof v === 'string' ? v.toLowerCase() : null));
  } catch (e) {
    raw.close();
    throw e;
  }
  if (key) openFiles.add(key);
  const group = createCommitGroup(raw);
  const db = new Kysely<DB>({
    dialect: new NodeSqliteDialect({
      database: raw,
      beforeUse: group.flush,
    }),
  });
  const release = (): void => {
    if (raw.isOpen) raw.close();
    if (key) openFiles.delete(key);
  };
  return {
    db,
    raw,
    group,
    close: async () => {
      try {
        group.flush();
        await db.destroy();
      } finally {
        release();
      }
    },
  };
}
