// Generates the MDM command and check-in schema tables and TypeScript types
// from Apple's device-management YAML (../shared/apple-device-management,
// relative to the repository root).
//
//   node scripts/gen-commands.ts           write src/protocol/commands/generated/*
//   node scripts/gen-commands.ts --check   exit 1 if the committed files differ
//
// If the schema folder is absent (a clone without shared/), --check reports
// that it was skipped and exits 0. The only module in the project that reads
// these files; the output is deterministic (sorted, fixed formatting).

import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { KeySchema, MessageSchema, ModeSupport, OsSupport, SchemaType, SupportedOS } from '../src/protocol/commands/schema.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SCHEMA_DIR = join(ROOT, '..', 'shared', 'apple-device-management');
const OUT_DIR = join(ROOT, 'src', 'protocol', 'commands', 'generated');

const OS_NAMES = ['iOS', 'macOS', 'tvOS', 'visionOS', 'watchOS'] as const;
const TYPES: Record<string, SchemaType> = {
  '<string>': 'string',
  '<integer>': 'integer',
  '<real>': 'real',
  '<boolean>': 'boolean',
  '<date>': 'date',
  '<data>': 'data',
  '<array>': 'array',
  '<dictionary>': 'dictionary',
  '<any>': 'any',
};
const OS_BOOL = ['multiple', 'devicechannel', 'userchannel', 'supervised', 'requiresdep', 'userapprovedmdm', 'allowmanualinstall'] as const;
const OS_STR = ['introduced', 'deprecated', 'removed', 'accessrights'] as const;

type Yaml = Record<string, unknown>;

class SchemaError extends Error {}

function isObj(v: unknown): v is Yaml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new SchemaError(`${where}: expected a string`);
}

function modeSupport(v: unknown, where: string): ModeSupport {
  if (!isObj(v)) throw new SchemaError(`${where}: expected an object`);
  const out: { -readonly [K in keyof ModeSupport]: ModeSupport[K] } = {};
  if (v['mode'] !== undefined) out.mode = str(v['mode'], where);
  if (v['behavior'] !== undefined) out.behavior = str(v['behavior'], where);
  if (typeof v['devicechannel'] === 'boolean') out.devicechannel = v['devicechannel'];
  if (typeof v['userchannel'] === 'boolean') out.userchannel = v['userchannel'];
  return out;
}

function supportedOS(v: unknown, where: string): SupportedOS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new SchemaError(`${where}: supportedOS must be an object`);
  const out: { [K in (typeof OS_NAMES)[number]]?: OsSupport } = {};
  for (const os of OS_NAMES) {
    if (!(os in v)) continue;
    const e = v[os];
    const o: Record<string, unknown> = {};
    if (isObj(e)) {
      for (const k of OS_STR) if (e[k] !== undefined && e[k] !== null) o[k] = str(e[k], `${where}.${os}.${k}`);
      for (const k of OS_BOOL) if (typeof e[k] === 'boolean') o[k] = e[k];
      if (e['sharedipad'] !== undefined) o['sharedipad'] = modeSupport(e['sharedipad'], `${where}.${os}.sharedipad`);
      if (e['userenrollment'] !== undefined) o['userenrollment'] = modeSupport(e['userenrollment'], `${where}.${os}.userenrollment`);
    }
    out[os] = o as OsSupport;
  }
  for (const k of Object.keys(v)) if (!(OS_NAMES as readonly string[]).includes(k)) throw new SchemaError(`${where}: unknown OS ${k}`);
  return out;
}

/** Required only under some platform, channel or enrollment conditions. */
function isConditional(os: SupportedOS | undefined): boolean {
  if (os === undefined) return false;
  for (const name of OS_NAMES) {
    const e = os[name];
    if (e === undefined) continue;
    if (e.introduced === 'n/a' || e.removed !== undefined) return true;
    if (e.devicechannel === false || e.userchannel === false) return true;
    for (const m of [e.userenrollment?.mode, e.sharedipad?.mode]) if (m === 'required' || m === 'forbidden') return true;
  }
  return false;
}

