// Audit settings: where checkpoints go besides the database (file on another
// mount, syslog over TLS, HTTPS webhook) and where entries are forwarded
// (SIEM: syslog over TLS, HMAC-signed HTTPS webhook). Parsed from the
// configuration file / environment by src/config/config.ts; every value is
// checked here and a bad one names its setting.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export interface AuditConfig {
  /** File sink for checkpoints (JSON Lines, fsynced); put it on another mount. */
  checkpointFile: string;
  checkpointWebhook: string | undefined;
  checkpointSyslog: HostPort | undefined;
  siemSyslog: HostPort | undefined;
  siemWebhook: string | undefined;
  /** HMAC-SHA256 key for the SIEM webhook's X-Rampart-Signature. */
  siemWebhookSecret: string | undefined;
  /** PEM file of CA certificates trusted for the syslog collectors and webhooks (default: the system store). */
  tlsCaFile: string | undefined;
}

/** Environment variable → configuration-file key. */
export const AUDIT_ENV = {
  RAMPART_AUDIT_CHECKPOINT_FILE: 'auditCheckpointFile',
  RAMPART_AUDIT_CHECKPOINT_WEBHOOK: 'auditCheckpointWebhook',
  RAMPART_AUDIT_CHECKPOINT_SYSLOG: 'auditCheckpointSyslog',
  RAMPART_AUDIT_SIEM_SYSLOG: 'auditSiemSyslog',
  RAMPART_AUDIT_SIEM_WEBHOOK: 'auditSiemWebhook',
  RAMPART_AUDIT_SIEM_WEBHOOK_SECRET: 'auditSiemWebhookSecret',
  RAMPART_AUDIT_TLS_CA: 'auditTlsCaFile',
} as const;

export type AuditFileConfig = { [K in (typeof AUDIT_ENV)[keyof typeof AUDIT_ENV]]?: string };

const SETTING: Record<string, string> = Object.fromEntries(Object.entries(AUDIT_ENV).map(([env, key]) => [key, env]));

type Fail = (setting: string, message: string) => never;

function text(v: unknown, key: keyof AuditFileConfig, fail: Fail): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(SETTING[key] as string, 'must be a string');
  const t = (v as string).trim();
  return t === '' ? undefined : t;
}

function httpsUrl(v: string | undefined, key: keyof AuditFileConfig, fail: Fail): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return fail(SETTING[key] as string, 'is not a URL');
  }
  if (u.protocol !== 'https:') fail(SETTING[key] as string, 'must be an https:// URL');
  if (u.username || u.password) fail(SETTING[key] as string, 'must not carry credentials');
  return u.toString();
}

function hostPort(v: string | undefined, key: keyof AuditFileConfig, fail: Fail): HostPort | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : 0;
  const host = m ? ((m[1] ?? m[2]) as string) : '';
  if (!m || port < 1 || port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) fail(SETTING[key] as string, 'must be host:port of a syslog-over-TLS collector (RFC 5425, usually port 6514)');
  return { host, port };
}

export function parseAuditConfig(c: AuditFileConfig, ctx: { dataDir: string; cwd: string }, fail: Fail): AuditConfig {
  const file = text(c.auditCheckpointFile, 'auditCheckpointFile', fail);
  const checkpointFile = file === undefined ? path.join(ctx.dataDir, 'audit-checkpoints.log') : path.resolve(ctx.cwd, file);
  const siemWebhook = httpsUrl(text(c.auditSiemWebhook, 'auditSiemWebhook', fail), 'auditSiemWebhook', fail);
  const siemWebhookSecret = text(c.auditSiemWebhookSecret, 'auditSiemWebhookSecret', fail);
  if (siemWebhook !== undefined && (siemWebhookSecret === undefined || siemWebhookSecret.length < 32)) {
    fail(SETTING.auditSiemWebhookSecret as string, 'required with RAMPART_AUDIT_SIEM_WEBHOOK: at least 32 characters');
  }
  if (siemWebhook === undefined && siemWebhookSecret !== undefined) fail(SETTING.auditSiemWebhookSecret as string, 'given without RAMPART_AUDIT_SIEM_WEBHOOK');
  const ca = text(c.auditTlsCaFile, 'auditTlsCaFile', fail);
  const tlsCaFile = ca === undefined ? undefined : path.resolve(ctx.cwd, ca);
  if (tlsCaFile !== undefined && !existsSync(tlsCaFile)) fail(SETTING.auditTlsCaFile as string, `file ${tlsCaFile} does not exist`);
  return {
    checkpointFile,
    checkpointWebhook: httpsUrl(text(c.auditCheckpointWebhook, 'auditCheckpointWebhook', fail), 'auditCheckpointWebhook', fail),
    checkpointSyslog: hostPort(text(c.auditCheckpointSyslog, 'auditCheckpointSyslog', fail), 'auditCheckpointSyslog', fail),
    siemSyslog: hostPort(text(c.auditSiemSyslog, 'auditSiemSyslog', fail), 'auditSiemSyslog', fail),
    siemWebhook,
    siemWebhookSecret,
    tlsCaFile,
  };
}
