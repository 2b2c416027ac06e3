// TOTP (RFC 6238: SHA-1, 6 digits, 30 s). Codes are accepted one time step
// either side of now; the step a code belongs to must be greater than every
// step accepted before for that account, so a code (or an earlier one) is
// never accepted twice, even by two requests racing each other (the store
// raises the step with a conditional update).
import { Secret, TOTP } from 'otpauth';

export const TOTP_PERIOD_S = 30;
export const TOTP_DIGITS = 6;
export const TOTP_WINDOW = 1;
const SECRET_BYTES = 20;

export function newTotpSecret(): Uint8Array {
  return new Uint8Array(new Secret({ size: SECRET_BYTES }).bytes);
}

function totp(secret: Uint8Array, label = 'admin'): TOTP {
  return new TOTP({
    issuer: 'Rampart',
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_S,
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
  });
}

export function totpUri(secret: Uint8Array, label: string): string {
  return totp(secret, label).toString();
}

export function totpBase32(secret: Uint8Array): string {
  return new Secret({ buffer: Uint8Array.from(secret).buffer }).base32;
}

export function totpCode(secret: Uint8Array, at: Date): string {
  return totp(secret).generate({ timestamp: at.getTime() });
}

/** The time step a code matches within ±1 step of `at`, or undefined. */
export function matchTotpStep(secret: Uint8Array, code: string, at: Date): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totp(secret).validate({ token: code, timestamp: at.getTime(), window: TOTP_WINDOW });
  if (delta === null) return undefined;
  return TOTP.counter({ period: TOTP_PERIOD_S, timestamp: at.getTime() }) + delta;
}
