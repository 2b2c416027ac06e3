// Key-encryption-key providers for the staff directory's envelope encryption.
//
// A provider wraps and unwraps 32-byte data keys; the key-encryption key
// never leaves it and never enters the database. Every wrapped data key
// names the KEK version that wrapped it (`KeyWrapper.versionOf`), so
// rotation can find the keys still wrapped by an old version and re-wrap
// them online.
//
// Providers: the master key ring of src/keys (key file or RAMPART_MASTER_KEY,
// the default) and a PKCS#11 token (src/directory/key-provider-pkcs11.ts).
import { SecretBox } from '../keys/secret-box.ts';
import { RampartError } from '../lib/errors.ts';

export interface KeyWrapper {
  readonly kind: 'master-key' | 'pkcs11';
  /** KEK version new data keys are wrapped with. */
  activeVersion(): string;
  /** Wraps a data key; `aad` binds it to its owner (record id). */
  wrap(dataKey: Uint8Array, aad: string): Uint8Array;
  /** Unwraps; throws RampartError('internal', 'data key cannot be unwrapped') on any failure. */
  unwrap(wrapped: Uint8Array, aad: string): Uint8Array;
  /** KEK version a wrapped key names, or undefined when malformed. */
  versionOf(wrapped: Uint8Array): string | undefined;
  close(): void;
}

export const UNWRAP_FAILED = 'data key cannot be unwrapped';

/** The default provider: the installation's master key ring (key file or environment). */
export function masterKeyWrapper(box: SecretBox): KeyWrapper {
  return {
    kind: 'master-key',
    activeVersion: () => box.activeKeyId,
    wrap: (dataKey, aad) => box.seal(dataKey, `pii-dek\0${aad}`),
    unwrap(wrapped, aad) {
      try {
        return box.open(wrapped, `pii-dek\0${aad}`);
      } catch (e) {
        throw new RampartError('internal', UNWRAP_FAILED, e instanceof RampartError ? e.detail : undefined);
      }
    },
    versionOf: (wrapped) => SecretBox.keyIdOf(wrapped),
    close: () => {},
  };
}
