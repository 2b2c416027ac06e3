// PKCS#11 key provider: the key-encryption keys are AES-256 secret keys on a
// token (HSM), sensitive and non-extractable; data keys are wrapped with
// CKM_AES_GCM inside the token. Tested against SoftHSM2.
//
// Wrapped data key (version 2):
//   0x02 | labelLen (1) | KEK label (ASCII) | iv (12) | ciphertext+tag (48)
// The GCM additional data is the header followed by the caller's aad, so a
// wrapped key cannot be relabelled or moved to another record.
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { RampartError } from '../lib/errors.ts';
import { UNWRAP_FAILED } from './key-provider.ts';
import type { KeyWrapper } from './key-provider.ts';

const VERSION = 2;
const IV = 12;
const LABEL_RE = /^[A-Za-z0-9._-]{1,64}$/;

export interface Pkcs11Options {
  /** Path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  library: string;
  /** Label of the token holding the keys. */
  tokenLabel: string;
  /** User PIN (from the environment or a file; never logged). */
  pin: string;
  /** Label of the AES key that wraps new data keys; older labels stay usable for unwrapping. */
  activeKeyLabel: string;
}

export interface Pkcs11KeyWrapper extends KeyWrapper {
  /** Creates a new AES-256 KEK on the token (sensitive, non-extractable); refuses an existing label. */
  generateKey(label: string): void;
}

type Handle = Buffer;

function fail(message: string, detail?: string): RampartError {
  return new RampartError('internal', message, detail);
}

export function openPkcs11KeyWrapper(opts: Pkcs11Options): Pkcs11KeyWrapper {
  if (!LABEL_RE.test(opts.activeKeyLabel)) throw fail('invalid PKCS#11 key label');
  const p = new pkcs11js.PKCS11();
  p.load(opts.library);
  try {
    p.C_Initialize();
  } catch (e) {
    if (!(e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw fail('PKCS#11 module cannot be initialised', (e as Error).message);
  }
  let session: Handle;
  try {
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === opts.tokenLabel);
    if (!slot) throw fail('PKCS#11 token not found');
    session = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    p.C_Login(session, pkcs11js.CKU_USER, opts.pin);
  } catch (e) {
    p.C_Finalize();
    if (e instanceof RampartError) throw e;
    throw fail('PKCS#11 token cannot be opened', e instanceof pkcs11js.Pkcs11Error ? e.message.split('\n')[0] : undefined);
  }
  const keys = new Map<string, Handle>();

  function find(label: string): Handle | undefined {
    const cached = keys.get(label);
    if (cached) return cached;
    p.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    const found = p.C_FindObjects(session, 2);
    p.C_FindObjectsFinal(session);
    if (found.length !== 1) return undefined;
    keys.set(label, found[0] as Handle);
    return found[0];
  }

  function header(label: string): Buffer {
    return Buffer.concat([Buffer.from([VERSION, label.length]), Buffer.from(label, 'latin1')]);
  }

  function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
    return { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, ivBits: IV * 8, aad, tagBits: 128 } as pkcs11js.GcmParams };
  }

  function versionOf(wrapped: Uint8Array): string | undefined {
    if (wrapped.length < 2 || wrapped[0] !== VERSION) return undefined;
    const n = wrapped[1] as number;
    if (wrapped.length < 2 + n) return undefined;
    const label = Buffer.from(wrapped.subarray(2, 2 + n)).toString('latin1');
    return LABEL_RE.test(label) ? label : undefined;
  }

  const wrapper: Pkcs11KeyWrapper = {
    kind: 'pkcs11',
    activeVersion: () => opts.activeKeyLabel,
    wrap(dataKey, aad) {
      const label = opts.activeKeyLabel;
      const key = find(label);
      if (!key) throw fail('PKCS#11 key not found');
      const h = header(label);
      const iv = randomBytes(IV);
      p.C_EncryptInit(session, gcm(iv, Buffer.concat([h, Buffer.from(aad, 'utf8')])), key);
      const out = p.C_Encrypt(session, Buffer.from(dataKey), Buffer.alloc(dataKey.length + 16));
      const all = Buffer.concat([h, iv, out]);
      return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
    },
    unwrap(wrapped, aad) {
      const label = versionOf(wrapped);
      if (label === undefined) throw fail(UNWRAP_FAILED, 'malformed');
      const key = find(label);
      if (!key) throw fail(UNWRAP_FAILED, 'unknown key version');
      const hl = 2 + label.length;
      if (wrapped.length < hl + IV + 16 + 1) throw fail(UNWRAP_FAILED, 'malformed');
      const h = Buffer.from(wrapped.subarray(0, hl));
      try {
        p.C_DecryptInit(session, gcm(Buffer.from(wrapped.subarray(hl, hl + IV)), Buffer.concat([h, Buffer.from(aad, 'utf8')])), key);
        const body = Buffer.from(wrapped.subarray(hl + IV));
        const out = p.C_Decrypt(session, body, Buffer.alloc(body.length));
        return new Uint8Array(Buffer.from(out));
      } catch {
        throw fail(UNWRAP_FAILED, 'authentication failed');
      }
    },
    versionOf,
    generateKey(label) {
      if (!LABEL_RE.test(label)) throw fail('invalid PKCS#11 key label');
      if (find(label)) throw fail('PKCS#11 key exists');
      p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      ]);
    },
    close() {
      try {
        p.C_Logout(session);
        p.C_CloseSession(session);
      } finally {
        p.C_Finalize();
      }
    },
  };
  return wrapper;
}
