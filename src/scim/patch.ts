// SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form, pure. The
// result is parsed again like a PUT body, so a PATCH can never store what a
// PUT could not. Paths supported:
//   attr, attr.sub, urn:...:Schema:attr, attr[filter], attr[filter].sub
// where filter compares sub-attributes (eq/ne/co/sw/ew/pr, and/or), which
// covers Entra ID's `emails[type eq "work"].value` and Okta's no-path
// `{"op":"replace","value":{"active":false}}`. Entra's capitalised op names
// ("Replace") and dotted keys in no-path values ("name.givenName") are accepted.
import { ScimError } from './errors.ts';
import { parseFilter } from './filter.ts';
import type { Filter } from './filter.ts';
import { PATCH_SCHEMA } from './schema.ts';
import type { Json, JsonObject } from './schema.ts';

const MAX_OPS = 100;
const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const badPath = (): ScimError => new ScimError(400, 'invalidPath', 'invalid path');

interface Path {
  attr: string;
  filter?: Filter;
  sub?: string;
}

function parsePath(p: string): Path {
  if (p.length === 0 || p.length > 512) throw badPath();
  const urn = /^(urn:[A-Za-z0-9:._-]+:[0-9.]+:[A-Za-z]+):(.+)$/.exec(p);
  if (urn) {
    // urn:...:User:attr[.sub] -> attribute of the extension object.
    const rest = urn[2] as string;
    if (!/^[A-Za-z][A-Za-z0-9_$-]*(?:\.[A-Za-z][A-Za-z0-9_$-]*)?$/.test(rest)) throw badPath();
    const [a, s] = rest.split('.');
    return { attr: urn[1] as string, sub: s === undefined ? (a as string) : `${a}.${s}` };
  }
  const m = /^([A-Za-z][A-Za-z0-9_$-]*)(?:\[(.*)\])?(?:\.([A-Za-z][A-Za-z0-9_$-]*))?$/.exec(p);
  if (!m) throw badPath();
  const out: Path = { attr: m[1] as string };
  if (m[2] !== undefined) {
    try {
      out.filter = parseFilter(m[2]);
    } catch {
      throw badPath();
    }
  }
  if (m[3] !== undefined) out.sub = m[3];
  return out;
}

function key(o: JsonObject, name: string): string {
  return Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
}

function cmp(v: Json | undefined, f: Filter & { kind: 'cmp' }): boolean {
  if (f.op === 'eq') return typeof v === 'string' && typeof f.value === 'string' ? v.toLowerCase() === f.value.toLowerCase() : v === f.value;
  if (f.op === 'ne') return !cmp(v, { ...f, op: 'eq' });
  if (typeof v !== 'string' || typeof f.value !== 'string') return false;
  const a = v.toLowerCase();
  const b = f.value.toLowerCase();
  if (f.op === 'co') return a.includes(b);
  if (f.op === 'sw') return a.startsWith(b);
  if (f.op === 'ew') return a.endsWith(b);
  return false;
}

export function matches(el: Json, f: Filter): boolean {
  if (!isObj(el)) return false;
  switch (f.kind) {
    case 'and':
      return matches(el, f.left) && matches(el, f.right);
    case 'or':
      return matches(el, f.left) || matches(el, f.right);
    case 'pr': {
      const v = el[key(el, f.attr)];
      return v !== undefined && v !== null && v !== '';
    }
    case 'cmp':
      return cmp(el[key(el, f.attr)], f);
    default:
      return false;
  }
}

function setAt(target: JsonObject, attr: string, sub: string | undefined, value: Json, op: 'add' | 'replace'): void {
  const k = key(target, attr);
  if (sub === undefined) {
    const cur = target[k];
    if (op === 'add' && Array.isArray(cur) && Array.isArray(value)) target[k] = [...cur, ...value];
    else if (op === 'add' && isObj(cur) && isObj(value)) target[k] = { ...cur, ...value };
    else target[k] = value;
    return;
  }
  const inner = isObj(target[k]) ? (target[k] as JsonObject) : {};
  inner[key(inner, sub)] = value;
  target[k] = inner;
}

function removeAt(target: JsonObject, attr: string, sub: string | undefined): void {
  const k = key(target, attr);
  if (sub === undefined) {
    delete target[k];
    return;
  }
  const inner = target[k];
  if (isObj(inner)) delete inner[key(inner, sub)];
}

/** "name.givenName" -> ["name", "givenName"] (names without a URN only). */
function split(dotted: string): [string, string | undefined] {
  const i = dotted.indexOf('.');
  return i < 0 ? [dotted, undefined] : [dotted.slice(0, i), dotted.slice(i + 1)];
}

