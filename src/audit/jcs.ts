// RFC 8785 JSON Canonicalization Scheme (JCS). The audit log hashes the
// canonical form of each entry, so two implementations that agree on the
// event agree on the bytes.
//
// - object members sorted by key, comparing UTF-16 code units (not locale, not
//   code points);
// - numbers serialised as ECMAScript Number::toString (RFC 8785 3.2.2.3),
//   NaN and the infinities refused;
// - strings with the minimal JSON escaping (RFC 8785 3.2.2.2): ", \ and the
//   control characters below U+0020; \b \t \n \f \r in short form, the other
//   controls as \u00xx in lower-case hex; lone surrogates refused (I-JSON).

import type { JsonValue } from './types.ts';

export class CanonicalizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalizationError';
  }
}

const SHORT: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };

export function canonicalString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate must be followed by a low one; a low one must not stand alone.
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new CanonicalizationError('lone surrogate in string');
    }
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(start, i);
    out += SHORT[c] ?? '\\u' + c.toString(16).padStart(4, '0');
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}

export function canonicalNumber(n: number): string {
  if (!Number.isFinite(n)) throw new CanonicalizationError('number is not finite');
  // Number.prototype.toString is the ECMAScript Number::toString the RFC
  // prescribes; -0 serialises as "0".
  return Object.is(n, -0) ? '0' : String(n);
}

/** Compare two strings by UTF-16 code units (RFC 8785 3.2.3). */
export function compareCodeUnits(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const MAX_DEPTH = 64;

function write(v: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CanonicalizationError('nesting too deep');
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return canonicalNumber(v);
    case 'string':
      return canonicalString(v);
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          out += write(v[i], depth + 1);
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new CanonicalizationError('not a plain object');
      const rec = v as Record<string, unknown>;
      const keys = Object.keys(rec).filter((k) => rec[k] !== undefined).sort(compareCodeUnits);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        if (i > 0) out += ',';
        out += canonicalString(k) + ':' + write(rec[k], depth + 1);
      }
      return out + '}';
    }
    default:
      throw new CanonicalizationError(`cannot canonicalise a ${typeof v}`);
  }
}

/**
 * The RFC 8785 canonical text of a JSON value. Object members whose value is
 * undefined are omitted (as JSON.stringify does); any other non-JSON value
 * (function, bigint, symbol, class instance, non-finite number) is refused.
 */
export function canonicalize(value: JsonValue): string {
  return write(value, 0);
}

/** Parse JSON text and return its canonical form. */
export function canonicalizeText(text: string): string {
  return canonicalize(JSON.parse(text) as JsonValue);
}
