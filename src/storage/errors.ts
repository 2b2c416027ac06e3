// Classifies database errors from either backend so callers can turn the
// expected ones (a duplicate key, a missing referenced row) into RampartError
// without matching on message text. Anything else is a bug or an outage.

export type DbErrorKind = 'unique' | 'foreign_key' | 'check' | 'not_null' | 'busy' | 'timeout';

// SQLite extended result codes (https://sqlite.org/rescode.html).
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CONSTRAINT_CHECK = 275;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_NOTNULL = 1299;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

export function dbErrorKind(e: unknown): DbErrorKind | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as { code?: unknown; errcode?: unknown };
  if (err.code === 'ERR_SQLITE_ERROR' && typeof err.errcode === 'number') {
    switch (err.errcode) {
      case SQLITE_CONSTRAINT_PRIMARYKEY:
      case SQLITE_CONSTRAINT_UNIQUE:
        return 'unique';
      case SQLITE_CONSTRAINT_FOREIGNKEY:
        return 'foreign_key';
      case SQLITE_CONSTRAINT_CHECK:
        return 'check';
      case SQLITE_CONSTRAINT_NOTNULL:
        return 'not_null';
      default:
        break;
    }
    const primary = err.errcode & 0xff;
    if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) return 'busy';
    return undefined;
  }
  // PostgreSQL SQLSTATE (pg puts it in `code`).
  switch (err.code) {
    case '23505':
      return 'unique';
    case '23503':
      return 'foreign_key';
    case '23514':
      return 'check';
    case '23502':
      return 'not_null';
    case '40001': // serialization_failure
    case '40P01': // deadlock_detected
    case '55P03': // lock_not_available
      return 'busy';
    case '57014': // query_canceled (statement_timeout)
      return 'timeout';
    default:
      return undefined;
  }
}
