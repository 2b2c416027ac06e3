// PEM armour and certificate fingerprints.

import { hash } from 'node:crypto';
import { badRequest } from '../lib/errors.ts';

const LABEL_RE = /^[A-Z0-9]+(?: [A-Z0-9]+)*$/;
const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;
const MAX_PEM_CHARS = 4 * 1024 * 1024;

export function toPem(label: string, der: Uint8Array): string {
  if (!LABEL_RE.test(label)) throw new Error('invalid PEM label');
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

/** All PEM blocks in `pem` (optionally only those with `label`), decoded. */
export function fromPem(pem: string, label?: string): Uint8Array[] {
  if (typeof pem !== 'string' || pem.length > MAX_PEM_CHARS) throw badRequest('invalid PEM');
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(BLOCK_RE)) {
    if (label !== undefined && m[1] !== label) continue;
    const b64 = (m[2] ?? '').replace(/[\r\n]/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw badRequest('invalid PEM');
    const buf = Buffer.from(b64, 'base64');
    out.push(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  }
  return out;
}

/** SHA-256 of `bytes`, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex');
}
