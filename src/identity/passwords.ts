// Passwords: Argon2id with parameters from configuration, a re-hash when the
// stored hash was made with other parameters, a password policy, and a dummy
// hash so that a sign-in for an unknown user costs the same as a wrong
// password for a known one.
import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { Algorithm } from '@node-rs/argon2';
import { badRequest } from '../lib/errors.ts';

export interface Argon2Params {
  /** KiB of memory per hash. */
  memoryCost: number;
  /** Passes. */
  timeCost: number;
  parallelism: number;
}

/** OWASP's first recommended Argon2id configuration (19 MiB, 2 passes, 1 lane). */
export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const ARGON2ID = 2 as unknown as Algorithm;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;
/** A few passwords every spraying list starts with; the length rule stops most of the rest. */
const COMMON = new Set(['password1234', 'password12345', 'password123456', 'qwertyuiop123', '123456789012', '1234567890123', 'administrator', 'administrator1', 'letmein12345', 'welcome12345', 'changeme1234', 'iloveyou1234', 'qwerty123456', 'rampart12345']);

export interface PasswordHasher {
  readonly params: Argon2Params;
  hash(password: string): Promise<string>;
  /** Verifies against a stored hash, or against the dummy hash when `stored` is null (same cost, always false). */
  verify(stored: string | null, password: string): Promise<boolean>;
  /** True when the stored hash was made with other parameters (re-hash after a successful sign-in). */
  needsRehash(stored: string): boolean;
}

export function parseArgon2Params(phc: string): Argon2Params | undefined {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return undefined;
  return { memoryCost: Number(m[1]), timeCost: Number(m[2]), parallelism: Number(m[3]) };
}

export function validateArgon2Params(p: Argon2Params): Argon2Params {
  const ok = Number.isInteger(p.memoryCost) && p.memoryCost >= 1024 && p.memoryCost <= 4 * 1024 * 1024
    && Number.isInteger(p.timeCost) && p.timeCost >= 1 && p.timeCost <= 20
    && Number.isInteger(p.parallelism) && p.parallelism >= 1 && p.parallelism <= 16;
  if (!ok) throw new Error('argon2 parameters out of range (memoryCost 1024..4194304 KiB, timeCost 1..20, parallelism 1..16)');
  return { ...p };
}

/** NFC, so the same password typed on two keyboards hashes the same. */
export function normalizePassword(pw: string): string {
  return pw.normalize('NFC');
}

/** Throws bad_request naming the rule (never echoing the password) unless the password is acceptable. */
export function checkPasswordPolicy(password: string, username: string): void {
  const pw = normalizePassword(password);
  const length = [...pw].length;
  if (length < MIN_PASSWORD_LENGTH) throw badRequest(`password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (length > MAX_PASSWORD_LENGTH) throw badRequest(`password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(pw)) throw badRequest('password must not contain control characters');
  const lower = pw.toLowerCase();
  if (lower.includes(username.toLowerCase())) throw badRequest('password must not contain the username');
  if (new Set(pw).size < 5) throw badRequest('password must use at least 5 different characters');
  if (COMMON.has(lower)) throw badRequest('password is too common');
}

export async function createPasswordHasher(params: Argon2Params = DEFAULT_ARGON2): Promise<PasswordHasher> {
  const p = validateArgon2Params(params);
  const options = { algorithm: ARGON2ID, memoryCost: p.memoryCost, timeCost: p.timeCost, parallelism: p.parallelism };
  const dummy = await hash(randomBytes(32).toString('base64url'), options);
  return {
    params: p,
    hash: (password) => hash(normalizePassword(password), options),
    async verify(stored, password) {
      const target = stored !== null && parseArgon2Params(stored) ? stored : dummy;
      let ok = false;
      try {
        ok = await verify(target, normalizePassword(password));
      } catch {
        ok = false;
      }
      return ok && target !== dummy;
    },
    needsRehash(stored) {
      const q = parseArgon2Params(stored);
      return !q || q.memoryCost !== p.memoryCost || q.timeCost !== p.timeCost || q.parallelism !== p.parallelism;
    },
  };
}
