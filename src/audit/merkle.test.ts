import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CompactRange, EMPTY_ROOT, consistencyPlan, consistencyProof, hashLeaf, inclusionPlan, inclusionProof, rootFromLeafHashes,
  treeRoot, verifyConsistency, verifyInclusion,
} from './merkle.ts';
import type { HashReader, HashRun } from './merkle.ts';
import { CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAF_INPUTS_HEX, ROOT_HASHES_HEX } from './testdata/merkle-vectors.ts';

const b64 = (s: string): Uint8Array => Buffer.from(s, 'base64');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** An in-memory tree store keeping leaf hashes and every `stride`-th level, as the real stores do. */
export function memoryTree(leafHashes: Uint8Array[], stride: number): HashReader & { reads: number } {
  const levels = new Map<number, Map<number, Uint8Array>>();
  const cr = new CompactRange();
  for (const h of leafHashes) {
    cr.append(h, (level, index, hash) => {
      if (level % stride !== 0) return;
      let m = levels.get(level);
      if (!m) levels.set(level, (m = new Map()));
      m.set(index, hash);
    });
  }
  const reader = {
    stride,
    reads: 0,
    async readHashes(runs: readonly HashRun[]) {
      return runs.map((r) => {
        reader.reads++;
        const out: Uint8Array[] = [];
        for (let i = r.start; i < r.start + r.count; i++) {
          const h = r.level === 0 ? leafHashes[i] : levels.get(r.level)?.get(i);
          if (h) out.push(h);
        }
        return out;
      });
    },
  };
  return reader;
}

const leaves = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));

test('RFC 6962 test tree: roots of every prefix', async () => {
  const lh = LEAF_INPUTS_HEX.map((h) => hashLeaf(Buffer.from(h, 'hex')));
  assert.equal(hex(EMPTY_ROOT), ROOT_HASHES_HEX[0]);
  for (let n = 0; n <= 8; n++) {
    assert.equal(hex(rootFromLeafHashes(lh.slice(0, n))), ROOT_HASHES_HEX[n], `size ${n}`);
    const cr = new CompactRange();
    for (const h of lh.slice(0, n)) cr.append(h);
    assert.equal(hex(cr.root()), ROOT_HASHES_HEX[n]);
    for (const stride of [1, 2, 4]) assert.equal(hex(await treeRoot(memoryTree(lh, stride), n)), ROOT_HASHES_HEX[n]);
  }
});

test('transparency-dev inclusion vectors (happy paths and malformed proofs)', () => {
  let ok = 0;
  for (const v of INCLUSION_VECTORS) {
    const got = verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, v.proof.map(b64), b64(v.root));
    assert.equal(got, !v.wantErr, v.file);
    if (got) ok++;
  }
  assert.ok(ok >= 5 && ok < INCLUSION_VECTORS.length);
});

test('transparency-dev consistency vectors (happy paths and malformed proofs)', () => {
  for (const v of CONSISTENCY_VECTORS) {
    const got = verifyConsistency(v.size1, v.size2, v.proof.map(b64), b64(v.root1), b64(v.root2));
    assert.equal(got, !v.wantErr, v.file);
  }
});

test('generated proofs reproduce the published happy-path proofs', async () => {
  const lh = LEAF_INPUTS_HEX.map((h) => hashLeaf(Buffer.from(h, 'hex')));
  const reader = memoryTree(lh, 4);
  for (const v of INCLUSION_VECTORS.filter((x) => !x.wantErr && x.treeSize > 0 && x.treeSize <= 8)) {
    const p = await inclusionProof(reader, v.leafIdx, v.treeSize);
    assert.deepEqual(p.map((x) => Buffer.from(x).toString('base64')), v.proof, v.file);
  }
  for (const v of CONSISTENCY_VECTORS.filter((x) => !x.wantErr && x.size2 <= 8 && x.file.includes('happy'))) {
    const p = await consistencyProof(reader, v.size1, v.size2);
    assert.deepEqual(p.map((x) => Buffer.from(x).toString('base64')), v.proof, v.file);
  }
});

