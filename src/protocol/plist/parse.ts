// Strict XML property-list parser for bytes from the public network.
//
// This is a single-pass scanner over a closed grammar (the Apple plist DTD plus
// comments), not a general XML parser: size, UTF-8, DOCTYPE, entity, depth and
// node-count checks happen while scanning, so nothing unbounded ever runs and
// no recursion happens at all (containers are kept on an explicit stack).
//
// Why not hand the text to the `plist` package after a pre-scan: the pre-scan
// already has to tokenize the whole document (depth, node count, duplicate
// keys), the package's DOM parse costs ~250 µs for a 1.2 KB check-in (the
// check-in budget is 400 µs for the whole server), it rounds integers beyond
// 2^53, maps unknown elements to null and accepts malformed numbers and dates.
// The package is used in the tests as a differential oracle instead.
//
// Accepted:
//   optional UTF-8 BOM, optional <?xml ...?> declaration (encoding UTF-8 only),
//   comments and whitespace between elements, the standard Apple DOCTYPE only,
//   <plist> (only a `version` attribute) holding one value, the elements
//   dict/array/key/string/integer/real/true/false/date/data, the five
//   predefined entities and numeric character references in text.
// Refused: binary plists, other encodings, any other DOCTYPE or internal
//   subset, <!ENTITY>, processing instructions, CDATA, unknown elements,
//   attributes (except on <plist>), text where an element is expected,
//   duplicate or `__proto__` keys, malformed numbers, dates or base64.
// Every failure is a badRequest with a short fixed message.

import { Buffer } from 'node:buffer';
import { badRequest } from '../../lib/errors.ts';
import type { RampartError } from '../../lib/errors.ts';
import { DEFAULT_PLIST_LIMITS, PLIST_LIMIT_CEILINGS } from './types.ts';
import type { PlistDict, PlistLimits, PlistValue } from './types.ts';

const APPLE_DOCTYPE =
  /<!DOCTYPE\s+plist\s+PUBLIC\s+"-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"\s+"http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd"\s*>/y;
const XML_DECL =
  /<\?xml\s+version\s*=\s*(?:"1\.[0-9]"|'1\.[0-9]')(?:\s+encoding\s*=\s*(?:"([A-Za-z0-9._-]+)"|'([A-Za-z0-9._-]+)'))?(?:\s+standalone\s*=\s*(?:"(?:yes|no)"|'(?:yes|no)'))?\s*\?>/y;
const PLIST_ATTRS = /^(?:\s+version\s*=\s*(?:"[0-9.]{1,8}"|'[0-9.]{1,8}'))?\s*$/;
// Characters XML 1.0 forbids anywhere in a document. Lone surrogates cannot
// occur: the UTF-8 decoder is fatal.
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const INTEGER = /^[+-]?[0-9]{1,20}$/;
const REAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const WS_GLOBAL = /[ \t\n\r]+/g;
const ENTITY = /&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));/y;

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

const fail = (message: string): RampartError => badRequest(message);

function effectiveLimits(partial: Partial<PlistLimits> | undefined): PlistLimits {
  const l = { ...DEFAULT_PLIST_LIMITS, ...partial };
  for (const k of ['maxBytes', 'maxDepth', 'maxNodes'] as const) {
    const v = l[k];
    if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`plist limit ${k} must be a positive integer`);
    if (v > PLIST_LIMIT_CEILINGS[k]) l[k] = PLIST_LIMIT_CEILINGS[k];
  }
  return l;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x3a;
}

type Frame =
  | { kind: 'dict'; obj: PlistDict; key: string | undefined }
  | { kind: 'array'; arr: PlistValue[] };

class Scanner {
  readonly s: string;
  pos = 0;
  nodes = 0;
  readonly limits: PlistLimits;

  constructor(s: string, limits: PlistLimits) {
    this.s = s;
    this.limits = limits;
  }

  /** Skips whitespace and comments; refuses any other markup declaration or text. */
  skipMisc(): void {
    const s = this.s;
    for (;;) {
      let p = this.pos;
      while (p < s.length && isWs(s.charCodeAt(p))) p++;
      this.pos = p;
      if (s.startsWith('<!--', p)) {
        const end = s.indexOf('-->', p + 4);
        if (end < 0) throw fail('malformed plist');
        if (++this.nodes > this.limits.maxNodes) throw fail('plist too large');
        this.pos = end + 3;
        continue;
      }
      return;
    }
  }

