// SCIM resource mapping for Users (RFC 7643 core + enterprise extension), pure.
import type { StaffView } from '../directory/types.ts';
import type { StaffInput } from '../directory/validate.ts';
import { ScimError } from './errors.ts';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const etagOf = (version: number): string => `W/"${version}"`;

export function toScimUser(v: StaffView, base: string): JsonObject {
  const out: JsonObject = {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
    id: v.id,
    userName: v.userName,
    active: v.status === 'active',
  };
  if (v.externalId !== null) out.externalId = v.externalId;
  if (v.displayName !== null) out.displayName = v.displayName;
  const name: JsonObject = {};
  if (v.givenName !== null) name.givenName = v.givenName;
  if (v.familyName !== null) name.familyName = v.familyName;
  if (Object.keys(name).length > 0) out.name = name;
  if (v.email !== null) out.emails = [{ value: v.email, type: 'work', primary: true }];
  if (v.phones.length > 0) out.phoneNumbers = v.phones.map((p, i) => ({ value: p, type: 'mobile', ...(i === 0 ? { primary: true } : {}) }));
  const ent: JsonObject = {};
  if (v.employeeNumber !== null) ent.employeeNumber = v.employeeNumber;
  if (v.department !== null) ent.department = v.department;
  if (Object.keys(ent).length > 0) out[ENTERPRISE_SCHEMA] = ent;
  out.meta = { resourceType: 'User', created: v.createdAt, lastModified: v.updatedAt, version: etagOf(v.version), location: `${base}/Users/${v.id}` };
  return out;
}

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Entra ID sends booleans as "True"/"False" in PATCH values. */
export function scimBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return undefined;
}

function str(v: unknown, attr: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw new ScimError(400, 'invalidValue', `invalid value for ${attr}`);
  return v;
}

function multi(v: unknown, attr: string): JsonObject[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 10) throw new ScimError(400, 'invalidValue', `invalid value for ${attr}`);
  return v.map((x) => {
    if (!isObj(x)) throw new ScimError(400, 'invalidValue', `invalid value for ${attr}`);
    return x;
  });
}

/** Case-insensitive attribute lookup (SCIM attribute names are case-insensitive). */
export function getAttr(o: JsonObject, name: string): Json | undefined {
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}

/** A SCIM User body to directory input. Unknown attributes are ignored (IdPs send many). */
export function fromScimUser(body: unknown): StaffInput {
  if (!isObj(body)) throw new ScimError(400, 'invalidSyntax', 'request body must be a JSON object');
  const name = getAttr(body, 'name');
  if (name !== undefined && name !== null && !isObj(name)) throw new ScimError(400, 'invalidValue', 'invalid value for name');
  const emails = multi(getAttr(body, 'emails'), 'emails');
  const work = emails.find((e) => getAttr(e, 'type') === 'work') ?? emails.find((e) => getAttr(e, 'primary') === true) ?? emails[0];
  const phones = multi(getAttr(body, 'phoneNumbers'), 'phoneNumbers').map((p) => str(getAttr(p, 'value'), 'phoneNumbers')).filter((p): p is string => typeof p === 'string' && p !== '');
  const entRaw = getAttr(body, ENTERPRISE_SCHEMA);
  const ent = isObj(entRaw) ? entRaw : {};
  const active = getAttr(body, 'active');
  const activeBool = active === undefined || active === null ? undefined : scimBool(active);
  if (active !== undefined && active !== null && activeBool === undefined) throw new ScimError(400, 'invalidValue', 'invalid value for active');
  const userName = str(getAttr(body, 'userName'), 'userName');
  if (userName === undefined || userName === null) throw new ScimError(400, 'invalidValue', 'userName is required');
  const input: StaffInput = {
    userName,
    externalId: str(getAttr(body, 'externalId'), 'externalId') ?? null,
    displayName: str(getAttr(body, 'displayName'), 'displayName') ?? null,
    givenName: isObj(name) ? str(getAttr(name, 'givenName'), 'name.givenName') ?? null : null,
    familyName: isObj(name) ? str(getAttr(name, 'familyName'), 'name.familyName') ?? null : null,
    email: work ? str(getAttr(work, 'value'), 'emails') ?? null : null,
    phones,
    department: str(getAttr(ent, 'department'), 'department') ?? null,
    employeeNumber: str(getAttr(ent, 'employeeNumber'), 'employeeNumber') ?? null,
  };
  if (activeBool !== undefined) input.active = activeBool;
  return input;
}
