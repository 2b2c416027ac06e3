// A small, strict ASN.1 reader and DER writer for the CMS hot path.
//
// Why not asn1js here: parsing one 1.3 KB Mdm-Signature with asn1js.fromBER
// measured ~850 µs, twice the whole per-check-in CPU budget. This reader is
// zero-copy (nodes are offsets into the input), bounded in depth, and accepts
// the BER that Apple devices actually send (indefinite lengths, constructed
// OCTET STRINGs) while everything that is covered by a signature (certificates,
// signed attributes) is used as the exact bytes that were signed.

/** Thrown for any structural problem; callers map it to a fixed RampartError. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const MAX_DEPTH = 32;

export type Node = {
  readonly buf: Uint8Array;
  /** The identifier octet (class | constructed | number); high tag numbers are refused. */
  readonly tag: number;
  readonly constructed: boolean;
  readonly start: number;
  readonly contentStart: number;
  readonly contentEnd: number;
  readonly end: number;
  readonly indefinite: boolean;
  readonly depth: number;
  kids: Node[] | undefined;
};

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8String: 0x0c,
  PrintableString: 0x13,
  TeletexString: 0x14,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  BMPString: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function fail(what: string): never {
  throw new DerError(what);
}

function parseAt(buf: Uint8Array, pos: number, limit: number, depth: number): Node {
  if (depth > MAX_DEPTH) fail('too deep');
  if (pos + 2 > limit) fail('truncated');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) fail('high tag number');
  if (tag === 0) fail('unexpected end-of-contents');
  const constructed = (tag & 0x20) !== 0;
  const lb = buf[pos + 1] as number;
  let contentStart = pos + 2;
  if (lb === 0x80) {
    if (!constructed) fail('indefinite primitive');
    const kids: Node[] = [];
    let p = contentStart;
    for (;;) {
      if (p + 2 > limit) fail('missing end-of-contents');
      if (buf[p] === 0 && buf[p + 1] === 0) break;
      const kid = parseAt(buf, p, limit, depth + 1);
      kids.push(kid);
      p = kid.end;
    }
    return { buf, tag, constructed, start: pos, contentStart, contentEnd: p, end: p + 2, indefinite: true, depth, kids };
  }
  let len: number;
  if (lb < 0x80) {
    len = lb;
  } else {
    const n = lb & 0x7f;
    if (n > 4) fail('length too long');
    if (pos + 2 + n > limit) fail('truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[pos + 2 + i] as number);
    contentStart = pos + 2 + n;
  }
  const contentEnd = contentStart + len;
  if (contentEnd > limit) fail('truncated');
  return { buf, tag, constructed, start: pos, contentStart, contentEnd, end: contentEnd, indefinite: false, depth, kids: undefined };
}

/** Parses exactly one element spanning the whole input. */
export function parse(buf: Uint8Array): Node {
  const n = parseAt(buf, 0, buf.length, 0);
  if (n.end !== buf.length) fail('trailing data');
  return n;
}

/** Parses the single element that fills a primitive's content (e.g. an extension's OCTET STRING). */
export function parseContent(node: Node): Node {
  const n = parseAt(node.buf, node.contentStart, node.contentEnd, node.depth + 1);
  if (n.end !== node.contentEnd) fail('trailing data');
  return n;
}

export function children(node: Node): Node[] {
  if (!node.constructed) fail('not constructed');
  if (node.kids) return node.kids;
  const kids: Node[] = [];
  let p = node.contentStart;
  while (p < node.contentEnd) {
    const kid = parseAt(node.buf, p, node.contentEnd, node.depth + 1);
    kids.push(kid);
    p = kid.end;
  }
  node.kids = kids;
  return kids;
}

export function expect(node: Node | undefined, tag: number): Node {
  if (!node || node.tag !== tag) fail('unexpected tag');
  return node;
}

/** Children of a constructed node that must carry the given tag. */
export function expectKids(node: Node | undefined, tag: number, min: number, max: number): Node[] {
  const kids = children(expect(node, tag));
  if (kids.length < min || kids.length > max) fail('wrong element count');
  return kids;
}

export function raw(node: Node): Uint8Array {
  return node.buf.subarray(node.start, node.end);
}

export function content(node: Node): Uint8Array {
  if (node.constructed) fail('not primitive');
  return node.buf.subarray(node.contentStart, node.contentEnd);
}

/** OCTET STRING content; BER constructed OCTET STRINGs are concatenated. */
export function octets(node: Node | undefined): Uint8Array {
  const n = expect(node, node?.tag === (TAG.OCTET_STRING | 0x20) ? TAG.OCTET_STRING | 0x20 : TAG.OCTET_STRING);
  if (!n.constructed) return content(n);
  const parts: Uint8Array[] = [];
  const walk = (x: Node): void => {
    for (const k of children(x)) {
      if (k.tag === TAG.OCTET_STRING) parts.push(content(k));
      else if (k.tag === (TAG.OCTET_STRING | 0x20)) walk(k);
      else fail('bad octet string chunk');
    }
  };
  walk(n);
  return concat(parts);
}

