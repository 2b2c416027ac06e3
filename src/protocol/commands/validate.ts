// Generic validator interpreting the generated schema tables.
//
// Two modes:
// - strict (commands we send): unknown keys, values outside a rangelist or
//   range, and values outside a scalar array's allowed set are issues.
// - lenient (what devices send: responses, check-ins): unknown keys and
//   unknown enumerated values are accepted (devices add them over OS
//   releases); the types of known keys are still checked.
// Keys marked `conditional` (required only on some platforms, channels or
// enrollment types) are never insisted upon. Paths are JSON pointers
// (RFC 6901) into the validated value.

import { isPlistDict } from '../plist/types.ts';
import { COMMAND_SCHEMAS } from './generated/commands.ts';
import type { KeySchema, MessageSchema } from './schema.ts';

export type IssueCode =
  | 'unknown_request_type'
  | 'missing'
  | 'type'
  | 'range'
  | 'unknown_key'
  | 'no_variant';

export interface ValidationIssue {
  /** JSON pointer into the validated value, '' for the value itself. */
  readonly path: string;
  readonly code: IssueCode;
  /** Short fixed text naming the expected type or problem; never contains input. */
  readonly message: string;
}

export type ValidationMode = 'strict' | 'lenient';

/** Issues are capped so a hostile value cannot make the list itself large. */
export const MAX_ISSUES = 50;
const MAX_KEY_IN_PATH = 64;

export function commandSchema(requestType: string): MessageSchema | undefined {
  return Object.hasOwn(COMMAND_SCHEMAS, requestType) ? COMMAND_SCHEMAS[requestType] : undefined;
}