  /**
   * Reads one tag at `pos` (which must be '<'). Returns the element name,
   * whether it is a closing tag, whether it is self-closing, and the raw
   * attribute text.
   */
  readTag(): { name: string; close: boolean; empty: boolean; attrs: string } {
    const s = this.s;
    let p = this.pos;
    if (s.charCodeAt(p) !== 0x3c) throw fail('malformed plist');
    p++;
    const close = s.charCodeAt(p) === 0x2f;
    if (close) p++;
    const c0 = s.charCodeAt(p);
    if (c0 === 0x21) throw fail(s.startsWith('!DOCTYPE', p) ? 'plist DOCTYPE not allowed' : s.startsWith('!ENTITY', p) ? 'plist entities not allowed' : 'malformed plist');
    if (c0 === 0x3f) throw fail('plist processing instructions not allowed');
    const nameStart = p;
    while (p < s.length && isNameChar(s.charCodeAt(p))) p++;
    if (p === nameStart) throw fail('malformed plist');
    const name = s.slice(nameStart, p);
    const gt = s.indexOf('>', p);
    if (gt < 0) throw fail('malformed plist');
    let attrEnd = gt;
    let empty = false;
    if (s.charCodeAt(gt - 1) === 0x2f && gt - 1 >= p) {
      empty = true;
      attrEnd = gt - 1;
    }
    const attrs = s.slice(p, attrEnd);
    if (close && empty) throw fail('malformed plist');
    if (attrs.length > 0 && !(name === 'plist' && !close)) {
      for (let i = 0; i < attrs.length; i++) if (!isWs(attrs.charCodeAt(i))) throw fail('malformed plist');
    }
    this.pos = gt + 1;
    return { name, close, empty, attrs };
  }

  /** Reads the text of a scalar element up to and including its closing tag. */
  readText(name: string): string {
    const s = this.s;
    const lt = s.indexOf('<', this.pos);
    if (lt < 0) throw fail('malformed plist');
    const raw = s.slice(this.pos, lt);
    this.pos = lt;
    if (s.charCodeAt(lt + 1) !== 0x2f) throw fail('malformed plist');
    const end = this.readTag();
    if (end.name !== name) throw fail('malformed plist');
    return raw.indexOf('&') >= 0 ? decodeEntities(raw) : raw;
  }

  /** After a non-empty <true> or <false>: the closing tag must follow immediately. */
  expectClose(name: string): void {
    if (this.s.charCodeAt(this.pos) !== 0x3c || this.s.charCodeAt(this.pos + 1) !== 0x2f) throw fail('malformed plist');
    const end = this.readTag();
    if (end.name !== name) throw fail('malformed plist');
  }
}

function decodeEntities(raw: string): string {
  let out = '';
  let last = 0;
  let i = raw.indexOf('&');
  while (i >= 0) {
    out += raw.slice(last, i);
    ENTITY.lastIndex = i;
    const m = ENTITY.exec(raw);
    if (m === null) throw fail('plist entities not allowed');
    if (m[1] !== undefined) {
      out += m[1] === 'lt' ? '<' : m[1] === 'gt' ? '>' : m[1] === 'amp' ? '&' : m[1] === 'quot' ? '"' : "'";
    } else {
      const cp = m[2] !== undefined ? Number.parseInt(m[2], 10) : Number.parseInt(m[3] ?? '', 16);
      const ok =
        cp === 0x9 || cp === 0xa || cp === 0xd ||
        (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) throw fail('malformed plist');
      out += String.fromCodePoint(cp);
    }
    last = ENTITY.lastIndex;
    i = raw.indexOf('&', last);
  }
  return out + raw.slice(last);
}

function parseInteger(text: string): number | bigint {
  const t = text.trim();
  if (!INTEGER.test(t)) throw fail('malformed plist integer');
  const n = Number(t);
  if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
  const b = BigInt(t);
  if (b < MIN_I64 || b > MAX_U64) throw fail('malformed plist integer');
  return b;
}

function parseReal(text: string): number {
  const t = text.trim();
  if (t.length > 64 || !REAL.test(t)) throw fail('malformed plist real');
  const n = Number(t);
  if (!Number.isFinite(n)) throw fail('malformed plist real');
  return n;
}

function parseDate(text: string): Date {
  const m = DATE.exec(text.trim());
  if (m === null) throw fail('malformed plist date');
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const dt = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(h, mi, se, 0);
  // Overflow is normalized (Feb 30 -> Mar 1); refuse anything that had to be.
  if (
    dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d ||
    dt.getUTCHours() !== h || dt.getUTCMinutes() !== mi || dt.getUTCSeconds() !== se
  ) {
    throw fail('malformed plist date');
  }
  return dt;
}

function parseData(text: string): Uint8Array {
  const b64 = text.replace(WS_GLOBAL, '');
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) throw fail('malformed plist data');
  const buf = Buffer.from(b64, 'base64');
  // Copy out of Buffer's shared pool: the result must not expose other memory.
  const out = new Uint8Array(buf.length);
  out.set(buf);
  return out;
}

function decode(bytes: Uint8Array, limits: PlistLimits): string {
  if (!(bytes instanceof Uint8Array)) throw fail('malformed plist');
  if (bytes.length > limits.maxBytes) throw fail('plist too large');
  if (bytes.length >= 6 && bytes[0] === 0x62 && bytes[1] === 0x70 && bytes[2] === 0x6c && bytes[3] === 0x69 && bytes[4] === 0x73 && bytes[5] === 0x74) {
    throw fail('binary plist not supported');
  }
  if (bytes.length >= 2 && ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))) {
    throw fail('plist must be UTF-8');
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fail('plist must be UTF-8');
  }
  if (FORBIDDEN_CHARS.test(text)) throw fail('malformed plist');
  // XML end-of-line normalization.
  if (text.indexOf('\r') >= 0) text = text.replace(/\r\n?/g, '\n');
  return text;
}

