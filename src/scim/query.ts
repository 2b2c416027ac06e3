// SCIM filters to id sets. Encrypted User attributes (userName, emails,
// phoneNumbers, employeeNumber) support `eq` only, through their blind
// indexes; externalId and id support eq/co/sw/ew/pr; active supports eq.
// and/or combine as set intersection/union. Anything else is refused with
// invalidFilter.
import type { GroupService, GroupTerm } from '../directory/groups.ts';
import type { IdTerm, StaffDirectory } from '../directory/staff.ts';
import type { Actor } from '../services/types.ts';
import { ScimError } from './errors.ts';
import type { Filter } from './filter.ts';
import { ENTERPRISE_SCHEMA, USER_SCHEMA, scimBool } from './schema.ts';

const unsupported = (): ScimError => new ScimError(400, 'invalidFilter', 'filter not supported on this attribute or operator');

function strip(attr: string): string {
  const a = attr.toLowerCase();
  for (const urn of [USER_SCHEMA, ENTERPRISE_SCHEMA]) if (a.startsWith(`${urn.toLowerCase()}:`)) return a.slice(urn.length + 1);
  return a;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw unsupported();
  return v;
}

/** The filter's value for `value eq X` inside a value path (type eq ... parts are accepted and ignored). */
function valueOf(f: Filter): string {
  if (f.kind === 'cmp' && f.attr.toLowerCase() === 'value' && f.op === 'eq') return str(f.value);
  if (f.kind === 'and') {
    const side = (x: Filter): string | undefined => {
      try {
        return valueOf(x);
      } catch {
        return undefined;
      }
    };
    const v = side(f.left) ?? side(f.right);
    const other = v === side(f.left) ? f.right : f.left;
    if (v !== undefined && other.kind === 'cmp' && other.attr.toLowerCase() === 'type' && other.op === 'eq') return v;
  }
  throw unsupported();
}

export function userTerm(f: Filter): IdTerm {
  if (f.kind === 'valuePath') {
    const a = strip(f.attr);
    if (a === 'emails') return { attr: 'email', op: 'eq', value: valueOf(f.filter) };
    if (a === 'phonenumbers') return { attr: 'phone', op: 'eq', value: valueOf(f.filter) };
    throw unsupported();
  }
  if (f.kind === 'pr') {
    if (strip(f.attr) === 'externalid') return { attr: 'externalId', op: 'pr', value: '' };
    throw unsupported();
  }
  if (f.kind !== 'cmp') throw unsupported();
  const a = strip(f.attr);
  if (a === 'externalid' || a === 'id') {
    if (f.op === 'eq' || f.op === 'co' || f.op === 'sw' || f.op === 'ew') return { attr: a === 'id' ? 'id' : 'externalId', op: f.op, value: str(f.value) };
    throw unsupported();
  }
  if (a === 'active' && f.op === 'eq') {
    const b = scimBool(f.value);
    if (b === undefined) throw unsupported();
    return { attr: 'status', op: 'eq', value: b ? 'active' : 'suspended' };
  }
  if (f.op !== 'eq') throw unsupported();
  if (a === 'username') return { attr: 'userName', op: 'eq', value: str(f.value) };
  if (a === 'emails' || a === 'emails.value') return { attr: 'email', op: 'eq', value: str(f.value) };
  if (a === 'phonenumbers' || a === 'phonenumbers.value') return { attr: 'phone', op: 'eq', value: str(f.value) };
  if (a === 'employeenumber') return { attr: 'employeeNumber', op: 'eq', value: str(f.value) };
  throw unsupported();
}

function groupTerm(f: Filter): GroupTerm {
  if (f.kind === 'pr') {
    const a = strip(f.attr);
    if (a === 'externalid') return { attr: 'externalId', op: 'pr', value: '' };
    throw unsupported();
  }
  if (f.kind === 'valuePath' && strip(f.attr) === 'members') return { attr: 'members', op: 'eq', value: valueOf(f.filter) };
  if (f.kind !== 'cmp') throw unsupported();
  const a = strip(f.attr);
  if ((a === 'members' || a === 'members.value') && f.op === 'eq') return { attr: 'members', op: 'eq', value: str(f.value) };
  const attr = a === 'displayname' ? 'displayName' : a === 'externalid' ? 'externalId' : a === 'id' ? 'id' : undefined;
  if (!attr || !(f.op === 'eq' || f.op === 'co' || f.op === 'sw' || f.op === 'ew')) throw unsupported();
  return { attr, op: f.op, value: str(f.value) };
}

async function combine(f: Filter, leaf: (f: Filter) => Promise<string[]>): Promise<string[]> {
  if (f.kind === 'and') {
    const [l, r] = [await combine(f.left, leaf), await combine(f.right, leaf)];
    const rs = new Set(r);
    return l.filter((x) => rs.has(x));
  }
  if (f.kind === 'or') return [...new Set([...(await combine(f.left, leaf)), ...(await combine(f.right, leaf))])].sort();
  return [...new Set(await leaf(f))].sort();
}

export function userIds(dir: StaffDirectory, actor: Actor, f: Filter): Promise<string[]> {
  return combine(f, (x) => dir.idsWhere(actor, userTerm(x)));
}

export function groupIds(groups: GroupService, actor: Actor, f: Filter): Promise<string[]> {
  return combine(f, (x) => groups.ids(actor, groupTerm(x)));
}
