// Merkle tree hashing, proofs and their verification exactly as RFC 9162
// section 2.1 (the same tree as RFC 6962):
//
//   MTH({})        = SHA-256()
//   MTH({d0})      = SHA-256(0x00 || d0)                       leaf hash
//   MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node hash
//                    with k the largest power of two smaller than n.
//
// Proof generation is split in two: a pure "plan" (which leaf ranges' hashes a
// proof is made of, in proof order) and a fetch of those hashes from a
// HashReader. A range that is not a complete subtree is decomposed into the
// complete subtrees of the binary representation of its width and folded right
// to left, so a proof needs only complete-subtree hashes: O(log n) reads of at
// most 2^(stride-1) stored hashes each, never a rehash of the tree.

import { createHash, hash as oneShotHash, timingSafeEqual } from 'node:crypto';

export const HASH_SIZE = 32;

const NODE_PREFIX = Buffer.from([0x01]);

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** RFC 9162 leaf hash: SHA-256(0x00 || entry). */
export function hashLeaf(entry: Uint8Array): Uint8Array {
  const buf = Buffer.allocUnsafe(entry.length + 1);
  buf[0] = 0x00;
  buf.set(entry, 1);
  return oneShotHash('sha256', buf, 'buffer');
}

const nodeBuf = Buffer.alloc(65);

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32) return sha256(NODE_PREFIX, left, right);
  nodeBuf[0] = 0x01;
  nodeBuf.set(left, 1);
  nodeBuf.set(right, 33);
  // Digest as a Latin-1 string, then into a slice of Buffer's shared pool: a
  // 'buffer' digest allocates an ArrayBuffer per call, which costs more than
  // the hash and, in proofs, most of the young-generation GC work.
  return Buffer.from(oneShotHash('sha256', nodeBuf, 'binary'), 'latin1');
}

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256();