function parseProlog(sc: Scanner): void {
  const s = sc.s;
  XML_DECL.lastIndex = 0;
  if (s.startsWith('<?xml', 0)) {
    const m = XML_DECL.exec(s);
    if (m === null) throw fail('malformed plist');
    const enc = (m[1] ?? m[2])?.toLowerCase();
    if (enc !== undefined && enc !== 'utf-8' && enc !== 'utf8') throw fail('plist must be UTF-8');
    sc.pos = XML_DECL.lastIndex;
  }
  sc.skipMisc();
  if (s.startsWith('<!DOCTYPE', sc.pos)) {
    APPLE_DOCTYPE.lastIndex = sc.pos;
    if (!APPLE_DOCTYPE.test(s)) throw fail('plist DOCTYPE not allowed');
    sc.pos = APPLE_DOCTYPE.lastIndex;
    sc.skipMisc();
  }
}

/**
 * Parses an XML property list. Any failure throws a RampartError (400) with
 * a short fixed message; the input is never echoed.
 */
export function parsePlist(bytes: Uint8Array, limits?: Partial<PlistLimits>): PlistValue {
  const lim = effectiveLimits(limits);
  const sc = new Scanner(decode(bytes, lim), lim);
  parseProlog(sc);

  const open = sc.readTag();
  if (open.name !== 'plist' || open.close || open.empty || !PLIST_ATTRS.test(open.attrs)) throw fail('malformed plist');

  const stack: Frame[] = [];
  let root: PlistValue | undefined;
  let done = false;
  const s = sc.s;

  const emit = (v: PlistValue): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      root = v;
      done = true;
    } else if (top.kind === 'array') {
      top.arr.push(v);
    } else {
      // top.key is always set here: values are only read after a key.
      top.obj[top.key as string] = v;
      top.key = undefined;
    }
  };

  while (!done) {
    sc.skipMisc();
    if (sc.pos >= s.length) throw fail('malformed plist');
    const tag = sc.readTag();
    const top = stack[stack.length - 1];
    if (tag.close) {
      if (top === undefined || tag.name !== top.kind) throw fail('malformed plist');
      if (top.kind === 'dict' && top.key !== undefined) throw fail('malformed plist');
      stack.pop();
      emit(top.kind === 'dict' ? top.obj : top.arr);
      continue;
    }
    if (++sc.nodes > lim.maxNodes) throw fail('plist too large');
    if (top !== undefined && top.kind === 'dict' && top.key === undefined) {
      if (tag.name !== 'key') throw fail('malformed plist');
      const key = tag.empty ? '' : sc.readText('key');
      if (key === '__proto__' || Object.hasOwn(top.obj, key)) throw fail('duplicate or reserved plist key');
      top.key = key;
      continue;
    }
    switch (tag.name) {
      case 'dict':
      case 'array':
        if (tag.empty) {
          emit(tag.name === 'dict' ? {} : []);
        } else {
          if (stack.length + 1 > lim.maxDepth) throw fail('plist nesting too deep');
          stack.push(tag.name === 'dict' ? { kind: 'dict', obj: {}, key: undefined } : { kind: 'array', arr: [] });
        }
        break;
      case 'string':
        emit(tag.empty ? '' : sc.readText('string'));
        break;
      case 'integer':
        if (tag.empty) throw fail('malformed plist integer');
        emit(parseInteger(sc.readText('integer')));
        break;
      case 'real':
        if (tag.empty) throw fail('malformed plist real');
        emit(parseReal(sc.readText('real')));
        break;
      case 'true':
      case 'false':
        if (!tag.empty) sc.expectClose(tag.name);
        emit(tag.name === 'true');
        break;
      case 'date':
        if (tag.empty) throw fail('malformed plist date');
        emit(parseDate(sc.readText('date')));
        break;
      case 'data':
        emit(tag.empty ? new Uint8Array(0) : parseData(sc.readText('data')));
        break;
      default:
        throw fail('malformed plist');
    }
  }

  sc.skipMisc();
  const close = sc.readTag();
  if (!close.close || close.name !== 'plist') throw fail('malformed plist');
  sc.skipMisc();
  if (sc.pos !== s.length) throw fail('malformed plist');
  return root as PlistValue;
}

/** Parses an XML property list whose root must be a <dict> (every MDM message). */
export function parsePlistDict(bytes: Uint8Array, limits?: Partial<PlistLimits>): PlistDict {
  const v = parsePlist(bytes, limits);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date || v instanceof Uint8Array) {
    throw fail('plist root must be a dict');
  }
  return v;
}
