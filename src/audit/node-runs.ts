// Stored interior nodes, compared in runs: a verifier hands over every node it
// completes; those on stored levels (multiples of NODE_STRIDE) are grouped per
// level into runs of consecutive indices, and compare() reads each run from
// the store in one go. Shared by the sequential verifier (hashes as bytes) and
// the two-thread scan (hashes as text).
import type { HashReader } from './merkle.ts';
import { NODE_STRIDE } from './store.ts';

interface Run<H> {
  level: number;
  start: number;
  hashes: H[];
}

export class StoredNodeRuns<H> {
  #runs: Run<H>[] = [];
  readonly #last = new Map<number, Run<H>>();
  /** Nodes collected since the last compare(). */
  count = 0;

  /** A completed node; kept only on a stored level. */
  add(level: number, index: number, hash: H): void {
    if (level % NODE_STRIDE !== 0) return;
    const r = this.#last.get(level);
    if (r && r.start + r.hashes.length === index) r.hashes.push(hash);
    else {
      const run = { level, start: index, hashes: [hash] };
      this.#runs.push(run);
      this.#last.set(level, run);
    }
    this.count++;
  }

  /** Reads the collected runs from the store and reports each node that is missing or differs; then starts afresh. */
  async compare(reader: HashReader, equal: (stored: Uint8Array, computed: H) => boolean, mismatch: (level: number, index: number) => void): Promise<void> {
    if (this.count === 0) return;
    const runs = this.#runs;
    this.#runs = [];
    this.#last.clear();
    this.count = 0;
    const got = await reader.readHashes(runs.map((r) => ({ level: r.level, start: r.start, count: r.hashes.length })));
    runs.forEach((run, i) => {
      const have = got[i] ?? [];
      for (let k = 0; k < run.hashes.length; k++) {
        const h = have[k];
        if (!h || !equal(h, run.hashes[k] as H)) mismatch(run.level, run.start + k);
      }
    });
  }
}