function keySchema(v: unknown, where: string): KeySchema {
  if (!isObj(v)) throw new SchemaError(`${where}: key entry must be an object`);
  const key = str(v['key'], `${where}.key`);
  const at = `${where}/${key}`;
  const type = TYPES[str(v['type'], `${at}.type`)];
  if (type === undefined) throw new SchemaError(`${at}: unknown type`);
  const presence = v['presence'] === undefined ? 'optional' : str(v['presence'], `${at}.presence`);
  if (presence !== 'required' && presence !== 'optional') throw new SchemaError(`${at}: bad presence`);
  const os = supportedOS(v['supportedOS'], `${at}.supportedOS`);
  const out: Record<string, unknown> = { key, type, presence };
  if (presence === 'required' && isConditional(os)) out['conditional'] = true;
  if (key === 'ANY' || key.startsWith('ANY ')) out['wildcard'] = true;
  if (v['rangelist'] !== undefined) {
    const rl = v['rangelist'];
    if (!Array.isArray(rl) || !rl.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) throw new SchemaError(`${at}: bad rangelist`);
    out['rangelist'] = rl;
  }
  if (v['range'] !== undefined) {
    const r = v['range'];
    if (!isObj(r)) throw new SchemaError(`${at}: bad range`);
    const range: Record<string, number> = {};
    for (const b of ['min', 'max'] as const) {
      if (r[b] === undefined) continue;
      if (typeof r[b] !== 'number') throw new SchemaError(`${at}: bad range`);
      range[b] = r[b];
    }
    out['range'] = range;
  }
  if (os !== undefined) out['supportedOS'] = os;
  if (v['subkeys'] !== undefined) {
    if (!Array.isArray(v['subkeys'])) throw new SchemaError(`${at}: subkeys must be a list`);
    out['subkeys'] = v['subkeys'].map((s, i) => keySchema(s, `${at}[${i}]`));
  }
  return out as unknown as KeySchema;
}

function keyList(v: unknown, where: string): KeySchema[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SchemaError(`${where}: must be a list`);
  return v.map((k, i) => keySchema(k, `${where}[${i}]`));
}

function loadFolder(sub: string): MessageSchema[] {
  const dir = join(SCHEMA_DIR, sub);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  const out: MessageSchema[] = [];
  for (const f of files) {
    const source = `${sub}/${f}`;
    const y: unknown = parseYaml(readFileSync(join(dir, f), 'utf8'));
    if (!isObj(y) || !isObj(y['payload'])) throw new SchemaError(`${source}: no payload object`);
    const requestType = str(y['payload']['requesttype'], `${source}: requesttype`);
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(requestType)) throw new SchemaError(`${source}: request type is not an identifier`);
    out.push({
      requestType,
      title: str(y['title'] ?? requestType, `${source}: title`),
      source,
      supportedOS: supportedOS(y['payload']['supportedOS'], `${source}: supportedOS`) ?? {},
      payloadKeys: keyList(y['payloadkeys'], `${source}: payloadkeys`),
      responseKeys: keyList(y['responsekeys'], `${source}: responsekeys`),
    });
  }
  out.sort((a, b) => (a.requestType < b.requestType ? -1 : a.requestType > b.requestType ? 1 : 0));
  for (let i = 1; i < out.length; i++) {
    if (out[i]?.requestType === out[i - 1]?.requestType) throw new SchemaError(`duplicate request type ${out[i]?.requestType}`);
  }
  return out;
}

// ---------------------------------------------------------------- rendering

