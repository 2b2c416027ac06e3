// Masked forms shown by default (pure): enough to tell records apart, not
// enough to contact or identify a person.
//   "John Doe"            -> "J*** D***"
//   "+32470123412"        -> "+32 *** ** 12"
//   "john.doe@example.org"-> "j***@example.org"
import { countryCode } from './normalise.ts';

const first = (s: string): string => String.fromCodePoint(s.codePointAt(0) ?? 0x2a);

export function maskName(v: string | null): string | null {
  if (v === null) return null;
  return v.split(/\s+/u).filter((w) => w.length > 0).map((w) => `${first(w)}***`).join(' ');
}

export function maskPhone(e164: string | null): string | null {
  if (e164 === null) return null;
  return `+${countryCode(e164)} *** ** ${e164.slice(-2)}`;
}

export function maskEmail(v: string | null): string | null {
  if (v === null) return null;
  const at = v.lastIndexOf('@');
  if (at < 1) return '***';
  return `${first(v)}***${v.slice(at)}`;
}

export function maskId(v: string | null): string | null {
  if (v === null) return null;
  return v.length <= 4 ? '***' : `***${v.slice(-2)}`;
}
