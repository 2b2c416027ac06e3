// Field encryption for staff records: AES-256-GCM under a per-record data
// key. Pure (randomness from node:crypto only).
//
// Field ciphertext (version 1):
//   0x01 | nonce (12) | ciphertext | tag (16)
// GCM additional data: "rampart-pii/1" NUL record id NUL field name, so a
// value cannot be moved to another record or another field. The data key is
// stored wrapped by the key-encryption key (key-provider.ts), and the wrapped
// key names the KEK version.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';

export const FIELD_VERSION = 1;
export const DATA_KEY_BYTES = 32;
const NONCE = 12;
const TAG = 16;

export const FIELD_OPEN_FAILED = 'personal data cannot be decrypted';

export function newDataKey(): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}

function aadFor(recordId: string, field: string): Buffer {
  return Buffer.from(`rampart-pii/${FIELD_VERSION}\0${recordId}\0${field}`, 'utf8');
}

export function encryptField(dataKey: Uint8Array, recordId: string, field: string, plaintext: string): Uint8Array {
  if (dataKey.length !== DATA_KEY_BYTES) throw new RampartError('internal', 'invalid data key');
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: TAG });
  c.setAAD(aadFor(recordId, field));
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  const out = Buffer.concat([Buffer.from([FIELD_VERSION]), nonce, body, c.getAuthTag()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function decryptField(dataKey: Uint8Array, recordId: string, field: string, sealed: Uint8Array): string {
  if (dataKey.length !== DATA_KEY_BYTES || sealed.length < 1 + NONCE + TAG || sealed[0] !== FIELD_VERSION) {
    throw new RampartError('internal', FIELD_OPEN_FAILED, 'malformed');
  }
  try {
    const d = createDecipheriv('aes-256-gcm', dataKey, sealed.subarray(1, 1 + NONCE), { authTagLength: TAG });
    d.setAAD(aadFor(recordId, field));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([d.update(sealed.subarray(1 + NONCE, sealed.length - TAG)), d.final()]).toString('utf8');
  } catch {
    throw new RampartError('internal', FIELD_OPEN_FAILED, 'authentication failed');
  }
}
