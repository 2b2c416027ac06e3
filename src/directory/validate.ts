// Turns untrusted staff input (admin API, SCIM, CSV) into normalised
// StaffData. Pure. Errors name the field, never the value.
import { badRequest } from '../lib/errors.ts';
import { DEVICE_ID_PATTERN } from '../services/devices.ts';
import { cleanText, LIMITS, normaliseEmail, normaliseEmployeeNumber, normaliseExternalId, normalisePhone, optionalText } from './normalise.ts';
import type { StaffData } from './types.ts';

export interface StaffInput {
  userName?: unknown;
  externalId?: unknown;
  displayName?: unknown;
  givenName?: unknown;
  familyName?: unknown;
  email?: unknown;
  phones?: unknown;
  department?: unknown;
  employeeNumber?: unknown;
  active?: unknown;
  deviceIds?: unknown;
  invitationIds?: unknown;
}

const DEVICE_ID = new RegExp(DEVICE_ID_PATTERN);
export const INVITATION_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const INVITATION_ID = new RegExp(INVITATION_ID_PATTERN);
const MAX_LINKS = 50;

function idList(field: string, v: unknown, re: RegExp): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_LINKS) throw badRequest(`invalid ${field}`);
  const out = v.map((x) => {
    if (typeof x !== 'string' || !re.test(x)) throw badRequest(`invalid ${field}`);
    return x;
  });
  return [...new Set(out)].sort();
}

export function validateStaff(input: StaffInput): StaffData {
  if (typeof input !== 'object' || input === null) throw badRequest('invalid staff record');
  const phonesIn = input.phones ?? [];
  if (!Array.isArray(phonesIn) || phonesIn.length > LIMITS.phones) throw badRequest('invalid phones');
  const phones = [...new Set(phonesIn.map((p) => normalisePhone(p, 'phones')))];
  if (input.active !== undefined && typeof input.active !== 'boolean') throw badRequest('invalid active');
  return {
    userName: cleanText('userName', input.userName, LIMITS.userName),
    externalId: normaliseExternalId(input.externalId),
    displayName: optionalText('displayName', input.displayName),
    givenName: optionalText('givenName', input.givenName),
    familyName: optionalText('familyName', input.familyName),
    email: input.email === undefined || input.email === null || input.email === '' ? null : normaliseEmail(input.email),
    phones,
    department: optionalText('department', input.department),
    employeeNumber: input.employeeNumber === undefined || input.employeeNumber === null || input.employeeNumber === '' ? null : normaliseEmployeeNumber(input.employeeNumber),
    status: input.active === false ? 'suspended' : 'active',
    deviceIds: idList('deviceIds', input.deviceIds, DEVICE_ID),
    invitationIds: idList('invitationIds', input.invitationIds, INVITATION_ID),
  };
}

/** Field-by-field equality of two normalised records (for "unchanged" in imports). */
export function sameStaff(a: StaffData, b: StaffData): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

function canon(d: StaffData): unknown {
  return [d.userName, d.externalId, d.displayName, d.givenName, d.familyName, d.email, [...d.phones].sort(), d.department, d.employeeNumber, d.status, [...d.deviceIds].sort(), [...d.invitationIds].sort()];
}