function header(what: string): string {
  return (
    `// GENERATED FILE - DO NOT EDIT. ${what}\n` +
    '// Generated by scripts/gen-commands.ts (`npm run gen`) from Apple\'s device-management\n' +
    '// schemas in ../shared/apple-device-management (iOS 18.1 / macOS 15.1, MIT licensed).\n' +
    '// `npm run gen:check` fails when this file is out of date.\n\n'
  );
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const prop = (k: string): string => (IDENT.test(k) ? k : JSON.stringify(k));

function literal(v: string | number | boolean): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** TS type of a value described by `k`. Payload types are strict, response types lenient. */
function tsType(k: KeySchema, indent: string, mode: 'payload' | 'response'): string {
  switch (k.type) {
    case 'string':
    case 'integer':
    case 'real': {
      const base = k.type === 'string' ? 'string' : k.type === 'integer' && mode === 'response' ? 'number | bigint' : 'number';
      if (mode === 'payload' && k.rangelist !== undefined && k.rangelist.length > 0) return k.rangelist.map(literal).join(' | ');
      if (mode === 'payload' && k.type === 'string' && k.subkeys !== undefined && k.subkeys.length > 0) {
        return k.subkeys.map((s) => JSON.stringify(s.key)).join(' | ');
      }
      return base;
    }
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'Date';
    case 'data':
      return 'Uint8Array';
    case 'any':
      return 'PlistValue';
    case 'array': {
      const items = k.subkeys ?? [];
      if (items.length === 0) return 'PlistValue[]';
      const parts = items.map((s) => tsType(s, items.length === 1 ? indent : indent + '  ', mode));
      return parts.length === 1 ? `Array<${parts[0]}>` : `Array<\n${parts.map((p) => `${indent}  | ${p}`).join('\n')}\n${indent}>`;
    }
    case 'dictionary': {
      const subs = k.subkeys ?? [];
      if (subs.length === 0) return '{ [key: string]: PlistValue }';
      return objectType(subs, indent, mode);
    }
  }
}

function objectType(keys: readonly KeySchema[], indent: string, mode: 'payload' | 'response'): string {
  const inner = indent + '  ';
  const lines: string[] = [];
  const wild = keys.filter((k) => k.wildcard === true);
  const named = keys.filter((k) => k.wildcard !== true);
  for (const k of named) {
    const optional = k.presence !== 'required' || k.conditional === true;
    lines.push(`${inner}${prop(k.key)}${optional ? '?' : ''}: ${tsType(k, inner, mode)};`);
  }
  if (wild.length > 0) {
    const t = named.length > 0 ? 'PlistValue' : wild.map((w) => tsType(w, inner, mode)).join(' | ');
    lines.push(`${inner}[key: string]: ${t};`);
  }
  if (mode === 'response' && wild.length === 0) lines.push(`${inner}/** Devices add keys over OS releases. */`, `${inner}[key: string]: unknown;`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function renderTable(constName: string, schemas: readonly MessageSchema[]): string {
  const names = schemas.map((s) => s.requestType);
  return (
    `export const ${constName}_TYPES = ${JSON.stringify(names, null, 2).replace(/"/g, "'")} as const;\n\n` +
    `export const ${constName}_SCHEMAS: Readonly<Record<string, MessageSchema>> = ${JSON.stringify(
      Object.fromEntries(schemas.map((s) => [s.requestType, s])),
      null,
      2,
    )};\n`
  );
}

function renderTypes(schemas: readonly MessageSchema[], suffix: { payload: string; response: string }, mapNames: { payload: string; response: string }, typesConst: string, typeAlias: string): string {
  const out: string[] = [];
  for (const s of schemas) {
    const title = s.title.replace(/\*\//g, '* /');
    out.push(`/** ${title} (${s.requestType}, ${s.source}). */`);
    out.push(`export interface ${s.requestType}${suffix.payload} ${objectType(s.payloadKeys, '', 'payload')}\n`);
    out.push(`/** Response to ${s.requestType}. */`);
    out.push(`export interface ${s.requestType}${suffix.response} ${objectType(s.responseKeys, '', 'response')}\n`);
  }
  out.push(`export interface ${mapNames.payload} {\n${schemas.map((s) => `  ${s.requestType}: ${s.requestType}${suffix.payload};`).join('\n')}\n}\n`);
  out.push(`export interface ${mapNames.response} {\n${schemas.map((s) => `  ${s.requestType}: ${s.requestType}${suffix.response};`).join('\n')}\n}\n`);
  out.push(`export type ${typeAlias} = (typeof ${typesConst}_TYPES)[number];\n`);
  return out.join('\n');
}

export function generate(): Map<string, string> {
  const commands = loadFolder('mdm/commands');
  const checkin = loadFolder('mdm/checkin');
  const files = new Map<string, string>();
  files.set(
    'commands.ts',
    header('MDM command schema table, one entry per RequestType.') +
      "import type { MessageSchema } from '../schema.ts';\n\n" +
      renderTable('COMMAND', commands),
  );
  files.set(
    'types.ts',
    header('TypeScript types of every MDM command payload and response.') +
      "import type { PlistValue } from '../../plist/types.ts';\n" +
      "import type { COMMAND_TYPES } from './commands.ts';\n\n" +
      renderTypes(commands, { payload: 'Payload', response: 'Response' }, { payload: 'CommandPayloads', response: 'CommandResponses' }, 'COMMAND', 'CommandType'),
  );
  files.set(
    'checkin.ts',
    header('MDM check-in message schema table and types, one entry per MessageType.') +
      "import type { PlistValue } from '../../plist/types.ts';\n" +
      "import type { MessageSchema } from '../schema.ts';\n\n" +
      renderTable('CHECKIN', checkin) +
      '\n' +
      renderTypes(checkin, { payload: 'Checkin', response: 'CheckinResponse' }, { payload: 'CheckinMessages', response: 'CheckinResponses' }, 'CHECKIN', 'CheckinMessageType'),
  );
  return files;
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  if (!existsSync(SCHEMA_DIR)) {
    if (check) {
      console.log(`gen-commands: schema folder ${relative(ROOT, SCHEMA_DIR)} not found; check skipped.`);
      return 0;
    }
    console.error(`gen-commands: schema folder ${relative(ROOT, SCHEMA_DIR)} not found.`);
    return 1;
  }
  let files: Map<string, string>;
  try {
    files = generate();
  } catch (e) {
    if (e instanceof SchemaError) {
      console.error(`gen-commands: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const stale: string[] = [];
  for (const [name, text] of files) {
    const path = join(OUT_DIR, name);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      stale.push(relative(ROOT, path));
    } else {
      mkdirSync(OUT_DIR, { recursive: true });
      writeFileSync(path, text);
      console.log(`gen-commands: wrote ${relative(ROOT, path)}`);
    }
  }
  if (check && stale.length > 0) {
    console.error(`gen-commands: generated files are out of date: ${stale.join(', ')}. Run \`npm run gen\` and commit the result.`);
    return 1;
  }
  if (check) console.log('gen-commands: generated files are up to date.');
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
