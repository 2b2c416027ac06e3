// Key-encryption key from the environment (RAMPART_MASTER_KEY).
//
// Either one key, base64 of 32 bytes (its id is derived from the key so that
// it is stable across restarts), or for rotation a comma-separated list of
// `id:base64` entries, the first being the active key.

import { hash } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import { KEY_BYTES, KEY_ID_RE, createKeyRing } from './secret-box.ts';
import type { KeyRing } from './secret-box.ts';

export const MASTER_KEY_ENV = 'RAMPART_MASTER_KEY';

const MESSAGE = `${MASTER_KEY_ENV} must be the base64 encoding of 32 random bytes (or a list of id:base64 entries)`;
const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeKey(b64: string): Uint8Array {
  const s = b64.trim();
  if (s.length !== 44 || !B64_RE.test(s)) throw new RampartError('internal', MESSAGE);
  const buf = Buffer.from(s, 'base64');
  if (buf.length !== KEY_BYTES) throw new RampartError('internal', MESSAGE);
  return new Uint8Array(buf);
}

export function keyRingFromEnv(value: string | undefined, variable: string = MASTER_KEY_ENV): KeyRing {
  const message = MESSAGE.replace(MASTER_KEY_ENV, variable);
  try {
    if (typeof value !== 'string' || value.trim() === '') throw new RampartError('internal', message);
    if (!value.includes(':')) {
      const key = decodeKey(value);
      const id = `env-${hash('sha256', key, 'hex').slice(0, 8)}`;
      return createKeyRing([{ id, key }], id);
    }
    const entries = value.split(',').map((part) => {
      const i = part.indexOf(':');
      const id = part.slice(0, i).trim();
      if (i < 1 || !KEY_ID_RE.test(id)) throw new RampartError('internal', message);
      return { id, key: decodeKey(part.slice(i + 1)) };
    });
    return createKeyRing(entries, (entries[0] as { id: string }).id);
  } catch (e) {
    if (e instanceof RampartError && e.message !== message) throw new RampartError('internal', message, e.message);
    throw e;
  }
}