export function hashEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && (a.length === 0 || timingSafeEqual(a, b));
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer`);
}

export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 1) return false;
  let x = n;
  while (x % 2 === 0) x /= 2;
  return x === 1;
}

/** Largest power of two strictly smaller than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Reference MTH over leaf hashes (recursive definition; for tests and small trees). */
export function rootFromLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  const mth = (a: number, b: number): Uint8Array => {
    if (b - a === 0) return EMPTY_ROOT;
    if (b - a === 1) return leaves[a] as Uint8Array;
    const k = splitPoint(b - a);
    return hashChildren(mth(a, a + k), mth(a + k, b));
  };
  return mth(0, leaves.length);
}

/** A leaf range [start, end) whose MTH is one element of a proof. */
export interface LeafRange {
  start: number;
  end: number;
}

/** A complete subtree: 2^level leaves starting at leaf index << level. */
export interface Subtree {
  level: number;
  index: number;
}

/**
 * The leaf ranges whose MTH make up PATH(m, D[n]) (RFC 9162 2.1.3.1), in
 * proof order (from the leaf up).
 */
export function inclusionPlan(index: number, size: number): LeafRange[] {
  checkSize(index, 'index');
  checkSize(size, 'size');
  if (index >= size) throw new RangeError('index must be smaller than size');
  const out: LeafRange[] = [];
  // Iterative form of: PATH(m, D[a:b]) = PATH(m, left) : MTH(right) or PATH(m, right) : MTH(left).
  const stack: LeafRange[] = [];
  let a = 0;
  let b = size;
  while (b - a > 1) {
    const k = splitPoint(b - a);
    if (index < a + k) {
      stack.push({ start: a + k, end: b });
      b = a + k;
    } else {
      stack.push({ start: a, end: a + k });
      a = a + k;
    }
  }
  while (stack.length > 0) out.push(stack.pop() as LeafRange);
  return out;
}

/**
 * The leaf ranges whose MTH make up PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
 * (RFC 9162 2.1.4.1), in proof order. Empty when m == n or m == 0.
 */
export function consistencyPlan(m: number, n: number): LeafRange[] {
  checkSize(m, 'first size');
  checkSize(n, 'second size');
  if (m > n) throw new RangeError('first size must not exceed second size');
  if (m === 0 || m === n) return [];
  const stack: LeafRange[] = [];
  let a = 0;
  let b = n;
  let known = true; // the "b" flag: is D[a:a+m] a subtree whose hash the verifier knows
  let mm = m;
  for (;;) {
    if (mm === b - a) {
      if (!known) stack.push({ start: a, end: b });
      break;
    }
    const k = splitPoint(b - a);
    if (mm <= k) {
      stack.push({ start: a + k, end: b });
      b = a + k;
    } else {
      stack.push({ start: a, end: a + k });
      a = a + k;
      mm -= k;
      known = false;
    }
  }
  const out: LeafRange[] = [];
  while (stack.length > 0) out.push(stack.pop() as LeafRange);
  return out;
}

/**
 * The complete subtrees, left to right, of a range that is a node of the
 * tree (start aligned to the highest bit of its width). Their hashes folded
 * right to left give MTH of the range.
 */
export function rangeSubtrees(range: LeafRange): Subtree[] {
  const out: Subtree[] = [];
  let a = range.start;
  let w = range.end - range.start;
  while (w > 0) {
    let level = 0;
    while (2 ** (level + 1) <= w) level++;
    const size = 2 ** level;
    if (a % size !== 0) throw new RangeError('range is not a node of the tree');
    out.push({ level, index: a / size });
    a += size;
    w -= size;
  }
  return out;
}

/** Fold complete-subtree hashes (left to right) into the MTH of their range. */
export function foldRight(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1] as Uint8Array;
  for (let i = hashes.length - 2; i >= 0; i--) h = hashChildren(hashes[i] as Uint8Array, h);
  return h;
}

/** A run of stored hashes at one level: `count` hashes from index `start`. */
export interface HashRun {
  level: number;
  start: number;
  count: number;
}

/**
 * Where the tree's hashes live. Level 0 is the leaf hashes; the store keeps
 * the complete subtrees of every level that is a multiple of `stride`.
 */
export interface HashReader {
  readonly stride: number;
  readHashes(runs: readonly HashRun[]): Promise<Uint8Array[][]>;
}

/** Hash of one complete subtree from the nearest stored level at or below it. */
function runFor(st: Subtree, stride: number): HashRun {
  const base = st.level - (st.level % stride);
  const span = 2 ** (st.level - base);
  return { level: base, start: st.index * span, count: span };
}

function reduceRun(hashes: Uint8Array[], expected: number): Uint8Array {
  if (hashes.length !== expected) throw new Error('hash store is missing nodes');
  let row = hashes;
  while (row.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hashChildren(row[i] as Uint8Array, row[i + 1] as Uint8Array));
    row = next;
  }
  return row[0] as Uint8Array;
}

/** Runs at the same level this close together are read as one range. */
const COALESCE_GAP = 32;

/**
 * Merge runs of one level that overlap or lie close together into one read
 * each: a proof's ~2·log2(n) runs become about one per stored level (a few
 * small index range scans instead of dozens). Returns the merged runs and,
 * for each input run, where its hashes sit in the merged results.
 */
export function coalesceRuns(runs: readonly HashRun[]): { merged: HashRun[]; at: { run: number; offset: number }[] } {
  const order = runs.map((_, i) => i).sort((a, b) => {
    const x = runs[a] as HashRun;
    const y = runs[b] as HashRun;
    return x.level - y.level || x.start - y.start;
  });
  const merged: HashRun[] = [];
  const at = new Array<{ run: number; offset: number }>(runs.length);
  for (const i of order) {
    const r = runs[i] as HashRun;
    const last = merged[merged.length - 1];
    if (last && last.level === r.level && r.start <= last.start + last.count + COALESCE_GAP) {
      last.count = Math.max(last.count, r.start + r.count - last.start);
    } else {
      merged.push({ level: r.level, start: r.start, count: r.count });
    }
    at[i] = { run: merged.length - 1, offset: r.start - (merged[merged.length - 1] as HashRun).start };
  }
  return { merged, at };
}

/** The hashes of the given complete subtrees, read in one batch. */
export async function subtreeHashes(reader: HashReader, subtrees: readonly Subtree[]): Promise<Uint8Array[]> {
  const runs = subtrees.map((s) => runFor(s, reader.stride));
  const { merged, at } = coalesceRuns(runs);
  const got = await reader.readHashes(merged);
  return runs.map((r, i) => {
    const p = at[i] as { run: number; offset: number };
    return reduceRun((got[p.run] ?? []).slice(p.offset, p.offset + r.count), r.count);
  });
}

/** MTH of each range (each a node of the tree), in one batch read. */
export async function rangeHashes(reader: HashReader, ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
  const parts = ranges.map(rangeSubtrees);
  const flat = await subtreeHashes(reader, parts.flat());
  const out: Uint8Array[] = [];
  let i = 0;
  for (const p of parts) {
    out.push(foldRight(flat.slice(i, i + p.length)));
    i += p.length;
  }
  return out;
}

export async function inclusionProof(reader: HashReader, index: number, size: number): Promise<Uint8Array[]> {
  return rangeHashes(reader, inclusionPlan(index, size));
}

export async function consistencyProof(reader: HashReader, m: number, n: number): Promise<Uint8Array[]> {
  return rangeHashes(reader, consistencyPlan(m, n));
}

/** MTH of the first `size` leaves. */
export async function treeRoot(reader: HashReader, size: number): Promise<Uint8Array> {
  if (size === 0) return EMPTY_ROOT;
  const [h] = await rangeHashes(reader, [{ start: 0, end: size }]);
  return h as Uint8Array;
}

/**
 * One step of the RFC 9162 proof walks (2.1.3.2 and 2.1.4.2): whether the next
 * proof node is a left sibling, and fn, sn for the step after it (sizes up to
 * 2^53: division instead of bit shifts).
 */
function proofStep(fn: number, sn: number): { left: boolean; fn: number; sn: number } {
  const left = fn % 2 === 1 || fn === sn;
  if (left && fn % 2 === 0) {
    // Right-shift both until LSB(fn) is set or fn is 0.
    do {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    } while (fn % 2 === 0 && fn !== 0);
  }
  return { left, fn: Math.floor(fn / 2), sn: Math.floor(sn / 2) };
}

/**
 * RFC 9162 2.1.3.2: the root implied by an inclusion proof, or null if the
 * proof cannot be valid for (index, size) (wrong length, index out of range).
 */
export function rootFromInclusionProof(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Uint8Array | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return null;
  if (leafHash.length !== HASH_SIZE) return null;
  // Big-integer-free bit arithmetic: sizes up to 2^53 fit, use division.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) return null;
    if (sn === 0) return null;
    const step = proofStep(fn, sn);
    r = step.left ? hashChildren(p, r) : hashChildren(r, p);
    ({ fn, sn } = step);
  }
  return sn === 0 ? r : null;
}

export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (root.length !== HASH_SIZE) return false;
  const r = rootFromInclusionProof(leafHash, index, size, proof);
  return r !== null && hashEqual(r, root);
}

/**
 * RFC 9162 2.1.4.2. Equal sizes need an empty proof and equal roots; a first
 * size of 0 proves nothing and is refused (as the transparency-dev vectors
 * expect); callers treat the empty tree as trivially consistent themselves.
 */
export function verifyConsistency(m: number, n: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || n < 0 || m > n) return false;
  if (m === n) return proof.length === 0 && m > 0 && hashEqual(root1, root2);
  if (m === 0) return false;
  if (proof.length === 0 || root1.length !== HASH_SIZE || root2.length !== HASH_SIZE) return false;
  for (const p of proof) if (p.length !== HASH_SIZE) return false;
  let path = proof;
  // 2. If first is an exact power of 2, prepend first_hash.
  if (isPowerOfTwo(m)) path = [root1, ...proof];
  let fn = m - 1;
  let sn = n - 1;
  // 4. While LSB(fn) is set, right-shift both.
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Uint8Array;
  let sr = path[0] as Uint8Array;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    const step = proofStep(fn, sn);
    if (step.left) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
    } else {
      sr = hashChildren(sr, c);
    }
    ({ fn, sn } = step);
  }
  return sn === 0 && hashEqual(fr, root1) && hashEqual(sr, root2);
}

/**
 * The right edge of the tree: the complete subtrees of the binary
 * decomposition of `size`, largest first. Appending a leaf merges equal-level
 * neighbours; every merge that completes a subtree at a stored level is
 * reported so the caller can persist it.
 */
export class CompactRange {
  size: number;
  readonly hashes: Uint8Array[];
  readonly levels: number[];

  constructor(size = 0, hashes: Uint8Array[] = []) {
    checkSize(size, 'size');
    const levels: number[] = [];
    for (let bit = 52; bit >= 0; bit--) if (Math.floor(size / 2 ** bit) % 2 === 1) levels.push(bit);
    if (levels.length !== hashes.length) throw new RangeError('compact range does not match size');
    this.size = size;
    this.hashes = hashes;
    this.levels = levels;
  }

  /** The complete subtrees that make up a tree of `size` leaves, left to right. */
  static subtrees(size: number): Subtree[] {
    return size === 0 ? [] : rangeSubtrees({ start: 0, end: size });
  }

  /** Append one leaf hash; calls onNode(level, index, hash) for every subtree it completes (level >= 1). */
  append(leafHash: Uint8Array, onNode?: (level: number, index: number, hash: Uint8Array) => void): void {
    let h = leafHash;
    let level = 0;
    const end = this.size + 1;
    while (this.levels.length > 0 && this.levels[this.levels.length - 1] === level) {
      this.levels.pop();
      h = hashChildren(this.hashes.pop() as Uint8Array, h);
      level++;
      if (onNode) onNode(level, end / 2 ** level - 1, h);
    }
    this.hashes.push(h);
    this.levels.push(level);
    this.size = end;
  }

  root(): Uint8Array {
    return foldRight(this.hashes);
  }

  clone(): CompactRange {
    return new CompactRange(this.size, [...this.hashes]);
  }
}
