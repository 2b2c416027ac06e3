// Value normalisation between the contract (ISO strings, Uint8Array, boolean,
// number) and what each backend hands back (Date, Buffer, 0/1, int8 strings).

import { badRequest } from '../../lib/errors.ts';

/**
 * Normalises a contract time to Date#toISOString() form (UTC, milliseconds),
 * so both backends store and return identical strings and text comparison on
 * SQLite orders correctly. Rejects anything unparseable or outside years 0..9999.
 */
export function isoIn(v: string): string {
  if (typeof v !== 'string' || v.length > 64) throw badRequest('invalid time');
  const d = new Date(v);
  const t = d.getTime();
  if (Number.isNaN(t)) throw badRequest('invalid time');
  const s = d.toISOString();
  if (!/^\d{4}-/.test(s)) throw badRequest('invalid time');
  return s;
}

export function isoInOrNull(v: string | null): string | null {
  return v === null ? null : isoIn(v);
}

export function isoOut(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') return v;
  throw new TypeError('unexpected time value');
}

export function isoOutOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : isoOut(v);
}

export function numOut(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new TypeError('integer out of range');
    return n;
  }
  throw new TypeError('unexpected integer value');
}

export function numOutOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : numOut(v);
}

export function boolOutOrNull(v: unknown): boolean | null {
  if (v === null || v === undefined) return null;
  return v === true || v === 1 || v === 1n;
}

/** A plain Uint8Array copy: never a pooled Buffer slice sharing memory with other data. */
export function bytesOut(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) {
    return Object.getPrototypeOf(v) === Uint8Array.prototype && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength
      ? v
      : new Uint8Array(v);
  }
  throw new TypeError('unexpected binary value');
}

export function bytesOutOrNull(v: unknown): Uint8Array | null {
  return v === null || v === undefined ? null : bytesOut(v);
}

export function bytesIn(v: Uint8Array): Uint8Array {
  if (!(v instanceof Uint8Array)) throw badRequest('invalid binary value');
  return v;
}

export function bytesInOrNull(v: Uint8Array | null): Uint8Array | null {
  return v === null ? null : bytesIn(v);
}

export function limitIn(limit: number, max = 1000): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw badRequest('invalid limit');
  return limit;
}

export function textIn(v: string, max = 4096): string {
  if (typeof v !== 'string' || v.length > max || v.includes('\0')) throw badRequest('invalid value');
  return v;
}
