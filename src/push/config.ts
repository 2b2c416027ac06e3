// Push settings from the environment (kept out of the shared config file so
// they stay in this module). An invalid value stops start-up naming it.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/config.ts';
import { APPLE_APNS_URL } from './apns.ts';

export interface PushConfig {
  /** APNs base URL (RAMPART_APNS_URL); Apple's production service by default. */
  apnsUrl: string;
  /** Extra trust anchor for the APNs server (RAMPART_APNS_CA_FILE): only for a local stand-in. */
  apnsCaPem: string | undefined;
  /** Re-push devices that have not answered after this long (RAMPART_PUSH_REPUSH_AFTER_S, default 900; 0 = off). */
  repushAfterMs: number;
  /** At most this many re-pushes per command and device (RAMPART_PUSH_REPUSH_MAX, default 3). */
  repushMaxRounds: number;
  /** Warn this many days before the certificate expires (RAMPART_PUSH_CERT_WARN_DAYS, default 30). */
  warnDays: number;
  /** Pushes in flight at once (RAMPART_APNS_CONCURRENCY, default 1000). */
  concurrency: number;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  return Number(v);
}

export function loadPushConfig(env: NodeJS.ProcessEnv = process.env): PushConfig {
  const apnsUrl = env.RAMPART_APNS_URL && env.RAMPART_APNS_URL !== '' ? env.RAMPART_APNS_URL : APPLE_APNS_URL;
  let u: URL;
  try {
    u = new URL(apnsUrl);
  } catch {
    throw new ConfigError('RAMPART_APNS_URL', 'must be an https URL');
  }
  if (u.protocol !== 'https:' || u.pathname !== '/' || u.search !== '' || u.username !== '') throw new ConfigError('RAMPART_APNS_URL', 'must be an https URL without path');
  let apnsCaPem: string | undefined;
  if (env.RAMPART_APNS_CA_FILE) {
    try {
      apnsCaPem = readFileSync(env.RAMPART_APNS_CA_FILE, 'utf8');
    } catch {
      throw new ConfigError('RAMPART_APNS_CA_FILE', 'cannot be read');
    }
  }
  return {
    apnsUrl: u.origin,
    apnsCaPem,
    repushAfterMs: int(env, 'RAMPART_PUSH_REPUSH_AFTER_S', 900, 0, 7 * 86_400) * 1000,
    repushMaxRounds: int(env, 'RAMPART_PUSH_REPUSH_MAX', 3, 0, 100),
    warnDays: int(env, 'RAMPART_PUSH_CERT_WARN_DAYS', 30, 1, 365),
    concurrency: int(env, 'RAMPART_APNS_CONCURRENCY', 1000, 1, 100_000),
  };
}
