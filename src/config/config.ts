// Configuration from an optional JSON file and the environment (the
// environment wins). Invalid configuration stops start-up with a message that
// names the setting; nothing is guessed.
import { readFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseCidr } from '../authz/cidr.ts';
import { AuthzConfigError, parseAuthzConfig, type AuthzConfig } from '../authz/config.ts';
import { IdentityConfigError, parseIdentityConfig } from '../identity/config.ts';
import type { IdentityConfig } from '../identity/config.ts';
import { AUDIT_ENV, parseAuditConfig, type AuditConfig, type AuditFileConfig } from '../audit/config.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Config {
  /** Where the database, keys and development certificates live. */
  dataDir: string;
  /** postgres://... selects PostgreSQL; absent means embedded SQLite in dataDir. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema holding the tables (default "public"); every node of one installation uses the same. */
  databaseSchema: string;
  /** This node's name in logs, metrics and pg_stat_activity (default: the host name). */
  nodeId: string;
  deviceListen: ListenAddress;
  adminListen: ListenAddress;
  /** The URL devices use to reach the device plane (https). */
  publicUrl: string;
  /** TLS certificate and key for the device listener; absent in development (generated). */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  /** Base64 key-encryption key; absent means a key file in dataDir/keys. */
  masterKey: string | undefined;
  /** Largest accepted device-plane request body, bytes. */
  maxBodyBytes: number;
  /** Deepest accepted plist nesting. */
  maxPlistDepth: number;
  /** RFC 9440 client-certificate header set by a TLS-terminating proxy (e.g. "Client-Cert"). */
  proxyClientCertHeader: string | undefined;
  /** Addresses of proxies allowed to set that header. */
  trustedProxies: string[];
  /** CIDRs of reverse proxies in front of the admin API whose X-Forwarded-For is believed (none by default). */
  trustProxy: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Development mode: generated CA and TLS certificate, loopback device listener. */
  dev: boolean;
  /** Four-eyes policy, rate limits on destructive actions, API-token lifetime (src/authz/config.ts). */
  authz: AuthzConfig;
  /** Sign-in, sessions, WebAuthn, OIDC (src/identity/config.ts). */
  identity: IdentityConfig;
  /** Audit checkpoint sinks and SIEM forwarding (src/audit/config.ts). */
  audit: AuditConfig;
}

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`invalid configuration: ${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/** Environment variables and the file keys they override. */
const ENV: Record<string, keyof FileConfig> = {
  RAMPART_DATA_DIR: 'dataDir',
  RAMPART_DATABASE_URL: 'databaseUrl',
  RAMPART_DATABASE_SCHEMA: 'databaseSchema',
  RAMPART_NODE_ID: 'nodeId',
  RAMPART_DEVICE_LISTEN: 'deviceListen',
  RAMPART_ADMIN_LISTEN: 'adminListen',
  RAMPART_PUBLIC_URL: 'publicUrl',
  RAMPART_TLS_CERT: 'tlsCertFile',
  RAMPART_TLS_KEY: 'tlsKeyFile',
  RAMPART_MASTER_KEY: 'masterKey',
  RAMPART_MAX_BODY_BYTES: 'maxBodyBytes',
  RAMPART_MAX_PLIST_DEPTH: 'maxPlistDepth',
  RAMPART_PROXY_CLIENT_CERT_HEADER: 'proxyClientCertHeader',
  RAMPART_TRUSTED_PROXIES: 'trustedProxies',
  RAMPART_TRUST_PROXY: 'trustProxy',
  RAMPART_LOG_LEVEL: 'logLevel',
  RAMPART_AUTHZ: 'authz',
  RAMPART_IDENTITY: 'identity',
  ...AUDIT_ENV,
};

type FileConfig = {
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  nodeId?: string;
  deviceListen?: string;
  adminListen?: string;
  publicUrl?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  masterKey?: string;
  maxBodyBytes?: number | string;
  maxPlistDepth?: number | string;
  proxyClientCertHeader?: string;
  trustedProxies?: string | string[];
  trustProxy?: string | string[];
  logLevel?: string;
  authz?: unknown;
  /** Object in the file; JSON text in RAMPART_IDENTITY. */
  identity?: unknown;
} & AuditFileConfig;

const FILE_KEYS = new Set<string>(Object.values(ENV));
const FILE_SETTING: Record<string, string> = Object.fromEntries(Object.entries(ENV).map(([env, key]) => [key, env]));

export interface LoadOptions {
  /** Path of a JSON config file (also RAMPART_CONFIG). */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  dev?: boolean;
  cwd?: string;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const dev = opts.dev ?? false;
  const filePath = opts.file ?? env.RAMPART_CONFIG;
  const merged: FileConfig = {};
  if (filePath) Object.assign(merged, readConfigFile(path.resolve(cwd, filePath)));
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') (merged as Record<string, unknown>)[key] = v;
  }
  return validate(merged, { dev, cwd, env });
}

function readConfigFile(file: string): FileConfig {
  if (!existsSync(file)) throw new ConfigError('RAMPART_CONFIG', `file ${file} does not exist`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError('RAMPART_CONFIG', `file ${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('RAMPART_CONFIG', 'the file must hold a JSON object');
  }
  for (const k of Object.keys(parsed)) {
    if (!FILE_KEYS.has(k)) throw new ConfigError(k, 'unknown setting in the configuration file');
  }
  return parsed as FileConfig;
}

