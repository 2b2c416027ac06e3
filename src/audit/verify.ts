// Verification of an audit log against a trusted checkpoint, offline (JSON
// Lines export) or live (an AuditStore). It recomputes every leaf hash and
// the tree, and names what was done to the record:
//
//   modified    entry text does not hash to its stored leaf hash, or the next
//               entry's `prev` link disagrees (leaf hash rewritten too)
//   deleted     an index below the highest one present is missing
//   inserted    a second entry claims an index; the one the log wrote is the
//               one the following entry's `prev` links to
//   reordered   an entry appears after a higher index
//   truncated   fewer entries than a trusted or stored signed checkpoint covers
//   malformed   a record that is not an entry the log could have written
//   checkpoint_mismatch  the recomputed root at a signed size differs from the
//               signed root (catches a consistent rewrite of everything)
//   bad_checkpoint       a stored checkpoint whose signature does not verify
//   node_mismatch        a stored interior hash differs from the recomputed one
//
// Memory is O(n / 8) bytes (a bitmap of seen indices) plus a bounded window.

import { parseEntry } from './entry.ts';
import { CompactRange, EMPTY_ROOT, hashEqual, hashLeaf } from './merkle.ts';
import { NoteError, openCheckpoint, parseVerifierKey } from './note.ts';
import { NODE_STRIDE } from './store.ts';
import { fileLines, readJsonlRecords } from './export.ts';
import type { LogRecord } from './export.ts';
import type { Checkpoint, NoteVerifier } from './note.ts';
import type { AuditStore } from './store.ts';
import type { HashReader } from './merkle.ts';

export type Finding =
  | { kind: 'modified'; index: number; position: number; reason: 'leaf_hash' | 'prev_link' }
  | { kind: 'deleted'; index: number }
  | { kind: 'inserted'; index: number; position: number }
  | { kind: 'reordered'; index: number; position: number }
  | { kind: 'truncated'; size: number; expected: number }
  | { kind: 'malformed'; position: number }
  | { kind: 'checkpoint_mismatch'; size: number; source: 'trusted' | 'stored' }
  | { kind: 'bad_checkpoint'; size: number | null }
  | { kind: 'node_mismatch'; level: number; index: number };

export interface VerifyResult {
  ok: boolean;
  /** Entries read. */
  size: number;
  /** Root recomputed over the entries as stored. */
  root: Uint8Array;
  findings: Finding[];
  /** Signed sizes whose roots were checked against the recomputed tree. */
  checkedSizes: number[];
  /** Entries beyond the largest verified checkpoint (not yet covered by a signature). */
  unsigned: number;
  /** True when findings were capped. */
  truncatedFindings: boolean;
}

export interface VerifyOptions {
  /** A signed checkpoint the verifier obtained independently (sink file, witness, earlier export). */
  trustedCheckpoint: string;
  /** "<name>+<hex id>+<base64 key>" of the log's signing key. */
  verifierKey: string | NoteVerifier;
  /** Expected checkpoint origin; default: the trusted checkpoint's. */
  origin?: string;
  /** Further signed checkpoints to check (e.g. stored ones); bad signatures are findings. */
  checkpoints?: string[];
  /** Stored interior hashes to compare with the recomputed tree (live verification). */
  nodes?: HashReader;
  maxFindings?: number;
  /** Called every 2^20 entries. */
  onProgress?: (entries: number) => void;
}

const WINDOW = 8192;

