// Keyed blind indexes for exact-match lookup of encrypted fields:
// HMAC-SHA256 under a key separate from the data keys, over the kind and the
// normalised value. Without the key, an index value says nothing about the
// value (no dictionary attack on e-mail addresses or phone numbers).
import { createHmac } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';

export type IndexKind = 'userName' | 'email' | 'phone' | 'employeeNumber';

export interface BlindIndexer {
  index(kind: IndexKind, normalised: string): Uint8Array;
}

export function createBlindIndexer(key: Uint8Array): BlindIndexer {
  if (key.length !== 32) throw new RampartError('internal', 'invalid blind index key');
  const k = Buffer.from(key);
  return {
    index(kind, normalised) {
      const d = createHmac('sha256', k).update(`rampart-bidx/1\0${kind}\0${normalised}`, 'utf8').digest();
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    },
  };
}
