// The key-encryption key: from RAMPART_MASTER_KEY, or a key file in the data
// directory (created on first start, mode 0600). It never enters the database.
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { keyRingFromEnv } from '../keys/env.ts';
import { loadOrCreateKeyFile } from '../keys/key-file.ts';
import { createSecretBox, type SecretBox } from '../keys/secret-box.ts';

export async function openKeys(config: Config): Promise<{ sealer: SecretBox; source: 'env' | 'file' }> {
  if (config.masterKey !== undefined) return { sealer: createSecretBox(keyRingFromEnv(config.masterKey)), source: 'env' };
  const ring = await loadOrCreateKeyFile(path.join(config.dataDir, 'keys', 'master.key'));
  return { sealer: createSecretBox(ring), source: 'file' };
}
