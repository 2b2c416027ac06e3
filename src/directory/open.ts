// Core wiring of the staff directory: module migrations, the key provider
// chosen by the environment, the directory service, and the periodic jobs
// (crypto-shredding after the retention, re-wrapping after a KEK rotation).
//
//   RAMPART_PII_KEY_PROVIDER   "master-key" (default: the key file or
//                              RAMPART_MASTER_KEY) or "pkcs11"
//   RAMPART_PKCS11_LIBRARY     PKCS#11 module path
//   RAMPART_PKCS11_TOKEN       token label
//   RAMPART_PKCS11_PIN_FILE    file holding the user PIN (or RAMPART_PKCS11_PIN)
//   RAMPART_PKCS11_KEY_LABEL   label of the active AES key (created on the token if absent)
//   RAMPART_PII_RETENTION_DAYS days a deleted person's data key is kept (default 30)
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { SecretBox } from '../keys/secret-box.ts';
import { RampartError } from '../lib/errors.ts';
import type { OpenedStorage } from '../storage/open.ts';
import { masterKeyWrapper } from './key-provider.ts';
import type { KeyWrapper } from './key-provider.ts';
import { openPkcs11KeyWrapper } from './key-provider-pkcs11.ts';
import { DIRECTORY_MIGRATION_TABLE, directoryMigrations } from './migrations.ts';
import { openDirectory } from './staff.ts';
import type { StaffDirectory } from './staff.ts';

export interface OpenedDirectory {
  directory: StaffDirectory;
  keys: KeyWrapper;
  close(): Promise<void>;
}

const HOUR = 3_600_000;

export function keyWrapperFromEnv(env: Record<string, string | undefined>, sealer: SecretBox): KeyWrapper {
  const kind = env.RAMPART_PII_KEY_PROVIDER ?? 'master-key';
  if (kind === 'master-key') return masterKeyWrapper(sealer);
  if (kind !== 'pkcs11') throw new RampartError('internal', 'RAMPART_PII_KEY_PROVIDER must be master-key or pkcs11');
  const need = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') throw new RampartError('internal', `${name} is required with RAMPART_PII_KEY_PROVIDER=pkcs11`);
    return v;
  };
  let pin = env.RAMPART_PKCS11_PIN;
  if (env.RAMPART_PKCS11_PIN_FILE) {
    try {
      pin = readFileSync(env.RAMPART_PKCS11_PIN_FILE, 'utf8').trim();
    } catch {
      throw new RampartError('internal', 'RAMPART_PKCS11_PIN_FILE cannot be read');
    }
  }
  if (!pin) throw new RampartError('internal', 'RAMPART_PKCS11_PIN_FILE (or RAMPART_PKCS11_PIN) is required with RAMPART_PII_KEY_PROVIDER=pkcs11');
  const label = need('RAMPART_PKCS11_KEY_LABEL');
  const w = openPkcs11KeyWrapper({ library: need('RAMPART_PKCS11_LIBRARY'), tokenLabel: need('RAMPART_PKCS11_TOKEN'), pin, activeKeyLabel: label });
  try {
    w.generateKey(label);
  } catch (e) {
    if (!(e instanceof RampartError && e.message === 'PKCS#11 key exists')) {
      w.close();
      throw e;
    }
  }
  return w;
}

export async function openStaffDirectory(opts: {
  storage: OpenedStorage;
  sealer: SecretBox;
  audit: AuditRecorder;
  log: Logger;
  env?: Record<string, string | undefined>;
  now?: () => Date;
}): Promise<OpenedDirectory> {
  const env = opts.env ?? process.env;
  await opts.storage.migrateModule(DIRECTORY_MIGRATION_TABLE, directoryMigrations(opts.storage.backend));
  const keys = keyWrapperFromEnv(env, opts.sealer);
  const days = Number(env.RAMPART_PII_RETENTION_DAYS ?? '30');
  if (!Number.isInteger(days) || days < 0 || days > 3650) throw new RampartError('internal', 'RAMPART_PII_RETENTION_DAYS must be 0..3650');
  const directory = await openDirectory({ db: opts.storage.db, keys, audit: opts.audit, retentionMs: days * 86_400_000, ...(opts.now ? { now: opts.now } : {}) });
  let running = false;
  const jobs = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const rewrapped = await directory.rewrap();
      const shredded = await directory.shredDue();
      if (rewrapped > 0 || shredded > 0) opts.log.info({ rewrapped, shredded }, 'staff directory key maintenance');
    } catch (e) {
      opts.log.error({ err: e instanceof RampartError ? e.message : 'unknown' }, 'staff directory key maintenance failed');
    } finally {
      running = false;
    }
  };
  void jobs();
  const timer = setInterval(() => void jobs(), HOUR);
  timer.unref();
  return {
    directory,
    keys,
    async close() {
      clearInterval(timer);
      keys.close();
    },
  };
}
