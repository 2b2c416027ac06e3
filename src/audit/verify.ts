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
//   node_mismatch        a stored interior hash (or, level 0, the audit_leaf copy of a
//               leaf hash) differs from the recomputed one
//
// Memory is O(n / 8) bytes (a bitmap of seen indices) plus a bounded window.

import { hash as oneShotHash } from 'node:crypto';
import { parseEntry, quickEntry } from './entry.ts';
import { CompactRange, EMPTY_ROOT, hashEqual, hashLeaf } from './merkle.ts';
import { NoteError, openCheckpoint, parseVerifierKey } from './note.ts';
import { StoredNodeRuns } from './node-runs.ts';
import { fileLines, readJsonlRecords } from './export.ts';
import { joinHalves, scanHalf, scanHalfInWorker } from './verify-split.ts';
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
  /** Called every 2^20 entries (sequential verification only). */
  onProgress?: (entries: number) => void;
  /**
   * Live SQLite logs of at least `splitMin` entries (default 262,144) are
   * verified on two threads when they are clean (verify-split.ts); false
   * forces the sequential verifier. Findings are the same either way.
   */
  split?: boolean;
  splitMin?: number;
  /** Told whether the two-thread path was taken ('two threads') or why not (then the sequential verifier runs). */
  onSplit?: (outcome: string) => void;
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


/** Records one at a time, or in batches (the fast path: no promise per record). */
export type RecordSource = AsyncIterable<LogRecord> | AsyncIterable<LogRecord[]>;

async function* batched(src: RecordSource): AsyncIterable<LogRecord[]> {
  let buf: LogRecord[] = [];
  for await (const x of src as AsyncIterable<LogRecord | LogRecord[]>) {
    if (Array.isArray(x)) {
      if (buf.length > 0) {
        yield buf;
        buf = [];
      }
      yield x;
    } else {
      buf.push(x);
      if (buf.length >= 4096) {
        yield buf;
        buf = [];
      }
    }
  }
  if (buf.length > 0) yield buf;
}

const EMPTY_LEAF: Buffer = Buffer.from(hashLeaf(new Uint8Array(0)));

/** RFC 9162 leaf hash of entry text: SHA-256(0x00 || UTF-8 bytes), hashed straight from the string. */
export const hashEntryText = (text: string): Buffer => oneShotHash('sha256', '\u0000' + text, 'buffer');

let leafBuf = Buffer.alloc(64 * 1024);
/** RFC 9162 leaf hash of stored entry bytes, through one reused buffer. */
export function hashEntryBytes(bytes: Uint8Array): Buffer {
  if (bytes.length + 1 > leafBuf.length) leafBuf = Buffer.alloc(bytes.length + 1);
  leafBuf[0] = 0x00;
  leafBuf.set(bytes, 1);
  return oneShotHash('sha256', leafBuf.subarray(0, bytes.length + 1), 'buffer');
}

interface SignedSetup {
  findings: Finding[];
  add: (f: Finding) => void;
  capped: () => boolean;
  /** Signed size -> checkpoint and where it came from (trusted first, then stored, in order). */
  signed: Map<number, { cp: Checkpoint; source: 'trusted' | 'stored' }>;
  checkedSizes: number[];
  /** Record that the tree has `size` entries with this root (a finding if a signed root differs). */
  checkRoot: (size: number, root: Uint8Array) => void;
}

/** The trusted checkpoint, the further signed ones (bad signatures are findings) and the root check. */
function signedSetup(opts: VerifyOptions): SignedSetup {
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
  return { findings, add, capped: () => capped, signed, checkedSizes, checkRoot };
}

