// Authorization settings: the four-eyes policy, approval lifetime, rate limits
// on destructive actions and the longest API-token lifetime. Given as the
// "authz" object of the configuration file or RAMPART_AUTHZ (JSON); missing
// keys keep their defaults, unknown keys are refused.

/** Action names the gate knows about (other modules add theirs by name). */
export const ACTIONS = {
  erase: 'command.erase',
  bulk: 'command.bulk',
  adminCreate: 'admin.create',
  /** An administrator created with a password (src/identity, POST /api/v1/accounts). */
  accountCreate: 'account.create',
  adminElevate: 'admin.elevate',
  roleUpdate: 'role.update',
  pushCertificate: 'push.certificate',
  caRotate: 'ca.rotate',
  caImport: 'ca.import',
  piiExport: 'pii.export',
  keyRotate: 'keys.rotate',
  detectionDisable: 'detection.disable',
} as const;

export interface RateLimit {
  /** Units (devices, administrators, ...) per window and principal. */
  limit: number;
  windowMinutes: number;
}

export interface AuthzConfig {
  tokenMaxLifetimeDays: number;
  approvals: {
    /** Actions that need a second administrator's approval. */
    actions: string[];
    /** Per action: approval needed only above this many units (e.g. devices of a bulk action). */
    thresholds: Record<string, number>;
    ttlMinutes: number;
    /** An approved action still "executing" after this long is taken over by resume(). */
    staleExecutionMinutes: number;
  };
  rateLimits: Record<string, RateLimit>;
}

export const DEFAULT_AUTHZ_CONFIG: AuthzConfig = Object.freeze({
  tokenMaxLifetimeDays: 90,
  approvals: {
    actions: Object.values(ACTIONS),
    thresholds: { [ACTIONS.bulk]: 50 },
    ttlMinutes: 24 * 60,
    staleExecutionMinutes: 10,
  },
  rateLimits: {
    [ACTIONS.erase]: { limit: 20, windowMinutes: 60 },
    [ACTIONS.bulk]: { limit: 5000, windowMinutes: 60 },
    [ACTIONS.adminCreate]: { limit: 10, windowMinutes: 60 },
    [ACTIONS.piiExport]: { limit: 5, windowMinutes: 60 },
  },
}) as AuthzConfig;

export class AuthzConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
  }
}

const ACTION_NAME = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*){1,3}$/;

function obj(v: unknown, where: string, keys: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AuthzConfigError(where, 'must be an object');
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new AuthzConfigError(`${where}.${k}`, 'unknown setting');
  return v as Record<string, unknown>;
}

function int(v: unknown, where: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new AuthzConfigError(where, `must be a whole number from ${min} to ${max}`);
  return v;
}

function action(v: unknown, where: string): string {
  if (typeof v !== 'string' || !ACTION_NAME.test(v)) throw new AuthzConfigError(where, 'must be an action name like "command.erase"');
  return v;
}

/** Validates the "authz" setting (an object, or its JSON text) over the defaults. */
export function parseAuthzConfig(input: unknown): AuthzConfig {
  const d = DEFAULT_AUTHZ_CONFIG;
  if (input === undefined) return structuredClone(d);
  let v = input;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new AuthzConfigError('authz', 'is not valid JSON');
    }
  }
  const o = obj(v, 'authz', ['tokenMaxLifetimeDays', 'approvals', 'rateLimits']);
  const out = structuredClone(d);
  if (o.tokenMaxLifetimeDays !== undefined) out.tokenMaxLifetimeDays = int(o.tokenMaxLifetimeDays, 'authz.tokenMaxLifetimeDays', 1, 3650);
  if (o.approvals !== undefined) {
    const a = obj(o.approvals, 'authz.approvals', ['actions', 'thresholds', 'ttlMinutes', 'staleExecutionMinutes']);
    if (a.actions !== undefined) {
      if (!Array.isArray(a.actions)) throw new AuthzConfigError('authz.approvals.actions', 'must be a list of action names');
      out.approvals.actions = [...new Set(a.actions.map((x, i) => action(x, `authz.approvals.actions[${i}]`)))];
    }
    if (a.thresholds !== undefined) {
      const t = obj(a.thresholds, 'authz.approvals.thresholds', Object.keys(a.thresholds as object));
      out.approvals.thresholds = {};
      for (const [k, n] of Object.entries(t)) out.approvals.thresholds[action(k, 'authz.approvals.thresholds')] = int(n, `authz.approvals.thresholds.${k}`, 0, 10_000_000);
    }
    if (a.ttlMinutes !== undefined) out.approvals.ttlMinutes = int(a.ttlMinutes, 'authz.approvals.ttlMinutes', 1, 30 * 24 * 60);
    if (a.staleExecutionMinutes !== undefined) out.approvals.staleExecutionMinutes = int(a.staleExecutionMinutes, 'authz.approvals.staleExecutionMinutes', 1, 24 * 60);
  }
  if (o.rateLimits !== undefined) {
    const r = obj(o.rateLimits, 'authz.rateLimits', Object.keys(o.rateLimits as object));
    for (const [k, x] of Object.entries(r)) {
      const name = action(k, 'authz.rateLimits');
      const e = obj(x, `authz.rateLimits.${k}`, ['limit', 'windowMinutes']);
      out.rateLimits[name] = {
        limit: int(e.limit, `authz.rateLimits.${k}.limit`, 0, 10_000_000),
        windowMinutes: int(e.windowMinutes, `authz.rateLimits.${k}.windowMinutes`, 1, 31 * 24 * 60),
      };
    }
  }
  return out;
}