test('plans: proof lengths are logarithmic', () => {
  assert.equal(inclusionPlan(0, 1).length, 0);
  assert.equal(inclusionPlan(5, 8).length, 3);
  assert.equal(inclusionPlan(0, 10_000_000).length, 24);
  assert.ok(inclusionPlan(9_999_999, 10_000_000).length <= 24);
  assert.deepEqual(consistencyPlan(4, 4), []);
  assert.ok(consistencyPlan(3_333_333, 10_000_000).length <= 2 * 24);
  assert.throws(() => inclusionPlan(3, 3), RangeError);
  assert.throws(() => consistencyPlan(4, 3), RangeError);
});

const flipBit = (proof: Uint8Array[], i: number, bit: number): Uint8Array[] =>
  proof.map((p, j) => {
    if (j !== i) return p;
    const c = Uint8Array.from(p);
    c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
    return c;
  });

test('property: every inclusion proof verifies and any single-bit mutation fails', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.nat(), async (n, stride, pick, bitPick) => {
      const lh = leaves(n);
      const reader = memoryTree(lh, stride);
      const root = rootFromLeafHashes(lh);
      assert.deepEqual(await treeRoot(reader, n), root);
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(reader, i, n);
        assert.ok(verifyInclusion(lh[i] as Uint8Array, i, n, proof, root), `index ${i} size ${n}`);
      }
      const i = pick % n;
      const proof = await inclusionProof(reader, i, n);
      if (proof.length > 0) {
        const bit = bitPick % (proof.length * 256);
        assert.equal(verifyInclusion(lh[i] as Uint8Array, i, n, flipBit(proof, bit >> 8, bit & 255), root), false);
      }
      // Wrong index, wrong size, truncated or extended proof all fail.
      if (n > 1) assert.equal(verifyInclusion(lh[i] as Uint8Array, (i + 1) % n, n, proof, root), false);
      // (A different tree size can yield the same root for some shapes; the signed checkpoint binds size to root.)
      assert.equal(verifyInclusion(lh[i] as Uint8Array, i, 2 * n + 1, proof, root), false);
      if (proof.length > 0) assert.equal(verifyInclusion(lh[i] as Uint8Array, i, n, proof.slice(1), root), false);
      assert.equal(verifyInclusion(lh[i] as Uint8Array, i, n, [...proof, root], root), false);
    }),
    { numRuns: 60 },
  );
});

test('property: every consistency proof between random m <= n verifies and any single-bit mutation fails', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.nat(), fc.integer({ min: 1, max: 5 }), fc.nat(), async (n, mPick, stride, bitPick) => {
      const m = 1 + (mPick % n);
      const lh = leaves(n);
      const reader = memoryTree(lh, stride);
      const r1 = rootFromLeafHashes(lh.slice(0, m));
      const r2 = rootFromLeafHashes(lh);
      const proof = await consistencyProof(reader, m, n);
      assert.ok(verifyConsistency(m, n, proof, r1, r2), `m ${m} n ${n}`);
      if (proof.length > 0) {
        const bit = bitPick % (proof.length * 256);
        assert.equal(verifyConsistency(m, n, flipBit(proof, bit >> 8, bit & 255), r1, r2), false);
        assert.equal(verifyConsistency(m, n, proof.slice(0, -1), r1, r2), false);
      }
      const bad = Uint8Array.from(r1);
      bad[0] = (bad[0] as number) ^ 1;
      assert.equal(verifyConsistency(m, n, proof, bad, r2), false);
      if (m < n) assert.equal(verifyConsistency(m, n, proof, r1, r1), false);
    }),
    { numRuns: 150 },
  );
});

test('proof from a large sparse tree reads O(log n) runs', async () => {
  // A reader that synthesises any requested hash: proves the plan never asks for more than it needs.
  let hashesRead = 0;
  const reader: HashReader = {
    stride: 4,
    async readHashes(runs) {
      // Coalesced: at most two runs per stored level (0, 4, ..., 20 at 10M: the path's
      // neighbourhood and the right edge), each a short range; 24 runs before.
      assert.ok(runs.length <= 12, String(runs.length));
      return runs.map((r) => {
        assert.ok(r.count <= 8 + 32 + 8, String(r.count));
        hashesRead += r.count;
        return Array.from({ length: r.count }, (_, i) => hashLeaf(Buffer.from(`${r.level}/${r.start + i}`)));
      });
    },
  };
  const p = await inclusionProof(reader, 1_234_567, 10_000_000);
  assert.equal(p.length, 24);
  assert.ok(hashesRead < 24 * 8 * 2, String(hashesRead));
});