function validate(c: FileConfig, ctx: { dev: boolean; cwd: string; env: NodeJS.ProcessEnv }): Config {
  const dataDir = path.resolve(ctx.cwd, str(c.dataDir, 'dataDir') ?? 'data');
  const databaseUrl = str(c.databaseUrl, 'databaseUrl');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(FILE_SETTING.databaseUrl!, 'must be a postgres:// URL (omit it for embedded SQLite)');
  }
  const databaseSchema = str(c.databaseSchema, 'databaseSchema') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(databaseSchema)) {
    throw new ConfigError(FILE_SETTING.databaseSchema!, 'must be a lower-case PostgreSQL identifier (a-z, 0-9, _)');
  }
  const nodeId = str(c.nodeId, 'nodeId') ?? (hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 48) || 'node');
  if (!/^[A-Za-z0-9_.-]{1,48}$/.test(nodeId)) {
    throw new ConfigError(FILE_SETTING.nodeId!, 'must be 1 to 48 letters, digits, ".", "_" or "-"');
  }
  const deviceListen = listen(c.deviceListen ?? (ctx.dev ? '127.0.0.1:8443' : '0.0.0.0:8443'), 'deviceListen');
  const adminListen = listen(c.adminListen ?? '127.0.0.1:9443', 'adminListen');
  if (!isLoopback(adminListen.host)) {
    throw new ConfigError(
      FILE_SETTING.adminListen!,
      'the admin listener serves plain HTTP and must be on a loopback address; put a TLS-terminating proxy in front of it',
    );
  }
  if (deviceListen.host === adminListen.host && deviceListen.port === adminListen.port && deviceListen.port !== 0) {
    throw new ConfigError(FILE_SETTING.adminListen!, 'must differ from RAMPART_DEVICE_LISTEN');
  }
  const defaultPublic = `https://${deviceListen.host === '0.0.0.0' || deviceListen.host === '127.0.0.1' ? 'localhost' : deviceListen.host}:${deviceListen.port}`;
  const publicUrl = str(c.publicUrl, 'publicUrl') ?? defaultPublic;
  let u: URL;
  try {
    u = new URL(publicUrl);
  } catch {
    throw new ConfigError(FILE_SETTING.publicUrl!, 'is not a URL');
  }
  if (u.protocol !== 'https:') throw new ConfigError(FILE_SETTING.publicUrl!, 'must be an https:// URL (Apple devices require TLS)');
  if (u.search || u.hash || u.username || u.password) {
    throw new ConfigError(FILE_SETTING.publicUrl!, 'must not carry credentials, a query or a fragment');
  }
  const tlsCertFile = str(c.tlsCertFile, 'tlsCertFile');
  const tlsKeyFile = str(c.tlsKeyFile, 'tlsKeyFile');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError(FILE_SETTING.tlsKeyFile!, 'RAMPART_TLS_CERT and RAMPART_TLS_KEY go together');
  }
  if (!ctx.dev && tlsCertFile === undefined) {
    throw new ConfigError(FILE_SETTING.tlsCertFile!, 'required outside development mode (serve --dev generates one)');
  }
  const masterKey = str(c.masterKey, 'masterKey');
  if (masterKey !== undefined) {
    const raw = Buffer.from(masterKey, 'base64');
    if (raw.length !== 32 || raw.toString('base64') !== masterKey.trim()) {
      throw new ConfigError(FILE_SETTING.masterKey!, 'must be 32 bytes, base64-encoded');
    }
  }
  const maxBodyBytes = int(c.maxBodyBytes, 'maxBodyBytes', 1024, 64 * 1024 * 1024) ?? 1024 * 1024;
  const maxPlistDepth = int(c.maxPlistDepth, 'maxPlistDepth', 4, 256) ?? 32;
  const proxyClientCertHeader = str(c.proxyClientCertHeader, 'proxyClientCertHeader');
  if (proxyClientCertHeader !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(proxyClientCertHeader)) {
    throw new ConfigError(FILE_SETTING.proxyClientCertHeader!, 'must be an HTTP header name');
  }
  const proxies = c.trustedProxies === undefined ? [] : Array.isArray(c.trustedProxies) ? c.trustedProxies : c.trustedProxies.split(',');
  const trustedProxies = proxies.map((p) => p.trim()).filter((p) => p !== '');
  for (const p of trustedProxies) {
    if (isIP(p) === 0) throw new ConfigError(FILE_SETTING.trustedProxies!, `"${p}" is not an IP address`);
  }
  if (proxyClientCertHeader !== undefined && trustedProxies.length === 0) {
    throw new ConfigError(FILE_SETTING.trustedProxies!, 'required when RAMPART_PROXY_CLIENT_CERT_HEADER is set');
  }
  const trustProxyList = c.trustProxy === undefined ? [] : Array.isArray(c.trustProxy) ? c.trustProxy : String(c.trustProxy).split(',');
  if (!trustProxyList.every((p) => typeof p === 'string')) throw new ConfigError(FILE_SETTING.trustProxy!, 'must be a list of CIDRs');
  const trustProxy = trustProxyList.map((p) => p.trim()).filter((p) => p !== '');
  if (trustProxy.length > 64) throw new ConfigError(FILE_SETTING.trustProxy!, 'at most 64 networks');
  for (const p of trustProxy) {
    const cidr = parseCidr(p);
    if (!cidr) throw new ConfigError(FILE_SETTING.trustProxy!, `"${p}" is not an IP address or CIDR`);
    if (cidr.prefix === 0) throw new ConfigError(FILE_SETTING.trustProxy!, `"${p}" would trust every address`);
  }
  const logLevel = (str(c.logLevel, 'logLevel') ?? 'info') as Config['logLevel'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(FILE_SETTING.logLevel!, 'must be one of fatal, error, warn, info, debug, trace, silent');
  }
  let authz: AuthzConfig;
  try {
    authz = parseAuthzConfig(c.authz);
  } catch (e) {
    if (e instanceof AuthzConfigError) throw new ConfigError(`${FILE_SETTING.authz!} (${e.setting})`, e.message);
    throw e;
  }
  let identity: IdentityConfig;
  try {
    let raw = c.identity;
    if (typeof raw === 'string') raw = JSON.parse(raw) as unknown;
    identity = parseIdentityConfig(raw, { adminOrigin: `http://localhost:${adminListen.port}` }, ctx.env);
  } catch (e) {
    throw new ConfigError(FILE_SETTING.identity!, e instanceof IdentityConfigError ? e.message : 'must be a JSON object');
  }
  return {
    authz,
    identity,
    dataDir,
    databaseUrl,
    databaseSchema,
    nodeId,
    deviceListen,
    adminListen,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    tlsCertFile,
    tlsKeyFile,
    masterKey,
    maxBodyBytes,
    maxPlistDepth,
    proxyClientCertHeader,
    trustedProxies,
    trustProxy,
    logLevel,
    dev: ctx.dev,
    audit: parseAuditConfig(c, { dataDir, cwd: ctx.cwd }, (setting, message) => {
      throw new ConfigError(setting, message);
    }),
  };
}

function str(v: unknown, key: keyof FileConfig): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError(FILE_SETTING[key]!, 'must be a string');
  return v.trim() === '' ? undefined : v.trim();
}

function int(v: unknown, key: keyof FileConfig, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(FILE_SETTING[key]!, `must be a whole number from ${min} to ${max}`);
  }
  return n;
}

export function parseListen(value: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (isIP(host) === 0 && host !== 'localhost') return undefined;
  return { host, port };
}

function listen(v: unknown, key: keyof FileConfig): ListenAddress {
  if (typeof v !== 'string') throw new ConfigError(FILE_SETTING[key]!, 'must be a string host:port');
  const l = parseListen(v);
  if (!l) throw new ConfigError(FILE_SETTING[key]!, `"${v}" is not host:port with an IP address (or localhost) and a port`);
  return l;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
