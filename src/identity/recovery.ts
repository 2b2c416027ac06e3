// Recovery codes: ten codes of 80 random bits, shown once, stored as SHA-256
// (salted with the account id), each usable once.
import { createHash, randomBytes } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o, 1/l/i

export function newRecoveryCodes(): string[] {
  const out: string[] = [];
  for (let i = 0; i < RECOVERY_CODE_COUNT; i++) {
    let s = '';
    // 16 characters of a 31-letter alphabet (rejection sampling): about 79 bits.
    while (s.length < 16) {
      for (const b of randomBytes(32)) {
        if (b < 248 && s.length < 16) s += ALPHABET[b % 31];
      }
    }
    out.push(s.match(/.{4}/g)!.join('-'));
  }
  return out;
}

/** Canonical form: lower case, dashes and spaces removed. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

export function hashRecoveryCode(adminId: string, code: string): string {
  return createHash('sha256').update(`recovery\0${adminId}\0${normalizeRecoveryCode(code)}`).digest('hex');
}
