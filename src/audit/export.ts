// JSON Lines export of the audit log, the input of offline verification.
//
//   {"index":n,"leafHash":"<hex>","entry":{...canonical entry...}}   one per entry, in index order
//   {"checkpoint":"<signed note>"}                                     stored checkpoints, after the entries
//
// The entry is embedded as a JSON object; since it was RFC 8785 canonical,
// re-canonicalising the parsed object gives back the exact leaf bytes.

import { hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { canonicalize } from './jcs.ts';
import type { AuditStore, StoredEntry } from './store.ts';
import type { JsonValue } from './types.ts';

/** One entry as the verifier sees it: claimed position, stored leaf hash, canonical text. */
export interface LogRecord {
  /** Index the store (or export line) files the entry under. */
  position: number;
  leafHash: Uint8Array;
  /** Entry text (canonical JSON), or null when the line could not be read. */
  entry: string | null;
  /**
   * The entry's stored UTF-8 bytes, when the source has them (live store):
   * the leaf hash is computed over them and `entry` may then be null.
   */
  bytes?: Uint8Array;
  /**
   * The store's second copy of the leaf hash (SQLite audit_leaf, read by
   * proofs), null when that row is missing; compared with the recomputed hash
   * like a stored interior node (finding node_mismatch at level 0).
   */
  leafCopy?: Uint8Array | null;
}

export interface ExportOptions {
  start?: number;
  end?: number;
  /** Include stored checkpoints (default true). */
  checkpoints?: boolean;
}

export function exportLine(e: StoredEntry): string {
  return `{"index":${e.index},"leafHash":"${Buffer.from(e.leafHash).toString('hex')}","entry":${e.entry}}\n`;
}

/** Stream the export as lines (each ending in "\n"). */
export async function* exportJsonl(store: AuditStore, opts: ExportOptions = {}): AsyncIterable<string> {
  for await (const e of store.readEntries(opts.start ?? 0, opts.end)) yield exportLine(e);
  if (opts.checkpoints !== false) {
    for (const cp of await store.listCheckpoints()) yield JSON.stringify({ checkpoint: cp.note }) + '\n';
  }
}

/** Write the export to a writable stream (e.g. fs.createWriteStream), honouring back-pressure. */
export async function writeExport(store: AuditStore, out: NodeJS.WritableStream, opts: ExportOptions = {}): Promise<number> {
  let n = 0;
  for await (const line of exportJsonl(store, opts)) {
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
    n++;
  }
  return n;
}

const HEX64 = /^[0-9a-f]{64}$/;
const EXPORT_LINE = /^\{"index":(0|[1-9][0-9]{0,15}),"leafHash":"([0-9a-f]{64})","entry":(\{.*\})\}$/;

/**
 * Parse export lines into records and checkpoint notes. Unreadable lines
 * become records with entry null (reported by the verifier), never exceptions.
 */
export async function* readJsonlRecords(lines: AsyncIterable<string> | Iterable<string>, checkpoints: string[]): AsyncIterable<LogRecord> {
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    // Fast path: a line exactly as exportLine() writes it, whose embedded entry hashes to its leaf hash.
    const m = EXPORT_LINE.exec(line);
    if (m) {
      const entry = m[3] as string;
      const leafHash = Buffer.from(m[2] as string, 'hex');
      if (hash('sha256', '\u0000' + entry, 'buffer').equals(leafHash)) {
        yield { position: Number(m[1]), leafHash, entry };
        continue;
      }
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      yield { position: -lineNo, leafHash: new Uint8Array(0), entry: null };
      continue;
    }
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (typeof o.checkpoint === 'string') {
      checkpoints.push(o.checkpoint);
      continue;
    }
    let entry: string | null = null;
    try {
      entry = typeof o.entry === 'object' && o.entry !== null ? canonicalize(o.entry as JsonValue) : null;
    } catch {
      entry = null;
    }
    const position = Number.isSafeInteger(o.index) ? (o.index as number) : -lineNo;
    const leafHash = typeof o.leafHash === 'string' && HEX64.test(o.leafHash) ? Buffer.from(o.leafHash, 'hex') : new Uint8Array(0);
    yield { position, leafHash, entry };
  }
}

/** Lines of a file, streamed. */
export async function* fileLines(path: string): AsyncIterable<string> {
  // Opened on first iteration only, so an unused iterable leaves no stream behind.
  const input = createReadStream(path, { encoding: 'utf8' });
  try {
    yield* createInterface({ input, crlfDelay: Infinity });
  } finally {
    input.destroy();
  }
}
