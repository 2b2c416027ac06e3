// Deterministic XML property-list writer.
//
// Output: UTF-8, the Apple DOCTYPE, tab indentation, dictionary keys sorted by
// UTF-16 code unit, <data> as one base64 line, <date> as YYYY-MM-DDTHH:MM:SSZ
// (milliseconds dropped). A `number` that is a safe integer is written as
// <integer>, any other finite number as <real>; a `bigint` is an <integer>
// (64-bit range). `undefined` dictionary values are skipped (convenient for
// optional fields); anything else that is not a PlistValue, a non-finite
// number, a string XML cannot carry, a cycle or nesting deeper than
// MAX_BUILD_DEPTH is refused with badRequest.

import { Buffer } from 'node:buffer';
import { badRequest } from '../../lib/errors.ts';
import { isPlistDict } from './types.ts';
import type { PlistValue } from './types.ts';

export const MAX_BUILD_DEPTH = 64;

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';
const FOOTER = '</plist>\n';

const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ESCAPE = /[&<>\r]/g;
const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

const encoder = new TextEncoder();

function escapeText(s: string): string {
  if (!s.isWellFormed() || FORBIDDEN_CHARS.test(s)) throw badRequest('string not representable in plist');
  return s.replace(ESCAPE, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

function formatDate(d: Date): string {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw badRequest('invalid date in plist');
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) throw badRequest('invalid date in plist');
  // toISOString is YYYY-MM-DDTHH:MM:SS.sssZ for years 0..9999.
  return d.toISOString().slice(0, 19) + 'Z';
}

function write(v: unknown, indent: string, depth: number, out: string[], seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
      out.push(indent, '<string>', escapeText(v), '</string>\n');
      return;
    case 'boolean':
      out.push(indent, v ? '<true/>\n' : '<false/>\n');
      return;
    case 'number':
      if (!Number.isFinite(v)) throw badRequest('number not representable in plist');
      if (Number.isSafeInteger(v)) out.push(indent, '<integer>', String(v === 0 ? 0 : v), '</integer>\n');
      else out.push(indent, '<real>', String(v), '</real>\n');
      return;
    case 'bigint':
      if (v < MIN_I64 || v > MAX_U64) throw badRequest('integer out of plist range');
      out.push(indent, '<integer>', v.toString(), '</integer>\n');
      return;
    case 'object':
      break;
    default:
      throw badRequest('value not representable in plist');
  }
  if (v === null) throw badRequest('value not representable in plist');
  if (v instanceof Date) {
    out.push(indent, '<date>', formatDate(v), '</date>\n');
    return;
  }
  if (v instanceof Uint8Array) {
    out.push(indent, '<data>', Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'), '</data>\n');
    return;
  }
  if (depth >= MAX_BUILD_DEPTH || seen.has(v)) throw badRequest('plist nesting too deep');
  if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push(indent, '<array/>\n');
      return;
    }
    seen.add(v);
    out.push(indent, '<array>\n');
    const inner = indent + '\t';
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      if (item === undefined) throw badRequest('value not representable in plist');
      write(item, inner, depth + 1, out, seen);
    }
    out.push(indent, '</array>\n');
    seen.delete(v);
    return;
  }
  if (!isPlistDict(v)) throw badRequest('value not representable in plist');
  const rec = v as Record<string, unknown>;
  const keys = Object.keys(rec).filter((k) => rec[k] !== undefined).sort();
  if (keys.length === 0) {
    out.push(indent, '<dict/>\n');
    return;
  }
  seen.add(v);
  out.push(indent, '<dict>\n');
  const inner = indent + '\t';
  for (const k of keys) {
    out.push(inner, '<key>', escapeText(k), '</key>\n');
    write(rec[k], inner, depth + 1, out, seen);
  }
  out.push(indent, '</dict>\n');
  seen.delete(v);
}

/** Builds an XML property list (UTF-8 bytes). See the module comment for the mapping. */
export function buildPlist(value: PlistValue): Uint8Array {
  return encoder.encode(buildPlistString(value));
}

/** Same as buildPlist, as a string. */
export function buildPlistString(value: PlistValue): string {
  const out: string[] = [HEADER];
  write(value, '', 0, out, new Set());
  out.push(FOOTER);
  return out.join('');
}
