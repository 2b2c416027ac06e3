// One audit log entry: an AuditEvent plus the fields the log assigns (index,
// time, prev), validated and serialised as RFC 8785 canonical JSON. The
// canonical bytes are the Merkle leaf; `prev` (the previous entry's leaf hash)
// lets a verifier tell which of two entries claiming the same index is the
// one the log wrote.

import { canonicalize } from './jcs.ts';
import { hashLeaf } from './merkle.ts';
import { badRequest } from '../lib/errors.ts';
import type { ActorType, AuditEvent, JsonValue } from './types.ts';

export const ENTRY_VERSION = 1;
export const MAX_ENTRY_BYTES = 32 * 1024;

export interface AuditEntry {
  v: number;
  index: number;
  time: string;
  action: string;
  actor: { type: ActorType; id: string };
  source?: string;
  target?: { type: string; id: string };
  outcome: 'success' | 'failure' | 'denied';
  requestId?: string;
  details?: { [k: string]: JsonValue };
  /** Hex leaf hash of entry index-1; "" for the first entry. */
  prev: string;
}

/** What the store keeps per entry: the indexed columns, the canonical text and its leaf hash. */
export interface StoredEntry {
  index: number;
  time: string;
  actorType: string;
  actorId: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  source: string | null;
  outcome: string;
  requestId: string | null;
  /** RFC 8785 canonical JSON of the AuditEntry: the Merkle leaf. */
  entry: string;
  leafHash: Uint8Array;
}

const ACTOR_TYPES: ReadonlySet<string> = new Set(['admin', 'token', 'device', 'gateway', 'system', 'anonymous']);
const OUTCOMES: ReadonlySet<string> = new Set(['success', 'failure', 'denied']);
const ACTION_RE = /^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){0,7}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

function shortString(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
}

/** Validate an event from a caller; throws bad_request with a fixed message. */
export function validateEvent(e: AuditEvent): void {
  if (typeof e !== 'object' || e === null) throw badRequest('invalid audit event');
  if (!shortString(e.action, 128) || !ACTION_RE.test(e.action)) throw badRequest('invalid audit event', 'action');
  if (typeof e.actor !== 'object' || e.actor === null || !ACTOR_TYPES.has(e.actor.type) || !shortString(e.actor.id, 256)) {
    throw badRequest('invalid audit event', 'actor');
  }
  if (!OUTCOMES.has(e.outcome)) throw badRequest('invalid audit event', 'outcome');
  if (e.source !== undefined && !shortString(e.source, 128)) throw badRequest('invalid audit event', 'source');
  if (e.target !== undefined && (typeof e.target !== 'object' || e.target === null || !shortString(e.target.type, 64) || !shortString(e.target.id, 256))) {
    throw badRequest('invalid audit event', 'target');
  }
  if (e.requestId !== undefined && !shortString(e.requestId, 128)) throw badRequest('invalid audit event', 'requestId');
  if (e.details !== undefined && (typeof e.details !== 'object' || e.details === null || Array.isArray(e.details))) {
    throw badRequest('invalid audit event', 'details');
  }
  if (e.time !== undefined && (!TIME_RE.test(e.time) || Number.isNaN(Date.parse(e.time)))) throw badRequest('invalid audit event', 'time');
}

