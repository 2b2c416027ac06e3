// Verification of a clean live SQLite log on two cores. The log is split at m
// (about half, rounded to a multiple of 2^16): a worker thread
// (node:worker_threads) scans [m, n) from its own read-only connection while
// the main thread scans [0, m). Each half is checked for *regularity*: every
// row sits at the index it claims, is in the exact canonical shape the log
// writes (quickEntry), hashes to its stored leaf hash, links (`prev`) to the
// entry before it, its audit_leaf copy and every stored interior node it
// completes match. The
// halves are joined by checking the `prev` link across m and appending the
// worker's aligned subtrees (every subtree of a range decomposition is
// aligned, so it joins a compact range like a leaf of its level); signed
// roots are checked from the joined tree.
//
// A regular log is exactly a log on which the sequential verifier
// (verifyRecords) reports nothing about entries; the only findings it can
// then have are about checkpoints, and these are computed here the same way,
// in the same order. On any irregularity, or if the worker cannot start
// (e.g. --permission without --allow-worker), the caller runs the sequential
// verifier, so findings and their names never depend on this fast path.

import { hash as oneShotHash } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';
import { quickEntry } from './entry.ts';
import { CompactRange, EMPTY_ROOT, hashChildren, hashEqual } from './merkle.ts';
import { NODE_STRIDE } from './store.ts';
import { StoredNodeRuns } from './node-runs.ts';
import type { HashReader } from './merkle.ts';

/** An aligned complete subtree: 2^level leaves from `start`. */
export interface Span {
  level: number;
  start: number;
  hash: Uint8Array;
}

/**
 * Hashes in the scan are strings, not Buffers: crypto.hash() returning a
 * Buffer allocates an ArrayBuffer per call (about 0.5 µs, most of its cost),
 * a string result does not. A leaf hash is its 64-character hex (it is
 * compared with the next entry's `prev` and the stored hash as hex); an
 * interior hash is its 32 bytes as a Latin-1 string.
 */
export type HashText = string;

const nodeBuf = Buffer.alloc(65);
const enc = (h: HashText): BufferEncoding => (h.length === 64 ? 'hex' : 'latin1');
/** RFC 9162 node hash of two hashes in text form; Latin-1 result. */
export function hashChildrenText(left: HashText, right: HashText): HashText {
  nodeBuf[0] = 0x01;
  nodeBuf.write(left, 1, 32, enc(left));
  nodeBuf.write(right, 33, 32, enc(right));
  return oneShotHash('sha256', nodeBuf, 'binary'); // 'binary' is Latin-1
}
export const textToBytes = (h: HashText): Buffer => Buffer.from(h, enc(h));

export interface TextSpan {
  level: number;
  start: number;
  hash: HashText;
}

export interface HalfScan {
  regular: boolean;
  /** Why not regular (for diagnostics; the sequential verifier names findings). */
  why?: string;
  /** `prev` field of the first entry of the range. */
  firstPrev: string;
  /** Hex leaf hash of the last entry of the range. */
  lastHex: string;
  /** The range as aligned subtrees, left to right. */
  spans: TextSpan[];
  /** The spans of [start, s) at each signed size s in (start, end]. */
  snapshots: [number, TextSpan[]][];
}

/**
 * The aligned complete subtrees of [start, pos). For start = 0 this is the
 * compact range; for any start two neighbours merge only when the left one
 * starts at a multiple of twice its width (they are then siblings).
 */
export class RangeStack {
  readonly levels: number[] = [];
  readonly starts: number[] = [];
  readonly hashes: HashText[] = [];
  pos: number;
  constructor(start: number) {
    this.pos = start;
  }
  append(leaf: HashText, onNode?: (level: number, index: number, hash: HashText) => void): void {
    let h = leaf;
    let level = 0;
    let start = this.pos;
    const L = this.levels;
    for (;;) {
      const top = L.length - 1;
      if (top < 0 || L[top] !== level || (this.starts[top] as number) % 2 ** (level + 1) !== 0) break;
      L.pop();
      start = this.starts.pop() as number;
      h = hashChildrenText(this.hashes.pop() as HashText, h);
      level++;
      if (onNode) onNode(level, start / 2 ** level, h);
    }
    L.push(level);
    this.starts.push(start);
    this.hashes.push(h);
    this.pos++;
  }
  spans(): TextSpan[] {
    return this.levels.map((level, i) => ({ level, start: this.starts[i] as number, hash: this.hashes[i] as HashText }));
  }
}