class Bitmap {
  bits = new Uint8Array(1 << 16);
  set(i: number): boolean {
    const byte = i >>> 3;
    if (byte >= this.bits.length) {
      let n = this.bits.length;
      while (n <= byte) n *= 2;
      const b = new Uint8Array(n);
      b.set(this.bits);
      this.bits = b;
    }
    const mask = 1 << (i & 7);
    const had = ((this.bits[byte] as number) & mask) !== 0;
    this.bits[byte] = (this.bits[byte] as number) | mask;
    return had;
  }
  has(i: number): boolean {
    return ((this.bits[i >>> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export async function verifyRecords(records: AsyncIterable<LogRecord>, opts: VerifyOptions): Promise<VerifyResult> {
  const verifier = typeof opts.verifierKey === 'string' ? parseVerifierKey(opts.verifierKey) : opts.verifierKey;
  const trusted = openCheckpoint(opts.trustedCheckpoint, verifier, opts.origin);
  const origin = opts.origin ?? trusted.origin;
  const maxFindings = opts.maxFindings ?? 10_000;
  const findings: Finding[] = [];
  let capped = false;
  const add = (f: Finding): void => {
    if (findings.length < maxFindings) findings.push(f);
    else capped = true;
  };

  // Signed sizes to check: the trusted checkpoint and every verifiable stored one.
  const signed = new Map<number, { cp: Checkpoint; source: 'trusted' | 'stored' }>();
  signed.set(trusted.size, { cp: trusted, source: 'trusted' });
  for (const note of opts.checkpoints ?? []) {
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, verifier, origin);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
      const m = /^[^\n]*\n(\d+)\n/.exec(note);
      add({ kind: 'bad_checkpoint', size: m ? Number(m[1]) : null });
      continue;
    }
    if (!signed.has(cp.size)) signed.set(cp.size, { cp, source: 'stored' });
  }
  const checkedSizes: number[] = [];
  const checkRoot = (size: number, root: Uint8Array): void => {
    const s = signed.get(size);
    if (!s) return;
    checkedSizes.push(size);
    if (!hashEqual(root, s.cp.rootHash)) add({ kind: 'checkpoint_mismatch', size, source: s.source });
  };
  checkRoot(0, EMPTY_ROOT);

  const tree = new CompactRange();
  const seen = new Bitmap();
  const duplicated = new Set<number>();
  // Window of recent claimed index -> computed hash (first occurrence) and -> prev field.
  // Ring buffers keyed by claimed index modulo WINDOW (Maps with churn are slow in V8).
  const ringIdx = new Float64Array(WINDOW).fill(-1);
  const ringHash: string[] = new Array<string>(WINDOW).fill('');
  const ringPos = new Float64Array(WINDOW);
  const prevIdx = new Float64Array(WINDOW).fill(-1);
  const prevVal: string[] = new Array<string>(WINDOW).fill('');
  const hashOf = {
    get(e: number): { hash: string; position: number } | undefined {
      const k = e % WINDOW;
      return ringIdx[k] === e ? { hash: ringHash[k] as string, position: ringPos[k] as number } : undefined;
    },
    set(e: number, v: { hash: string; position: number }): void {
      const k = e % WINDOW;
      ringIdx[k] = e;
      ringHash[k] = v.hash;
      ringPos[k] = v.position;
    },
  };
  const prevOf = {
    get(e: number): string | undefined {
      const k = e % WINDOW;
      return prevIdx[k] === e ? prevVal[k] : undefined;
    },
    set(e: number, v: string): void {
      const k = e % WINDOW;
      prevIdx[k] = e;
      prevVal[k] = v;
    },
  };
  const dupCandidates = new Map<number, { position: number; hash: string }[]>();
  const flaggedModified = new Set<number>();
  // Entry `at` does not link to the entry before it: that one was modified,
  // unless `at` itself turns out to be an inserted duplicate (resolved at the end).
  const prevMismatch: { index: number; position: number; at: number }[] = [];
  let maxClaimed = -1;
  let count = 0;
  let lastClaimed = -2;
  let lastHash = '';

  const pendingNodes: { level: number; index: number; hash: Uint8Array }[] = [];
  const flushNodes = async (): Promise<void> => {
    if (!opts.nodes || pendingNodes.length === 0) return;
    const got = await opts.nodes.readHashes(pendingNodes.map((n) => ({ level: n.level, start: n.index, count: 1 })));
    pendingNodes.forEach((n, i) => {
      const h = got[i]?.[0];
      if (!h || !hashEqual(h, n.hash)) add({ kind: 'node_mismatch', level: n.level, index: n.index });
    });
    pendingNodes.length = 0;
  };

  for await (const rec of records) {
    const position = count;
    const entry = rec.entry === null ? null : parseEntry(rec.entry);
    const computed = rec.entry === null ? hashLeaf(new Uint8Array(0)) : hashLeaf(Buffer.from(rec.entry, 'utf8'));
    tree.append(computed, (level, index, hash) => {
      if (opts.nodes && level % NODE_STRIDE === 0) pendingNodes.push({ level, index, hash });
    });
    count++;
    if (signed.has(count)) checkRoot(count, tree.root());
    if (pendingNodes.length >= 4096) await flushNodes();
    if (opts.onProgress && (count & 0xfffff) === 0) opts.onProgress(count);

    if (!entry) {
      add({ kind: 'malformed', position });
      lastClaimed = -2;
      continue;
    }
    const e = entry.index;
    const h = hex(computed);
    if (!hashEqual(computed, rec.leafHash)) {
      add({ kind: 'modified', index: e, position, reason: 'leaf_hash' });
      flaggedModified.add(e);
    }
    // prev link: the log wrote prev = leaf hash of entry e-1.
    if (e === lastClaimed + 1 && entry.prev !== lastHash && prevMismatch.length < maxFindings) prevMismatch.push({ index: lastClaimed, position: position - 1, at: e });
    if (e === 0 && entry.prev !== '') add({ kind: 'malformed', position });

    if (seen.set(e)) {
      duplicated.add(e);
      const first = hashOf.get(e);
      const list = dupCandidates.get(e) ?? [{ position: first?.position ?? -1, hash: first?.hash ?? '' }];
      list.push({ position, hash: h });
      dupCandidates.set(e, list);
    } else {
      if (e < maxClaimed) add({ kind: 'reordered', index: e, position });
      hashOf.set(e, { hash: h, position });
    }
    prevOf.set(e, entry.prev);
    if (e > maxClaimed) maxClaimed = e;
    lastClaimed = e;
    lastHash = h;
  }
  await flushNodes();

  // Duplicates: the genuine copy is the one entry e+1 links to.
  for (const [e, cands] of dupCandidates) {
    const next = prevOf.get(e + 1);
    let genuine = cands.findIndex((c) => c.hash === next);
    if (genuine < 0) genuine = 0;
    cands.forEach((c, i) => {
      if (i !== genuine) add({ kind: 'inserted', index: e, position: c.position });
    });
  }
  for (const m of prevMismatch) {
    if (duplicated.has(m.at) || duplicated.has(m.index) || flaggedModified.has(m.index)) continue;
    flaggedModified.add(m.index);
    add({ kind: 'modified', index: m.index, position: m.position, reason: 'prev_link' });
  }
  for (let i = 0; i <= maxClaimed; i++) if (!seen.has(i)) add({ kind: 'deleted', index: i });

  let expected = 0;
  for (const s of signed.keys()) expected = Math.max(expected, s);
  const present = maxClaimed + 1;
  if (present < expected) add({ kind: 'truncated', size: present, expected });
  for (const [size, s] of signed) {
    if (size > count && present >= expected) add({ kind: 'checkpoint_mismatch', size, source: s.source });
  }
  const root = tree.size === 0 ? EMPTY_ROOT : tree.root();
  return {
    ok: findings.length === 0,
    size: count,
    root,
    findings,
    checkedSizes,
    unsigned: Math.max(0, count - Math.max(...checkedSizes, 0)),
    truncatedFindings: capped,
  };
}

/** Verify a JSON Lines export file (see export.ts) offline. Checkpoints found in the file are checked too. */
export async function verifyExportFile(path: string, opts: VerifyOptions): Promise<VerifyResult> {
  const checkpoints: string[] = [];
  // Checkpoint lines come after the entries, so collect them first in a cheap pre-pass.
  for await (const line of fileLines(path)) {
    if (line.startsWith('{"checkpoint":')) {
      try {
        const v = JSON.parse(line) as { checkpoint?: unknown };
        if (typeof v.checkpoint === 'string') checkpoints.push(v.checkpoint);
      } catch {
        /* reported as malformed in the main pass */
      }
    }
  }
  const ignored: string[] = [];
  return verifyRecords(readJsonlRecords(fileLines(path), ignored), { ...opts, checkpoints: [...(opts.checkpoints ?? []), ...checkpoints] });
}

/** Verify the live log in a store: entries, stored interior nodes and stored checkpoints. */
export async function verifyStore(store: AuditStore, opts: VerifyOptions): Promise<VerifyResult> {
  const stored = (await store.listCheckpoints()).map((c) => c.note);
  async function* records(): AsyncIterable<LogRecord> {
    const src = store.readLeafRecords ? store.readLeafRecords(0) : store.readEntries(0);
    for await (const e of src) yield { position: e.index, leafHash: e.leafHash, entry: e.entry };
  }
  return verifyRecords(records(), { nodes: store, ...opts, checkpoints: [...(opts.checkpoints ?? []), ...stored] });
}

/**
 * verifyLog(source, trustedCheckpoint, verifierKey): the one entry point.
 * `source` is a store, a path to a JSON Lines export, or records.
 */
export async function verifyLog(
  source: AuditStore | string | AsyncIterable<LogRecord>,
  trustedCheckpoint: string,
  verifierKey: string | NoteVerifier,
  opts: Omit<VerifyOptions, 'trustedCheckpoint' | 'verifierKey'> = {},
): Promise<VerifyResult> {
  const o: VerifyOptions = { ...opts, trustedCheckpoint, verifierKey };
  if (typeof source === 'string') return verifyExportFile(source, o);
  if (Symbol.asyncIterator in source && !('readEntries' in source)) return verifyRecords(source, o);
  return verifyStore(source as AuditStore, o);
}
