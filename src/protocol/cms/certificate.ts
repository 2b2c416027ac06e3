// Minimal X.509 certificate reader for the verification path: just the fields
// Rampart checks, taken as exact byte ranges of the signed encoding.

import {
  DerError, TAG, bitString, boolean, children, content, expect, expectKids, octets, oid, parse,
  parseContent, raw, time, toHex,
} from './der.ts';
import type { Node } from './der.ts';

export type ParsedCertificate = {
  der: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  /** INTEGER content bytes exactly as encoded. */
  serialRaw: Uint8Array;
  /** Lower-case hex of the serial's value, no leading zero octets. */
  serialHex: string;
  issuerRaw: Uint8Array;
  subjectRaw: Uint8Array;
  issuer: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  isCa: boolean;
  /** keyUsage bits (bit 0 = digitalSignature ... bit 8 = decipherOnly), undefined when absent. */
  keyUsage: number | undefined;
  subjectKeyId: Uint8Array | undefined;
  /** A critical extension that Rampart does not understand is present. */
  hasUnknownCritical: boolean;
};

export const KU = {
  digitalSignature: 1 << 0,
  keyEncipherment: 1 << 2,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.37', // extKeyUsage
]);

const ATTR_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
};

function decodeString(n: Node): string | undefined {
  if (n.constructed) return undefined;
  const c = content(n);
  switch (n.tag) {
    case TAG.UTF8String:
      return new TextDecoder('utf-8', { fatal: true }).decode(c);
    case TAG.PrintableString:
    case TAG.IA5String:
    case TAG.TeletexString:
      return Buffer.from(c).toString('latin1');
    case TAG.BMPString: {
      if (c.length % 2 !== 0) return undefined;
      let s = '';
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode(((c[i] as number) << 8) | (c[i + 1] as number));
      return s;
    }
    default:
      return undefined;
  }
}

/** RFC 4514-style escaping; control characters become \XX so names are safe to log. */
function escapeValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const ch = v[i] as string;
    const code = v.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, '0')}`;
    else if (',+"\\<>;='.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === ' ' || ch === '#')) || (i === v.length - 1 && ch === ' ')) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/** Distinguished name as "CN=a,O=b" in encoded order; unknown types as dotted OIDs, odd values as #hex. */
export function formatName(name: Node): string {
  const rdns: string[] = [];
  for (const rdn of children(expect(name, TAG.SEQUENCE))) {
    const parts: string[] = [];
    for (const atv of expectKids(rdn, TAG.SET, 1, 64)) {
      const [t, v] = expectKids(atv, TAG.SEQUENCE, 2, 2);
      const type = oid(t);
      const label = ATTR_NAMES[type] ?? type;
      const s = v ? decodeString(v) : undefined;
      parts.push(`${label}=${s === undefined ? `#${toHex(raw(v as Node))}` : escapeValue(s)}`);
    }
    rdns.push(parts.join('+'));
  }
  return rdns.join(',');
}

function serialHexOf(serialRaw: Uint8Array): string {
  let i = 0;
  while (i < serialRaw.length - 1 && serialRaw[i] === 0) i++;
  return toHex(serialRaw.subarray(i));
}

export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const root = parse(der);
  if (root.indefinite) throw new DerError('certificate not DER');
  const [tbsN, algN, sigN] = expectKids(root, TAG.SEQUENCE, 3, 3);
  const tbsKids = expectKids(tbsN, TAG.SEQUENCE, 6, 10);
  let i = 0;
  if (tbsKids[0]?.tag === 0xa0) i++; // version
  const serialN = expect(tbsKids[i++], TAG.INTEGER);
  const innerAlg = expect(tbsKids[i++], TAG.SEQUENCE);
  const issuerN = expect(tbsKids[i++], TAG.SEQUENCE);
  const [nbN, naN] = expectKids(tbsKids[i++], TAG.SEQUENCE, 2, 2);
  const subjectN = expect(tbsKids[i++], TAG.SEQUENCE);
  const spkiN = expect(tbsKids[i++], TAG.SEQUENCE);
  let extsN: Node | undefined;
  for (; i < tbsKids.length; i++) {
    const k = tbsKids[i] as Node;
    if (k.tag === 0xa3) extsN = k;
    else if (k.tag !== 0x81 && k.tag !== 0xa1 && k.tag !== 0x82 && k.tag !== 0xa2) throw new DerError('bad tbs');
  }
  const outerAlg = expect(algN, TAG.SEQUENCE);
  const algOid = oid(children(outerAlg)[0]);
  // RFC 5280 4.1.1.2: the two algorithm fields must be identical.
  const a = raw(innerAlg);
  const b = raw(outerAlg);
  if (a.length !== b.length || !a.every((x, j) => x === b[j])) throw new DerError('algorithm mismatch');
  const sig = bitString(sigN);
  if (sig.unused !== 0) throw new DerError('bad signature bits');

  let isCa = false;
  let keyUsage: number | undefined;
  let subjectKeyId: Uint8Array | undefined;
  let hasUnknownCritical = false;
  if (extsN) {
    const seen = new Set<string>();
    const [list] = expectKids(extsN, 0xa3, 1, 1);
    for (const ext of expectKids(list, TAG.SEQUENCE, 1, 64)) {
      const ek = expectKids(ext, TAG.SEQUENCE, 2, 3);
      const id = oid(ek[0]);
      if (seen.has(id)) throw new DerError('duplicate extension');
      seen.add(id);
      const critical = ek.length === 3 ? boolean(ek[1]) : false;
      const value = expect(ek[ek.length - 1], TAG.OCTET_STRING);
      if (!KNOWN_EXTENSIONS.has(id)) {
        if (critical) hasUnknownCritical = true;
        continue;
      }
      const inner = parseContent(value);
      if (id === '2.5.29.19') {
        const bc = expectKids(inner, TAG.SEQUENCE, 0, 2);
        if (bc[0]?.tag === TAG.BOOLEAN) isCa = boolean(bc[0]);
      } else if (id === '2.5.29.15') {
        const bits = bitString(inner).bytes;
        let v = 0;
        for (let bit = 0; bit < Math.min(bits.length * 8, 16); bit++) {
          if ((((bits[bit >> 3] as number) >> (7 - (bit & 7))) & 1) === 1) v |= 1 << bit;
        }
        keyUsage = v;
      } else if (id === '2.5.29.14') {
        subjectKeyId = octets(inner);
      }
    }
  }

  const serialRaw = content(serialN);
  if (serialRaw.length === 0 || serialRaw.length > 20 + 1) throw new DerError('bad serial');
  return {
    der,
    tbs: raw(tbsN as Node),
    signatureAlgorithm: algOid,
    signature: sig.bytes,
    serialRaw,
    serialHex: serialHexOf(serialRaw),
    issuerRaw: raw(issuerN),
    subjectRaw: raw(subjectN),
    issuer: formatName(issuerN),
    subject: formatName(subjectN),
    notBefore: time(nbN),
    notAfter: time(naN),
    spki: raw(spkiN),
    isCa,
    keyUsage,
    subjectKeyId,
    hasUnknownCritical,
  };
}