/**
 * Append an aligned subtree at the end of a compact range (its start must be
 * the range's size, so every level in the range is at least its level).
 */
export function appendSpan(tree: CompactRange, span: Span, onNode?: (level: number, index: number, hash: Uint8Array) => void): void {
  if (span.start !== tree.size || span.start % 2 ** span.level !== 0) throw new RangeError('span does not continue the tree');
  let h = span.hash;
  let level = span.level;
  while (tree.levels.length > 0 && tree.levels[tree.levels.length - 1] === level) {
    tree.levels.pop();
    h = hashChildren(tree.hashes.pop() as Uint8Array, h);
    level++;
    if (onNode) onNode(level, (span.start + 2 ** span.level) / 2 ** level - 1, h);
  }
  tree.hashes.push(h);
  tree.levels.push(level);
  tree.size = span.start + 2 ** span.level;
}

const toSpan = (s: TextSpan): Span => ({ level: s.level, start: s.start, hash: textToBytes(s.hash) });

/** Rows as the scan reads them: [index, entry text, hex leaf hash, hex audit_leaf copy?] (see SqliteAuditStore.readScanBatches). */
export type ScanRow = [number, string | Uint8Array, string, (string | null)?];

/** Check [start, end) for regularity, building its subtrees; stops at the first irregularity. */
export async function scanHalf(
  batches: AsyncIterable<ScanRow[]>,
  start: number,
  end: number,
  signedSizes: readonly number[],
  nodes: HashReader | undefined,
): Promise<HalfScan> {
  const stack = new RangeStack(start);
  const sizes = signedSizes.filter((s) => s > start && s <= end).sort((a, b) => a - b);
  let nextSigned = 0;
  const snapshots: [number, TextSpan[]][] = [];
  let firstPrev = '';
  let lastHex = '';
  let expect = start;
  let why: string | undefined;

  // Stored interior nodes completed inside the range, compared in per-level runs.
  const runs = new StoredNodeRuns<HashText>();
  const flushNodes = async (): Promise<boolean> => {
    if (!nodes) return true;
    let ok = true;
    await runs.compare(nodes, (stored, computed) => hashEqual(stored, textToBytes(computed)), () => {
      ok = false;
    });
    return ok;
  };
  const onNode = nodes ? (level: number, index: number, hash: HashText): void => runs.add(level, index, hash) : undefined;

  scan: for await (const batch of batches) {
    for (let b = 0; b < batch.length; b++) {
      const row = batch[b] as ScanRow;
      const text = row[1];
      // The entry as text, not bytes (no ArrayBuffer per row). The stored
      // bytes were decoded as UTF-8 with invalid sequences replaced by
      // U+FFFD: without one in the text the decoding was exact, so the text
      // encodes back to the stored bytes, which is what is hashed. With one
      // (or a BLOB value) the row is left to the byte-exact sequential path.
      if (row[0] !== expect || expect >= end || typeof text !== 'string' || text.includes('\uFFFD')) {
        why = `row ${row[0]} at ${expect}`;
        break scan;
      }
      const hex = oneShotHash('sha256', '\u0000' + text, 'hex');
      if (hex !== row[2] || (row.length > 3 && row[3] !== hex)) {
        why = `leaf hash of ${expect}`;
        break scan;
      }
      const f = quickEntry(text);
      if (!f || f.index !== expect) {
        why = `shape of ${expect}`;
        break scan;
      }
      if (expect === start) firstPrev = f.prev;
      else if (f.prev !== lastHex) {
        why = `prev of ${expect}`;
        break scan;
      }
      lastHex = hex;
      stack.append(hex, onNode);
      expect++;
      if (expect === sizes[nextSigned]) {
        snapshots.push([expect, stack.spans()]);
        nextSigned++;
      }
    }
    if (runs.count >= 4096 && !(await flushNodes())) {
      why = 'stored node';
      break;
    }
  }
  if (why === undefined && !(await flushNodes())) why = 'stored node';
  if (why === undefined && expect !== end) why = `${end - expect} rows missing before ${end}`;
  return { regular: why === undefined, ...(why !== undefined ? { why } : {}), firstPrev, lastHex, spans: stack.spans(), snapshots };
}