export interface BuiltEntry {
  entry: AuditEntry;
  stored: StoredEntry;
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Assemble, canonicalise and hash entry `index`. */
export function buildEntry(event: AuditEvent, index: number, prevLeafHash: Uint8Array | null, now: Date): BuiltEntry {
  validateEvent(event);
  const entry: AuditEntry = {
    v: ENTRY_VERSION,
    index,
    time: event.time ?? now.toISOString(),
    action: event.action,
    actor: { type: event.actor.type, id: event.actor.id },
    outcome: event.outcome,
    prev: prevLeafHash ? toHex(prevLeafHash) : '',
  };
  if (event.source !== undefined) entry.source = event.source;
  if (event.target !== undefined) entry.target = { type: event.target.type, id: event.target.id };
  if (event.requestId !== undefined) entry.requestId = event.requestId;
  if (event.details !== undefined) entry.details = event.details;
  let text: string;
  try {
    text = canonicalize(entry as unknown as JsonValue);
  } catch {
    throw badRequest('invalid audit event', 'details not canonicalisable');
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_ENTRY_BYTES) throw badRequest('invalid audit event', 'entry too large');
  return { entry, stored: storedFrom(entry, text) };
}

export function storedFrom(entry: AuditEntry, text: string, leafHash?: Uint8Array): StoredEntry {
  return {
    index: entry.index,
    time: entry.time,
    actorType: entry.actor.type,
    actorId: entry.actor.id,
    action: entry.action,
    targetType: entry.target?.type ?? null,
    targetId: entry.target?.id ?? null,
    source: entry.source ?? null,
    outcome: entry.outcome,
    requestId: entry.requestId ?? null,
    entry: text,
    leafHash: leafHash ?? hashLeaf(Buffer.from(text, 'utf8')),
  };
}

/**
 * Parse entry text as written by the log. Returns null when it is not a
 * well-formed entry (the verifier reports that as a finding, never throws).
 */
export function parseEntry(text: string): AuditEntry | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  return entryFromJson(v);
}

export function entryFromJson(v: unknown): AuditEntry | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const e = v as Record<string, unknown>;
  if (e.v !== ENTRY_VERSION || !Number.isSafeInteger(e.index) || (e.index as number) < 0) return null;
  if (typeof e.prev !== 'string' || (e.prev !== '' && !HEX64_RE.test(e.prev))) return null;
  if (typeof e.time !== 'string') return null;
  try {
    validateEvent(e as unknown as AuditEvent);
  } catch {
    return null;
  }
  return e as unknown as AuditEntry;
}

// ------------------------------------------------------------ fast structure check
//
// The verifier reads millions of entries; a full JSON.parse + validateEvent
// per entry dominated its time. quickEntry() checks the exact shape the log
// writes (RFC 8785 orders the keys: action, actor, details?, index, outcome,
// prev, requestId?, source?, target?, time, v) with two anchored regular
// expressions and parses only `details`. It accepts a subset of what
// parseEntry() accepts, with the same index and prev; null means "not
// recognised" (callers then run parseEntry for the verdict), never "valid".

// One character of a short string as canonical JSON writes it: no control
// characters (they would be escaped, and validateEvent refuses them), DEL
// refused too; only \" and \\ escapes. JSON length >= decoded length, so the
// length bounds below are at least as strict as validateEvent's.
const CH = String.raw`(?:[^"\\\u0000-\u001f\u007f]|\\["\\])`;
const HEAD_RE = new RegExp(
  String.raw`^\{"action":"([a-z][a-z0-9_]*(?:\.[a-z0-9_]+){0,7})","actor":\{"id":"` + `${CH}{1,256}` + String.raw`","type":"(?:admin|token|device|gateway|system|anonymous)"\},`,
);
const TAIL_RE = new RegExp(
  String.raw`"index":(0|[1-9][0-9]{0,15}),"outcome":"(?:success|failure|denied)","prev":"((?:[0-9a-f]{64})?)"` +
    `(?:,"requestId":"${CH}{1,128}")?(?:,"source":"${CH}{1,128}")?(?:,"target":\\{"id":"${CH}{1,256}","type":"${CH}{1,64}"\\})?` +
    String.raw`,"time":"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z)","v":1\}$`,
  'y',
);

/** Index and prev of entry text in the exact form the log writes, or null (then use parseEntry). */
export function quickEntry(text: string): { index: number; prev: string } | null {
  const head = HEAD_RE.exec(text);
  if (!head || (head[1] as string).length > 128) return null;
  let at = head[0].length;
  if (text.startsWith('"details":', at)) {
    const end = text.lastIndexOf(',"index":');
    if (end < at || text.charCodeAt(at + 10) !== 0x7b || text.charCodeAt(end - 1) !== 0x7d) return null;
    try {
      JSON.parse(text.slice(at + 10, end));
    } catch {
      return null;
    }
    at = end + 1;
  }
  TAIL_RE.lastIndex = at;
  const tail = TAIL_RE.exec(text);
  if (!tail) return null;
  const index = Number(tail[1]);
  if (!Number.isSafeInteger(index) || Number.isNaN(Date.parse(tail[3] as string))) return null;
  return { index, prev: tail[2] as string };
}
