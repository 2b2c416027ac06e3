// The tamper-evident audit log: implements AuditRecorder.
//
// - record() resolves only after the entry is committed (durable) in the store.
// - Group commit: events arriving while a write is in flight are written
//   together in the next transaction; nothing is acknowledged before its commit.
// - The right edge of the Merkle tree is kept in memory (CompactRange); each
//   transaction also stores the complete subtrees it finished at levels that
//   are multiples of NODE_STRIDE, so proofs never rehash the tree.
// - At most every `checkpointIntervalMs` while entries arrive, the tree head is
//   signed (C2SP tlog-checkpoint), stored and pushed to every CheckpointSink.
// - One writer per log: open() takes the store's leader lease (PostgreSQL
//   advisory lock) and refuses to write without it.

import { conflict, isRampartError } from '../lib/errors.ts';
import { buildEntry } from './entry.ts';
import { CompactRange, EMPTY_ROOT, consistencyProof, hashEqual, inclusionProof, subtreeHashes, treeRoot } from './merkle.ts';
import { signCheckpoint } from './note.ts';
import { NODE_STRIDE } from './store.ts';
import type { NoteSigner } from './note.ts';
import type { CheckpointSink } from './sinks.ts';
import type { AuditQuery, AuditStore, LeaderLease, StoredCheckpoint, StoredEntry, StoredNode } from './store.ts';
import type { AuditEvent, AuditLookup, AuditRecorder } from './types.ts';

export interface AuditLogOptions {
  store: AuditStore;
  /** Checkpoint origin line, e.g. "mdm.example.com/audit". */
  origin: string;
  signer: NoteSigner;
  sinks?: CheckpointSink[];
  /** Default 1000 ms. */
  checkpointIntervalMs?: number;
  /** Entries per transaction at most. Default 5000. */
  maxBatch?: number;
  clock?: () => Date;
  /**
   * Leader election hook. Default: the store's lock (advisory lock on
   * PostgreSQL). Return null when another node is the writer.
   */
  acquireLeader?: () => Promise<LeaderLease | null>;
  /** Called with errors that have no caller to reject (checkpoint and sink failures). */
  onError?: (err: unknown, where: string) => void;
}

interface Pending {
  event: AuditEvent;
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
}

export class AuditLog implements AuditRecorder, AuditLookup {
  readonly store: AuditStore;
  readonly origin: string;
  readonly #signer: NoteSigner;
  readonly #sinks: CheckpointSink[];
  readonly #interval: number;
  readonly #maxBatch: number;
  readonly #clock: () => Date;
  readonly #onError: (err: unknown, where: string) => void;
  #lease: LeaderLease;
  #tree: CompactRange;
  #prev: Uint8Array | null;
  #queue: Pending[] = [];
  #writing: Promise<void> | null = null;
  #failed: unknown = null;
  #closed = false;
  #lastCheckpoint: StoredCheckpoint | null;
  #checkpointing: Promise<StoredCheckpoint | null> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #sinkChain: Promise<void> = Promise.resolve();

  private constructor(opts: AuditLogOptions, lease: LeaderLease, tree: CompactRange, prev: Uint8Array | null, last: StoredCheckpoint | null) {
    this.store = opts.store;
    this.origin = opts.origin;
    this.#signer = opts.signer;
    this.#sinks = opts.sinks ?? [];
    this.#interval = opts.checkpointIntervalMs ?? 1000;
    this.#maxBatch = opts.maxBatch ?? 5000;
    this.#clock = opts.clock ?? (() => new Date());
    this.#onError = opts.onError ?? (() => undefined);
    this.#lease = lease;
    this.#tree = tree;
    this.#prev = prev;
    this.#lastCheckpoint = last;
  }

  /**
   * Open the log for writing: initialise the store, take the leader lease,
   * rebuild the tree's right edge from stored hashes and check it against the
   * latest stored checkpoint (refusing to extend a log that no longer matches
   * what it signed).
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const { store } = opts;
    if (store.stride !== NODE_STRIDE) throw new Error('store stride mismatch');
    await store.init();
    const lease = await (opts.acquireLeader ?? (() => store.tryAcquireLeader()))();
    if (!lease) throw conflict('audit log has another writer');
    try {
      const size = await store.size();
      const hashes = await subtreeHashes(store, CompactRange.subtrees(size));
      const tree = new CompactRange(size, hashes);
      const prev = size > 0 ? ((await store.readHashes([{ level: 0, start: size - 1, count: 1 }]))[0]?.[0] ?? null) : null;
      const last = await store.latestCheckpoint();
      if (last) {
        if (last.size > size) throw conflict('audit log is shorter than its last checkpoint', `size ${size} < checkpoint ${last.size}`);
        const root = last.size === size ? tree.root() : await treeRoot(store, last.size);
        if (!hashEqual(root, last.rootHash)) throw conflict('audit log does not match its last checkpoint', `size ${last.size}`);
      }
      const log = new AuditLog(opts, lease, tree, prev, last);
      log.#timer = setInterval(() => void log.#tick(), log.#interval);
      log.#timer.unref();
      return log;
    } catch (err) {
      await lease.release();
      throw err;
    }
  }

  /** Number of durable entries. */
  get size(): number {
    return this.#tree.size;
  }

  /** Root hash of the durable tree. */
  root(): Uint8Array {
    return this.#tree.size === 0 ? EMPTY_ROOT : this.#tree.root();
  }

  get lastCheckpoint(): StoredCheckpoint | null {
    return this.#lastCheckpoint;
  }