function pointer(base: string, key: string | number): string {
  const k = typeof key === 'number' ? String(key) : key.length > MAX_KEY_IN_PATH ? key.slice(0, MAX_KEY_IN_PATH) + '...' : key;
  return `${base}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

class Ctx {
  readonly mode: ValidationMode;
  readonly issues: ValidationIssue[] = [];
  constructor(mode: ValidationMode) {
    this.mode = mode;
  }
  add(path: string, code: IssueCode, message: string): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ path, code, message });
  }
  get full(): boolean {
    return this.issues.length >= MAX_ISSUES;
  }
}

const TYPE_NAMES: Record<KeySchema['type'], string> = {
  string: 'expected a string',
  integer: 'expected an integer',
  real: 'expected a number',
  boolean: 'expected a boolean',
  date: 'expected a date',
  data: 'expected data',
  array: 'expected an array',
  dictionary: 'expected a dictionary',
  any: 'expected a plist value',
};

function isPlistScalarOrContainer(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      return v !== null && (Array.isArray(v) || v instanceof Date || v instanceof Uint8Array || isPlistDict(v));
    default:
      return false;
  }
}

function checkValue(schema: KeySchema, v: unknown, path: string, ctx: Ctx): void {
  if (ctx.full) return;
  switch (schema.type) {
    case 'string':
      if (typeof v !== 'string') return ctx.add(path, 'type', TYPE_NAMES.string);
      break;
    case 'integer':
      if (!((typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint')) return ctx.add(path, 'type', TYPE_NAMES.integer);
      break;
    case 'real':
      if (!((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint')) return ctx.add(path, 'type', TYPE_NAMES.real);
      break;
    case 'boolean':
      if (typeof v !== 'boolean') return ctx.add(path, 'type', TYPE_NAMES.boolean);
      break;
    case 'date':
      if (!(v instanceof Date) || Number.isNaN(v.getTime())) return ctx.add(path, 'type', TYPE_NAMES.date);
      break;
    case 'data':
      if (!(v instanceof Uint8Array)) return ctx.add(path, 'type', TYPE_NAMES.data);
      break;
    case 'any':
      if (!isPlistScalarOrContainer(v)) return ctx.add(path, 'type', TYPE_NAMES.any);
      return;
    case 'array':
      if (!Array.isArray(v)) return ctx.add(path, 'type', TYPE_NAMES.array);
      return checkArray(schema, v, path, ctx);
    case 'dictionary':
      if (!isPlistDict(v)) return ctx.add(path, 'type', TYPE_NAMES.dictionary);
      return checkDict(schema.subkeys ?? [], v as Record<string, unknown>, path, ctx);
  }
  if (ctx.mode === 'strict') checkBounds(schema, v, path, ctx);
}

function checkBounds(schema: KeySchema, v: unknown, path: string, ctx: Ctx): void {
  if (schema.rangelist !== undefined && schema.rangelist.length > 0) {
    const ok = schema.rangelist.some((r) => r === v || (typeof v === 'bigint' && typeof r === 'number' && BigInt(r) === v));
    if (!ok) ctx.add(path, 'range', 'value not in the allowed list');
  }
  if (schema.range !== undefined && (typeof v === 'number' || typeof v === 'bigint')) {
    const n = Number(v);
    if ((schema.range.min !== undefined && n < schema.range.min) || (schema.range.max !== undefined && n > schema.range.max)) {
      ctx.add(path, 'range', 'value out of range');
    }
  }
}

function checkArray(schema: KeySchema, arr: readonly unknown[], path: string, ctx: Ctx): void {
  const items = schema.subkeys ?? [];
  if (items.length === 0) {
    for (let i = 0; i < arr.length && !ctx.full; i++) {
      if (!isPlistScalarOrContainer(arr[i])) ctx.add(pointer(path, i), 'type', TYPE_NAMES.any);
    }
    return;
  }
  if (items.length === 1) {
    const item = items[0] as KeySchema;
    for (let i = 0; i < arr.length && !ctx.full; i++) {
      const p = pointer(path, i);
      checkValue(item, arr[i], p, ctx);
      // A scalar element whose schema lists subkeys: the subkeys name the allowed values.
      if (ctx.mode === 'strict' && item.type !== 'dictionary' && item.type !== 'array' && item.subkeys !== undefined && item.subkeys.length > 0) {
        const v = arr[i];
        if (typeof v === 'string' && !item.subkeys.some((s) => s.key === v)) ctx.add(p, 'range', 'value not in the allowed list');
      }
    }
    return;
  }
  for (let i = 0; i < arr.length && !ctx.full; i++) {
    const p = pointer(path, i);
    const variant = pickVariant(items, arr[i]);
    if (variant === undefined) ctx.add(p, 'no_variant', 'element matches no allowed shape');
    else checkValue(variant, arr[i], p, ctx);
  }
}

/**
 * For arrays with several element shapes (Settings): a dictionary element
 * selects the shape whose single-valued required keys (e.g. Item) it matches.
 */
export function pickVariant(variants: readonly KeySchema[], v: unknown): KeySchema | undefined {
  if (isPlistDict(v)) {
    const rec = v as Record<string, unknown>;
    return variants.find(
      (s) =>
        s.type === 'dictionary' &&
        (s.subkeys ?? []).some((k) => k.rangelist?.length === 1) &&
        (s.subkeys ?? []).every((k) => k.presence !== 'required' || k.rangelist?.length !== 1 || rec[k.key] === k.rangelist[0]),
    );
  }
  const probe = new Ctx('lenient');
  return variants.find((s) => {
    probe.issues.length = 0;
    checkValue(s, v, '', probe);
    return probe.issues.length === 0;
  });
}

function checkDict(keys: readonly KeySchema[], dict: Record<string, unknown>, path: string, ctx: Ctx): void {
  if (keys.length === 0) {
    for (const k of Object.keys(dict)) if (!isPlistScalarOrContainer(dict[k])) ctx.add(pointer(path, k), 'type', TYPE_NAMES.any);
    return;
  }
  let wildcard: KeySchema | undefined;
  const known = new Map<string, KeySchema>();
  for (const k of keys) {
    if (k.wildcard === true) wildcard ??= k;
    else known.set(k.key, k);
  }
  for (const k of known.values()) {
    if (k.presence === 'required' && k.conditional !== true && !Object.hasOwn(dict, k.key)) ctx.add(pointer(path, k.key), 'missing', 'required key missing');
  }
  for (const name of Object.keys(dict)) {
    if (ctx.full) return;
    const v = dict[name];
    const p = pointer(path, name);
    const k = known.get(name) ?? wildcard;
    if (k !== undefined) checkValue(k, v, p, ctx);
    else if (ctx.mode === 'strict') ctx.add(p, 'unknown_key', 'unknown key');
    else if (!isPlistScalarOrContainer(v)) ctx.add(p, 'type', TYPE_NAMES.any);
  }
}

/** Validates `value` as a dictionary with the given keys. */
export function validateKeys(keys: readonly KeySchema[], value: unknown, mode: ValidationMode, path = ''): ValidationIssue[] {
  const ctx = new Ctx(mode);
  if (!isPlistDict(value)) ctx.add(path, 'type', TYPE_NAMES.dictionary);
  else checkDict(keys, value as Record<string, unknown>, path, ctx);
  return ctx.issues;
}

/**
 * Validates the payload of a command we are about to send (the Command dict
 * without RequestType). Strict: unknown keys are refused.
 */
export function validateCommandPayload(requestType: string, payload: unknown): ValidationIssue[] {
  const schema = commandSchema(requestType);
  if (schema === undefined) return [{ path: '', code: 'unknown_request_type', message: 'unknown request type' }];
  // A schema without keys still means "no keys"; an empty key list would
  // otherwise accept anything, so check it explicitly.
  if (schema.payloadKeys.length === 0) {
    if (!isPlistDict(payload)) return [{ path: '', code: 'type', message: TYPE_NAMES.dictionary }];
    return Object.keys(payload)
      .slice(0, MAX_ISSUES)
      .map((k) => ({ path: pointer('', k), code: 'unknown_key' as const, message: 'unknown key' }));
  }
  return validateKeys(schema.payloadKeys, payload, 'strict');
}

/**
 * Validates a device's response to a command (the report body). Lenient:
 * unknown keys pass, known keys must have the schema's type. Keys that are
 * part of every report (Status, UDID, CommandUUID, ...) are not in the command
 * schemas and pass as unknown.
 */
export function validateResponse(requestType: string, value: unknown): ValidationIssue[] {
  const schema = commandSchema(requestType);
  if (schema === undefined) return [{ path: '', code: 'unknown_request_type', message: 'unknown request type' }];
  if (schema.responseKeys.length === 0) return isPlistDict(value) ? [] : [{ path: '', code: 'type', message: TYPE_NAMES.dictionary }];
  return validateKeys(schema.responseKeys, value, 'lenient');
}

/** One-line summary of issues for an error message (paths and codes only). */
export function summarizeIssues(issues: readonly ValidationIssue[], max = 3): string {
  const shown = issues.slice(0, max).map((i) => `${i.path || '/'}: ${i.message}`);
  if (issues.length > max) shown.push(`and ${issues.length - max} more`);
  return shown.join('; ');
}
