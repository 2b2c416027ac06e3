// Private keys (the CA key) sealed at rest.

import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { RampartError } from '../lib/errors.ts';
import type { SecretBox } from './secret-box.ts';

export const CA_KEY_AAD = 'ca-key';

type Sealer = Pick<SecretBox, 'seal' | 'open'>;

export function sealPrivateKey(box: Sealer, key: KeyObject, aad: string = CA_KEY_AAD): Uint8Array {
  if (key.type !== 'private') throw new RampartError('internal', 'not a private key');
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  try {
    return box.seal(new Uint8Array(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength), aad);
  } finally {
    pkcs8.fill(0);
  }
}

export function openPrivateKey(box: Sealer, sealed: Uint8Array, aad: string = CA_KEY_AAD): KeyObject {
  const pkcs8 = box.open(sealed, aad);
  try {
    return createPrivateKey({ key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength), format: 'der', type: 'pkcs8' });
  } catch {
    throw new RampartError('internal', 'sealed value cannot be opened', 'not a private key');
  } finally {
    pkcs8.fill(0);
  }
}