/** What the worker is given. */
interface HalfJob {
  kind: 'rampart-audit-verify-half';
  path: string;
  start: number;
  end: number;
  signedSizes: number[];
}

/** Scan [start, end) of the SQLite log at `path` in a worker thread. */
export function scanHalfInWorker(path: string, start: number, end: number, signedSizes: number[]): { result: Promise<HalfScan>; stop: () => Promise<void> } {
  const job: HalfJob = { kind: 'rampart-audit-verify-half', path, start, end, signedSizes };
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  const result = new Promise<HalfScan>((resolve, reject) => {
    worker.once('message', (m: HalfScan) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`verification worker exited (${code})`)));
  });
  return { result, stop: async () => void (await worker.terminate()) };
}

async function runWorker(job: HalfJob): Promise<void> {
  // Imported here: the store module is not needed on the main thread's path.
  const { SqliteAuditStore } = await import('./store-sqlite.ts');
  const db = new DatabaseSync(job.path, { readOnly: true });
  try {
    const store = new SqliteAuditStore(db, { readOnly: true });
    await store.init();
    const r = await scanHalf(store.readScanBatches(job.start, job.end), job.start, job.end, job.signedSizes, store);
    parentPort?.postMessage(r);
  } finally {
    db.close();
  }
}

if (!isMainThread && (workerData as HalfJob | undefined)?.kind === 'rampart-audit-verify-half') {
  await runWorker(workerData as HalfJob);
}

/**
 * Join the scans of [0, m) and [m, n): the tree of [0, n) with the root at
 * every signed size, or null when the halves do not join (the `prev` link
 * across m) or a stored node completed by the join differs.
 */
export async function joinHalves(
  left: HalfScan,
  right: HalfScan,
  m: number,
  n: number,
  nodes: HashReader | undefined,
): Promise<{ root: Uint8Array; roots: Map<number, Uint8Array> } | null> {
  if (!left.regular || !right.regular || left.firstPrev !== '') return null;
  if (n > m && right.firstPrev !== left.lastHex) return null;
  const roots = new Map<number, Uint8Array>([[0, EMPTY_ROOT]]);
  const fromSpans = (spans: readonly TextSpan[]): CompactRange => {
    const t = new CompactRange();
    for (const s of spans) appendSpan(t, toSpan(s));
    return t;
  };
  for (const [s, spans] of left.snapshots) roots.set(s, fromSpans(spans).root());
  const base = fromSpans(left.spans);
  for (const [s, spans] of right.snapshots) {
    const t = base.clone();
    for (const sp of spans) appendSpan(t, toSpan(sp));
    roots.set(s, t.root());
  }
  // Nodes completed only by the join straddle m: compare them too.
  const joined: { level: number; index: number; hash: Uint8Array }[] = [];
  const tree = base.clone();
  for (const sp of right.spans) appendSpan(tree, toSpan(sp), (level, index, hash) => level % NODE_STRIDE === 0 && joined.push({ level, index, hash }));
  if (nodes && joined.length > 0) {
    const got = await nodes.readHashes(joined.map((j) => ({ level: j.level, start: j.index, count: 1 })));
    for (let i = 0; i < joined.length; i++) {
      const h = got[i]?.[0];
      if (!h || !hashEqual(h, (joined[i] as { hash: Uint8Array }).hash)) return null;
    }
  }
  return { root: n === 0 ? EMPTY_ROOT : tree.root(), roots };
}
