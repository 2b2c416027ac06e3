// Secret sealing: AES-256-GCM under a key-encryption key that lives outside
// the database (a key file or the environment).
//
// Sealed format (version 1):
//   0x01 | idLen (1 byte) | key id (ASCII) | nonce (12) | ciphertext | tag (16)
// The GCM additional data is the header (version, idLen, key id) followed by
// the caller's `aad` in UTF-8, so a value cannot be moved to another purpose
// or relabelled with another key id.

import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';

export const SEALED_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;
export const KEY_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export type KeyRing = {
  /** Id of the key that new values are sealed with. */
  readonly activeKeyId: string;
  get(id: string): KeyObject | undefined;
  ids(): string[];
};

export function createKeyRing(keys: { id: string; key: Uint8Array }[], activeKeyId: string): KeyRing {
  const map = new Map<string, KeyObject>();
  for (const { id, key } of keys) {
    if (!KEY_ID_RE.test(id)) throw new RampartError('internal', 'invalid key id');
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new RampartError('internal', 'invalid key length');
    if (map.has(id)) throw new RampartError('internal', 'duplicate key id');
    map.set(id, createSecretKey(Uint8Array.from(key)));
  }
  if (!map.has(activeKeyId)) throw new RampartError('internal', 'active key missing');
  return Object.freeze({
    activeKeyId,
    get: (id: string) => map.get(id),
    ids: () => [...map.keys()],
  });
}

const OPEN_FAILED = 'sealed value cannot be opened';
const openFailed = (detail: string): RampartError => new RampartError('internal', OPEN_FAILED, detail);

export class SecretBox {
  readonly #keys: KeyRing;

  constructor(keys: KeyRing) {
    this.#keys = keys;
  }

  get activeKeyId(): string {
    return this.#keys.activeKeyId;
  }

  seal(plaintext: Uint8Array, aad: string): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new RampartError('internal', 'plaintext must be bytes');
    if (typeof aad !== 'string') throw new RampartError('internal', 'aad must be a string');
    const id = this.#keys.activeKeyId;
    const key = this.#keys.get(id);
    if (!key) throw new RampartError('internal', 'active key missing');
    const header = headerFor(id);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.concat([header, Buffer.from(aad, 'utf8')]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const out = Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  open(sealed: Uint8Array, aad: string): Uint8Array {
    if (!(sealed instanceof Uint8Array) || sealed.length < 2) throw openFailed('malformed');
    if (sealed[0] !== SEALED_VERSION) throw openFailed('unknown version');
    const idLen = sealed[1] as number;
    const headerLen = 2 + idLen;
    if (idLen === 0 || sealed.length < headerLen + NONCE_BYTES + TAG_BYTES) throw openFailed('malformed');
    const id = Buffer.from(sealed.subarray(2, headerLen)).toString('latin1');
    if (!KEY_ID_RE.test(id)) throw openFailed('malformed');
    const key = this.#keys.get(id);
    if (!key) throw openFailed('unknown key id');
    const nonce = sealed.subarray(headerLen, headerLen + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const body = sealed.subarray(headerLen + NONCE_BYTES, sealed.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.concat([sealed.subarray(0, headerLen), Buffer.from(String(aad), 'utf8')]));
      decipher.setAuthTag(tag);
      const out = Buffer.concat([decipher.update(body), decipher.final()]);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch {
      throw openFailed('authentication failed');
    }
  }

  /** Key id a sealed value names (for re-sealing after rotation), or undefined if malformed. */
  static keyIdOf(sealed: Uint8Array): string | undefined {
    if (sealed.length < 2 || sealed[0] !== SEALED_VERSION) return undefined;
    const idLen = sealed[1] as number;
    if (sealed.length < 2 + idLen) return undefined;
    const id = Buffer.from(sealed.subarray(2, 2 + idLen)).toString('latin1');
    return KEY_ID_RE.test(id) ? id : undefined;
  }
}

function headerFor(id: string): Buffer {
  const idBytes = Buffer.from(id, 'latin1');
  return Buffer.concat([Buffer.from([SEALED_VERSION, idBytes.length]), idBytes]);
}

export function createSecretBox(keys: KeyRing): SecretBox {
  return new SecretBox(keys);
}