  record(event: AuditEvent): Promise<void> {
    return this.append(event).then(() => undefined);
  }

  /** AuditLookup: is there a durable entry with this action and actor (and target, at or after `from`)? */
  async has(q: { action: string; actorId: string; targetId?: string; from?: string; outcome?: AuditEvent['outcome'] }): Promise<boolean> {
    const query: AuditQuery = { action: q.action, actorId: q.actorId, limit: 1 };
    if (q.outcome !== undefined) query.outcome = q.outcome;
    if (q.targetId !== undefined) query.targetId = q.targetId;
    if (q.from !== undefined) query.from = q.from;
    return (await this.store.search(query)).length > 0;
  }

  /** Like record(), resolving with the entry's index once it is durable. */
  append(event: AuditEvent): Promise<number> {
    if (this.#closed) return Promise.reject(conflict('audit log closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#writing) this.#writing = new Promise<void>((r) => setImmediate(r)).then(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        await this.#write(batch);
      }
    } finally {
      this.#writing = null;
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    if (this.#failed) {
      for (const p of batch) p.reject(this.#failed);
      return;
    }
    if (!this.#lease.held) {
      this.#failed = conflict('audit log lost its leader lease');
      for (const p of batch) p.reject(this.#failed);
      return;
    }
    const tree = this.#tree.clone();
    let prev = this.#prev;
    const now = this.#clock();
    const entries: StoredEntry[] = [];
    const accepted: Pending[] = [];
    const nodes: StoredNode[] = [];
    for (const p of batch) {
      let stored: StoredEntry;
      try {
        stored = buildEntry(p.event, tree.size, prev, now).stored;
      } catch (err) {
        p.reject(err);
        continue;
      }
      tree.append(stored.leafHash, (level, index, hash) => {
        if (level % NODE_STRIDE === 0) nodes.push({ level, index, hash });
      });
      prev = stored.leafHash;
      entries.push(stored);
      accepted.push(p);
    }
    if (entries.length === 0) return;
    try {
      await this.store.append(entries, nodes);
    } catch (err) {
      // Nothing was committed (the store rolls back); the in-memory tree is unchanged.
      if (isRampartError(err) && err.code === 'conflict') this.#failed = err;
      for (const p of accepted) p.reject(err);
      return;
    }
    this.#tree = tree;
    this.#prev = prev;
    accepted.forEach((p, i) => p.resolve((entries[i] as StoredEntry).index));
  }

  /** Wait until everything queued so far is durable (or rejected). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #tick(): Promise<void> {
    try {
      await this.checkpoint();
    } catch (err) {
      this.#onError(err, 'checkpoint');
    }
  }

  /**
   * Sign, store and publish a checkpoint for the current durable size if it
   * grew since the last one. Returns the latest checkpoint.
   */
  async checkpoint(): Promise<StoredCheckpoint | null> {
    while (this.#checkpointing) await this.#checkpointing;
    const size = this.#tree.size;
    if (size === 0 || (this.#lastCheckpoint && this.#lastCheckpoint.size >= size)) return this.#lastCheckpoint;
    if (!this.#lease.held) throw conflict('audit log lost its leader lease');
    const run = async (): Promise<StoredCheckpoint> => {
      const rootHash = this.#tree.root();
      const note = signCheckpoint({ origin: this.origin, size, rootHash }, this.#signer);
      const cp: StoredCheckpoint = { size, rootHash, note, createdAt: this.#clock().toISOString() };
      await this.store.putCheckpoint(cp);
      this.#lastCheckpoint = cp;
      this.#publish(cp);
      return cp;
    };
    this.#checkpointing = run();
    try {
      return await this.#checkpointing;
    } finally {
      this.#checkpointing = null;
    }
  }

  #publish(cp: StoredCheckpoint): void {
    // Sinks get checkpoints in order; a failing sink does not hold up the log
    // (the next checkpoint supersedes a lost one).
    this.#sinkChain = this.#sinkChain.then(() =>
      Promise.all(
        this.#sinks.map((s) => s.publish(cp).catch((err: unknown) => this.#onError(err, `sink ${s.name}`))),
      ).then(() => undefined),
    );
  }

  /** Resolves once every checkpoint produced so far has been handed to the sinks. */
  async sinksIdle(): Promise<void> {
    await this.#sinkChain;
  }

  /** Inclusion proof for entry `index` in the tree of `size` entries (default: current size). */
  async inclusionProof(index: number, size = this.#tree.size): Promise<{ index: number; size: number; leafHash: Uint8Array; proof: Uint8Array[] }> {
    if (size > this.#tree.size) throw new RangeError('size beyond the log');
    const [leaf] = await this.store.readHashes([{ level: 0, start: index, count: 1 }]);
    const leafHash = leaf?.[0];
    if (!leafHash) throw new RangeError('no such entry');
    return { index, size, leafHash, proof: await inclusionProof(this.store, index, size) };
  }

  async consistencyProof(m: number, n = this.#tree.size): Promise<Uint8Array[]> {
    if (n > this.#tree.size) throw new RangeError('size beyond the log');
    return consistencyProof(this.store, m, n);
  }

  search(q: AuditQuery): Promise<StoredEntry[]> {
    return this.store.search(q);
  }

  /** Flush, write a final checkpoint, stop the timer, hand over the lease. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    try {
      if (this.#lease.held && !this.#failed) await this.checkpoint();
    } finally {
      await this.#sinkChain;
      await this.#lease.release();
    }
  }
}