export function oid(node: Node | undefined): string {
  const c = content(expect(node, TAG.OID));
  if (c.length === 0 || c.length > 64) fail('bad oid');
  const arcs: number[] = [];
  let v = 0;
  let first = true;
  for (let i = 0; i < c.length; i++) {
    const b = c[i] as number;
    if (v === 0 && b === 0x80) fail('bad oid');
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) fail('bad oid');
    if ((b & 0x80) === 0) {
      if (first) {
        const a = v < 40 ? 0 : v < 80 ? 1 : 2;
        arcs.push(a, v - a * 40);
        first = false;
      } else {
        arcs.push(v);
      }
      v = 0;
    }
  }
  if ((c[c.length - 1] as number) & 0x80) fail('bad oid');
  return arcs.join('.');
}

/** INTEGER content bytes (two's complement, as encoded). */
export function integerBytes(node: Node | undefined): Uint8Array {
  const c = content(expect(node, TAG.INTEGER));
  if (c.length === 0) fail('empty integer');
  return c;
}

export function smallInt(node: Node | undefined): number {
  const c = integerBytes(node);
  if (c.length > 4 || ((c[0] as number) & 0x80) !== 0) fail('integer out of range');
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

export function boolean(node: Node | undefined): boolean {
  const c = content(expect(node, TAG.BOOLEAN));
  if (c.length !== 1) fail('bad boolean');
  return c[0] !== 0;
}

/** BIT STRING content without the unused-bits octet; also returns the unused-bits count. */
export function bitString(node: Node | undefined): { bytes: Uint8Array; unused: number } {
  const c = content(expect(node, TAG.BIT_STRING));
  if (c.length === 0) fail('bad bit string');
  const unused = c[0] as number;
  if (unused > 7 || (c.length === 1 && unused !== 0)) fail('bad bit string');
  return { bytes: c.subarray(1), unused };
}

function digits(s: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) fail('bad time');
    v = v * 10 + d;
  }
  return v;
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 requires. */
export function time(node: Node | undefined): Date {
  if (!node) fail('missing time');
  const c = content(node);
  const s = String.fromCharCode(...c);
  let year: number;
  let rest: number;
  if (node.tag === TAG.UTCTime && s.length === 13) {
    const yy = digits(s, 0, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = 2;
  } else if (node.tag === TAG.GeneralizedTime && s.length === 15) {
    year = digits(s, 0, 4);
    rest = 4;
  } else {
    fail('bad time');
  }
  if (s[s.length - 1] !== 'Z') fail('bad time');
  const mo = digits(s, rest, 2);
  const d = digits(s, rest + 2, 2);
  const h = digits(s, rest + 4, 2);
  const mi = digits(s, rest + 6, 2);
  const se = digits(s, rest + 8, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) fail('bad time');
  const t = Date.UTC(year, mo - 1, d, h, mi, se);
  const date = new Date(t);
  if (date.getUTCDate() !== d) fail('bad time');
  return date;
}

/**
 * Re-encodes a node with definite lengths (DER framing). Used only when a
 * signer sent its signed attributes with indefinite lengths.
 */
export function toDefinite(node: Node, tag = node.tag): Uint8Array {
  if (!node.constructed) return tlv(tag, content(node));
  if (!node.indefinite && !children(node).some((k) => k.indefinite)) {
    return tlv(tag, node.buf.subarray(node.contentStart, node.contentEnd));
  }
  return tlv(tag, concat(children(node).map((k) => toDefinite(k))));
}

// ---- writer ----------------------------------------------------------------

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function tlv(tag: number, body: Uint8Array): Uint8Array {
  const len = body.length;
  let hdr: number[];
  if (len < 0x80) hdr = [tag, len];
  else if (len < 0x100) hdr = [tag, 0x81, len];
  else if (len < 0x10000) hdr = [tag, 0x82, len >> 8, len & 0xff];
  else if (len < 0x1000000) hdr = [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  else hdr = [tag, 0x84, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff];
  const out = new Uint8Array(hdr.length + len);
  out.set(hdr, 0);
  out.set(body, hdr.length);
  return out;
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, concat(parts));

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** DER SET OF: elements sorted by their encodings. */
export function setOf(parts: Uint8Array[], tag: number = TAG.SET): Uint8Array {
  return tlv(tag, concat([...parts].sort(compareBytes)));
}

export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner);
export const octetString = (b: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, b);
export const derNull = (): Uint8Array => new Uint8Array([TAG.NULL, 0]);

export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d{1,15}$/.test(a)) throw new DerError('bad oid');
    return Number(a);
  });
  if (arcs.length < 2) throw new DerError('bad oid');
  const values = [(arcs[0] as number) * 40 + (arcs[1] as number), ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const tmp: number[] = [];
    let x = v;
    do {
      tmp.unshift(x % 128);
      x = Math.floor(x / 128);
    } while (x > 0);
    for (let i = 0; i < tmp.length - 1; i++) tmp[i] = (tmp[i] as number) | 0x80;
    out.push(...tmp);
  }
  return tlv(TAG.OID, new Uint8Array(out));
}

export function encodeSmallInt(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new DerError('integer out of range');
  const bytes: number[] = [];
  let x = v;
  do {
    bytes.unshift(x & 0xff);
    x = Math.floor(x / 256);
  } while (x > 0);
  if (((bytes[0] as number) & 0x80) !== 0) bytes.unshift(0);
  return tlv(TAG.INTEGER, new Uint8Array(bytes));
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 rule). */
export function encodeTime(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const tail = `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) {
    return tlv(TAG.UTCTime, new TextEncoder().encode(`${pad2(y % 100)}${tail}`));
  }
  return tlv(TAG.GeneralizedTime, new TextEncoder().encode(`${String(y).padStart(4, '0')}${tail}`));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