export async function verifyRecords(records: RecordSource, opts: VerifyOptions): Promise<VerifyResult> {
  const maxFindings = opts.maxFindings ?? 10_000;
  const { findings, add, capped, signed, checkedSizes, checkRoot } = signedSetup(opts);
  checkRoot(0, EMPTY_ROOT);
  // Sorted signed sizes, so the loop tests one number per record instead of a map lookup.
  const sizes = [...signed.keys()].filter((n) => n > 0).sort((a, b) => a - b);
  let nextSigned = 0;

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
  const dupCandidates = new Map<number, { position: number; hash: string }[]>();
  const flaggedModified = new Set<number>();
  // Entry `at` does not link to the entry before it: that one was modified,
  // unless `at` itself turns out to be an inserted duplicate (resolved at the end).
  const prevMismatch: { index: number; position: number; at: number }[] = [];
  let maxClaimed = -1;
  let count = 0;
  let lastClaimed = -2;
  let lastHash = '';

  // Stored interior nodes are compared in runs: per level, consecutive indices, one read each.
  const runs = new StoredNodeRuns<Uint8Array>();
  const flushNodes = async (): Promise<void> => {
    if (opts.nodes) await runs.compare(opts.nodes, hashEqual, (level, index) => add({ kind: 'node_mismatch', level, index }));
  };
  const onNode = opts.nodes ? (level: number, index: number, hash: Uint8Array): void => runs.add(level, index, hash) : undefined;

  for await (const batch of batched(records)) {
    for (const rec of batch) {
      const position = count;
      const bytes = rec.bytes;
      // From stored bytes: hash them as they are; the structure check reads them
      // as Latin-1 (a byte per character: JSON's structural characters are
      // ASCII, so the shape is the same) and only the slow path decodes UTF-8.
      const text = bytes !== undefined ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1') : rec.entry;
      const computed = bytes !== undefined ? hashEntryBytes(bytes) : text === null ? EMPTY_LEAF : hashEntryText(text);
      tree.append(computed, onNode);
      if (rec.leafCopy !== undefined && (rec.leafCopy === null || !hashEqual(computed, rec.leafCopy))) add({ kind: 'node_mismatch', level: 0, index: rec.position });
      count++;
      if (count === sizes[nextSigned]) {
        checkRoot(count, tree.root());
        nextSigned++;
      }
      if (opts.onProgress && (count & 0xfffff) === 0) opts.onProgress(count);

      // Structure: the cheap exact check of what the log writes; anything it
      // does not accept goes through the full parser (same verdict, slower).
      const fields = text === null ? null : (quickEntry(text) ?? fullEntry(bytes !== undefined ? Buffer.from(bytes).toString('utf8') : text));
      if (!fields) {
        add({ kind: 'malformed', position });
        lastClaimed = -2;
        continue;
      }
      const e = fields.index;
      const h = computed.toString('hex');
      if (!computed.equals(rec.leafHash)) {
        add({ kind: 'modified', index: e, position, reason: 'leaf_hash' });
        flaggedModified.add(e);
      }
      // prev link: the log wrote prev = leaf hash of entry e-1.
      if (e === lastClaimed + 1 && fields.prev !== lastHash && prevMismatch.length < maxFindings) prevMismatch.push({ index: lastClaimed, position: position - 1, at: e });
      if (e === 0 && fields.prev !== '') add({ kind: 'malformed', position });

      const k = e % WINDOW;
      if (seen.set(e)) {
        duplicated.add(e);
        const first = ringIdx[k] === e ? { position: ringPos[k] as number, hash: ringHash[k] as string } : { position: -1, hash: '' };
        const list = dupCandidates.get(e) ?? [first];
        list.push({ position, hash: h });
        dupCandidates.set(e, list);
      } else {
        if (e < maxClaimed) add({ kind: 'reordered', index: e, position });
        ringIdx[k] = e;
        ringHash[k] = h;
        ringPos[k] = position;
      }
      prevIdx[k] = e;
      prevVal[k] = fields.prev;
      if (e > maxClaimed) maxClaimed = e;
      lastClaimed = e;
      lastHash = h;
    }
    if (runs.count >= 4096) await flushNodes();
  }
  await flushNodes();

  // Duplicates: the genuine copy is the one entry e+1 links to.
  for (const [e, cands] of dupCandidates) {
    const k = (e + 1) % WINDOW;
    const next = prevIdx[k] === e + 1 ? prevVal[k] : undefined;
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
    truncatedFindings: capped(),
  };
}

