// A SoftHSM2 token in a temporary directory, for tests and benchmarks.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

export interface TempToken {
  dir: string;
  tokenLabel: string;
  pin: string;
  cleanup(): void;
}

/** Creates and initialises a token; sets SOFTHSM2_CONF for this process (SoftHSM reads it at C_Initialize). */
export function createTempToken(label = 'rampart-test'): TempToken {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-hsm-'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${dir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const pin = '246810';
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'ignore',
  });
  return { dir, tokenLabel: label, pin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
