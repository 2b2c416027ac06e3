// Normalisation and validation of staff fields (pure). Values are NFC
// normalised and trimmed; control characters (incl. NUL) and bidirectional
// formatting characters are refused everywhere, so a name cannot render as
// something else in an admin's terminal. Errors name the field, never the value.
import { badRequest } from '../lib/errors.ts';

// C0, DEL, C1, bidi embeddings/overrides/isolates, LRM/RLM/ALM, line/paragraph separators.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]/u;

export const LIMITS = { text: 256, email: 254, userName: 256, employeeNumber: 64, phones: 5, externalId: 256 } as const;

export function cleanText(field: string, v: unknown, max: number = LIMITS.text): string {
  if (typeof v !== 'string') throw badRequest(`invalid ${field}`);
  if (!v.isWellFormed()) throw badRequest(`invalid ${field}`, 'lone surrogate');
  const s = v.normalize('NFC').trim();
  if (s.length === 0 || s.length > max) throw badRequest(`invalid ${field}`, 'length');
  if (FORBIDDEN.test(s)) throw badRequest(`invalid ${field}`, 'forbidden character');
  return s;
}

export function optionalText(field: string, v: unknown, max?: number): string | null {
  if (v === undefined || v === null || v === '') return null;
  return cleanText(field, v, max);
}

/** Lower-cased user name as used for uniqueness and lookup (SCIM userName is caseExact=false). */
export function userNameKey(v: string): string {
  return v.normalize('NFC').trim().toLowerCase();
}

const EMAIL = /^[^\s@]{1,64}@[^\s@.][^\s@]*\.[^\s@]{2,}$/u;

export function normaliseEmail(v: unknown, field = 'email'): string {
  const s = cleanText(field, v, LIMITS.email).toLowerCase();
  if (!EMAIL.test(s) || s.includes('..')) throw badRequest(`invalid ${field}`, 'format');
  return s;
}

/**
 * E.164: "+" and 8 to 15 digits, first digit not 0. Accepts spaces, dots,
 * dashes, parentheses and a "00" international prefix; a number without a
 * country code is refused (there is no default region).
 */
export function normalisePhone(v: unknown, field = 'phone'): string {
  const s = cleanText(field, v, 40);
  const compact = s.replace(/[\s.\-()\u00a0]/g, '');
  const m = /^(?:\+|00)([1-9][0-9]{7,14})$/.exec(compact);
  if (!m) throw badRequest(`invalid ${field}`, 'not E.164');
  return `+${m[1]}`;
}

export function normaliseEmployeeNumber(v: unknown, field = 'employeeNumber'): string {
  const s = cleanText(field, v, LIMITS.employeeNumber).normalize('NFKC').toUpperCase();
  if (!/^[A-Z0-9][A-Z0-9._/-]{0,63}$/.test(s)) throw badRequest(`invalid ${field}`, 'format');
  return s;
}

/** External id from an identity provider: printable, no spaces at the ends. */
export function normaliseExternalId(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return cleanText('externalId', v, LIMITS.externalId);
}

// E.164 country codes of one and two digits; all others have three.
const CC1 = new Set(['1', '7']);
const CC2 = new Set([
  '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48', '49',
  '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84',
  '86', '90', '91', '92', '93', '94', '95', '98',
]);

/** Country calling code of an E.164 number ("+32470..." -> "32"). */
export function countryCode(e164: string): string {
  const d = e164.slice(1);
  if (CC1.has(d.slice(0, 1))) return d.slice(0, 1);
  if (CC2.has(d.slice(0, 2))) return d.slice(0, 2);
  return d.slice(0, 3);
}