function applyOne(res: JsonObject, opName: string, path: string | undefined, value: Json | undefined, readOnly: readonly string[]): void {
  const op = opName.toLowerCase();
  if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new ScimError(400, 'invalidSyntax', 'invalid op');
  if (path === undefined) {
    if (op === 'remove') throw new ScimError(400, 'noTarget', 'remove needs a path');
    if (!isObj(value)) throw new ScimError(400, 'invalidValue', 'value must be an object when no path is given');
    for (const [k, v] of Object.entries(value)) {
      if (readOnly.includes(k.toLowerCase())) continue;
      if (/^urn:/i.test(k) && isObj(v)) {
        // {"urn:...:User": {"department": "x"}}
        const ext = isObj(res[key(res, k)]) ? (res[key(res, k)] as JsonObject) : {};
        for (const [ek, ev] of Object.entries(v)) ext[key(ext, ek)] = ev;
        res[key(res, k)] = ext;
      } else if (/^urn:/i.test(k)) {
        const p = parsePath(k);
        if (p.sub === undefined) throw badPath();
        setAt(res, p.attr, p.sub, v, 'replace');
      } else {
        const [a, sub] = split(k);
        setAt(res, a, sub, v, op);
      }
    }
    return;
  }
  const p = parsePath(path);
  if (readOnly.includes(p.attr.toLowerCase())) throw new ScimError(400, 'mutability', 'attribute is read-only');
  if (p.filter === undefined) {
    if (op === 'remove') {
      if (value !== undefined && Array.isArray(value) && Array.isArray(res[key(res, p.attr)]) && p.sub === undefined) {
        // Entra: remove members with a value list.
        const drop = value.filter(isObj).map((x) => String(x.value));
        res[key(res, p.attr)] = (res[key(res, p.attr)] as Json[]).filter((e) => !(isObj(e) && drop.includes(String(e.value))));
      } else removeAt(res, p.attr, p.sub);
    } else {
      if (value === undefined) throw new ScimError(400, 'invalidValue', 'value required');
      setAt(res, p.attr, p.sub, value, op);
    }
    return;
  }
  // attr[filter] or attr[filter].sub on a multi-valued attribute.
  const k = key(res, p.attr);
  const list = Array.isArray(res[k]) ? (res[k] as Json[]) : [];
  const hit = list.filter((e) => matches(e, p.filter as Filter));
  if (op === 'remove') {
    if (p.sub === undefined) res[k] = list.filter((e) => !hit.includes(e));
    else for (const e of hit) if (isObj(e)) delete e[key(e, p.sub)];
    return;
  }
  if (value === undefined) throw new ScimError(400, 'invalidValue', 'value required');
  if (hit.length === 0) {
    // Entra adds emails[type eq "work"].value to a user without one: create the element from the filter's equalities.
    const el: JsonObject = {};
    const seed = (f: Filter): void => {
      if (f.kind === 'cmp' && f.op === 'eq') el[f.attr] = f.value;
      else if (f.kind === 'and') {
        seed(f.left);
        seed(f.right);
      } else throw new ScimError(400, 'noTarget', 'no element matches the path');
    };
    seed(p.filter);
    if (p.sub !== undefined) el[p.sub] = value;
    else if (isObj(value)) Object.assign(el, value);
    else throw new ScimError(400, 'invalidValue', 'invalid value');
    res[k] = [...list, el];
    return;
  }
  for (const e of hit) {
    if (!isObj(e)) continue;
    if (p.sub !== undefined) e[key(e, p.sub)] = value;
    else if (isObj(value)) Object.assign(e, value);
    else throw new ScimError(400, 'invalidValue', 'invalid value');
  }
}

/** Applies a PatchOp body to a copy of `resource`; throws ScimError on anything malformed. */
export function applyPatch(resource: JsonObject, body: unknown, readOnly: readonly string[] = ['id', 'meta', 'schemas']): JsonObject {
  if (!isObj(body)) throw new ScimError(400, 'invalidSyntax', 'request body must be a JSON object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA)) throw new ScimError(400, 'invalidSyntax', 'PatchOp schema required');
  const ops = body.Operations ?? body.operations;
  if (!Array.isArray(ops) || ops.length === 0 || ops.length > MAX_OPS) throw new ScimError(400, 'invalidSyntax', 'Operations must be a non-empty array');
  const res = structuredClone(resource);
  for (const o of ops) {
    if (!isObj(o) || typeof o.op !== 'string') throw new ScimError(400, 'invalidSyntax', 'invalid operation');
    if (o.path !== undefined && typeof o.path !== 'string') throw new ScimError(400, 'invalidPath', 'invalid path');
    applyOne(res, o.op, o.path as string | undefined, o.value, readOnly);
  }
  return res;
}