function fullEntry(text: string): { index: number; prev: string } | null {
  const e = parseEntry(text);
  return e ? { index: e.index, prev: e.prev } : null;
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
  const all: VerifyOptions = { nodes: store, ...opts, checkpoints: [...(opts.checkpoints ?? []), ...stored] };
  if (opts.split !== false) {
    const fast = await verifySplit(store, all);
    if (fast) return fast;
  }
  async function* records(): AsyncIterable<LogRecord | LogRecord[]> {
    if (store.readLeafBatches) {
      yield* store.readLeafBatches(0);
      return;
    }
    const src = store.readLeafRecords ? store.readLeafRecords(0) : store.readEntries(0);
    for await (const e of src) yield { position: e.index, leafHash: e.leafHash, entry: e.entry };
  }
  return verifyRecords(records() as RecordSource, all);
}

/**
 * The two-thread path for a clean live SQLite log (see verify-split.ts), or
 * null when it does not apply or the log is not clean: the caller then runs
 * the sequential verifier, which names the findings.
 */
async function verifySplit(store: AuditStore, opts: VerifyOptions): Promise<VerifyResult | null> {
  const report = opts.onSplit ?? ((): void => undefined);
  const path = store.filePath?.() ?? null;
  if (path === null || !store.readScanBatches) {
    report('not a database file');
    return null;
  }
  const setup = signedSetup(opts); // throws on an untrusted checkpoint, as the sequential path does
  const n = await store.size();
  const m = Math.floor(n / 2);
  if (n < Math.max(2, opts.splitMin ?? 262_144)) {
    report('small log');
    return null;
  }
  const sizes = [...setup.signed.keys()].filter((s) => s > 0 && s <= n);
  let worker: ReturnType<typeof scanHalfInWorker>;
  try {
    worker = scanHalfInWorker(path, m, n, sizes);
  } catch (err) {
    report(`no worker thread: ${(err as Error).message}`); // e.g. --permission without --allow-worker
    return null;
  }
  let stopped = false;
  const right = worker.result.catch((err: unknown) => {
    if (!stopped) report(`worker failed: ${(err as Error).message}`);
    return null;
  });
  let left: Awaited<ReturnType<typeof scanHalf>>;
  try {
    left = await scanHalf(store.readScanBatches(0, m), 0, m, sizes, opts.nodes);
  } catch (err) {
    stopped = true;
    await worker.stop();
    throw err;
  }
  if (!left.regular) {
    report(`irregular: ${left.why ?? ''}`);
    stopped = true;
    await worker.stop();
    return null;
  }
  const r = await right;
  if (!r) return null;
  if (!r.regular) {
    report(`irregular: ${r.why ?? ''}`);
    return null;
  }
  const joined = await joinHalves(left, r, m, n, opts.nodes);
  if (!joined) {
    report('halves do not join');
    return null;
  }
  report('two threads');
  // The checkpoint findings the sequential verifier makes of a clean log, in its order.
  setup.checkRoot(0, EMPTY_ROOT);
  for (const s of [...sizes].sort((a, b) => a - b)) setup.checkRoot(s, joined.roots.get(s) as Uint8Array);
  let expected = 0;
  for (const s of setup.signed.keys()) expected = Math.max(expected, s);
  if (n < expected) setup.add({ kind: 'truncated', size: n, expected });
  return {
    ok: setup.findings.length === 0,
    size: n,
    root: joined.root,
    findings: setup.findings,
    checkedSizes: setup.checkedSizes,
    unsigned: Math.max(0, n - Math.max(...setup.checkedSizes, 0)),
    truncatedFindings: setup.capped(),
  };
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
