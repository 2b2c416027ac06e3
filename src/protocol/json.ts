// Plist values in JSON form, for storage and comparison: data as base64
// strings, dates as ISO-8601 strings, big integers as decimal strings.
import type { JsonValue } from '../audit/types.ts';
import type { PlistValue } from './plist/index.ts';

export function plistToJson(v: PlistValue): JsonValue {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(plistToJson);
  const out: { [k: string]: JsonValue } = {};
  for (const [k, x] of Object.entries(v)) out[k] = plistToJson(x);
  return out;
}
