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
// - Several nodes (`shared`, PostgreSQL): every node appends through
//   store.appendShared(), which assigns indices under the store's write lock;
//   when another node appended since, the right edge is rebuilt from the
//   committed hashes inside that lock, so the log keeps one total order and
//   one Merkle tree. Only the node holding the leader lease signs checkpoints
//   (of the committed size); the others retry the lease every interval, so a
//   new signer takes over when the old one's session dies.

import { conflict, isRampartError } from '../lib/errors.ts';
import { buildEntry } from './entry.ts';
import { CompactRange, EMPTY_ROOT, consistencyProof, hashEqual, inclusionProof, subtreeHashes, treeRoot } from './merkle.ts';
import type { HashReader } from './merkle.ts';
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
  /**
   * Several nodes write this log (needs store.appendShared). The log opens
   * without the leader lease and signs checkpoints only while it holds it.
   */
  shared?: boolean;
  /** Called with errors that have no caller to reject (checkpoint and sink failures). */
  onError?: (err: unknown, where: string) => void;
}

interface Built {
  tree: CompactRange;
  prev: Uint8Array | null;
  entries: StoredEntry[];
  nodes: StoredNode[];
  accepted: Pending[];
}

/** The right edge of the committed tree of `size` entries and its last leaf hash. */
async function rightEdge(reader: HashReader, size: number): Promise<{ tree: CompactRange; prev: Uint8Array | null }> {
  const tree = new CompactRange(size, await subtreeHashes(reader, CompactRange.subtrees(size)));
  const prev = size > 0 ? ((await reader.readHashes([{ level: 0, start: size - 1, count: 1 }]))[0]?.[0] ?? null) : null;
  return { tree, prev };
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
  readonly #shared: boolean;
  readonly #acquire: () => Promise<LeaderLease | null>;
  #lease: LeaderLease | null;
  #tree: CompactRange;
  #prev: Uint8Array | null;
  #queue: Pending[] = [];
  #writing: Promise<void> | null = null;
  #failed: unknown = null;
  #closed = false;
  #lastCheckpoint: StoredCheckpoint | null;
  #checkpointing: Promise<StoredCheckpoint | null> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;
  #sinkChain: Promise<void> = Promise.resolve();

  private constructor(opts: AuditLogOptions, lease: LeaderLease | null, tree: CompactRange, prev: Uint8Array | null, last: StoredCheckpoint | null) {
    this.store = opts.store;
    this.origin = opts.origin;
    this.#signer = opts.signer;
    this.#sinks = opts.sinks ?? [];
    this.#interval = opts.checkpointIntervalMs ?? 1000;
    this.#maxBatch = opts.maxBatch ?? 5000;
    this.#clock = opts.clock ?? (() => new Date());
    this.#onError = opts.onError ?? (() => undefined);
    this.#lease = lease;
    this.#shared = opts.shared === true;
    this.#acquire = opts.acquireLeader ?? (() => opts.store.tryAcquireLeader());
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
    if (opts.shared === true && !store.appendShared) throw new Error('this audit store has a single writer');
    const lease = await (opts.acquireLeader ?? (() => store.tryAcquireLeader()))();
    if (!lease && opts.shared !== true) throw conflict('audit log has another writer');
    try {
      // Checkpoint first: with several nodes the log may grow in between, never shrink.
      const last = await store.latestCheckpoint();
      const size = await store.size();
      const { tree, prev } = await rightEdge(store, size);
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
      await lease?.release();
      throw err;
    }
  }

  /** True while this node signs checkpoints. */
  get isSigner(): boolean {
    return this.#lease?.held === true;
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
    if (this.#shared) return this.#writeShared(batch);
    if (!this.#lease?.held) {
      this.#failed = conflict('audit log lost its leader lease');
      for (const p of batch) p.reject(this.#failed);
      return;
    }
    const built = this.#build(batch, this.#tree, this.#prev);
    if (built.entries.length === 0) return;
    try {
      await this.store.append(built.entries, built.nodes);
    } catch (err) {
      // Nothing was committed (the store rolls back); the in-memory tree is unchanged.
      if (isRampartError(err) && err.code === 'conflict') this.#failed = err;
      for (const p of built.accepted) p.reject(err);
      return;
    }
    this.#commit(built);
  }

  /** Entries, completed nodes and the new right edge for a batch on top of `base`. */
  #build(batch: Pending[], base: CompactRange, prevHash: Uint8Array | null): Built {
    const tree = base.clone();
    let prev = prevHash;
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
    return { tree, prev, entries, nodes, accepted };
  }

  #commit(built: Built): void {
    this.#tree = built.tree;
    this.#prev = built.prev;
    built.accepted.forEach((p, i) => p.resolve((built.entries[i] as StoredEntry).index));
  }

  /** Several writers: the store assigns the position under its lock. */
  async #writeShared(batch: Pending[]): Promise<void> {
    let built: Built | null = null;
    const invalid = new Set<Pending>();
    try {
      await this.store.appendShared!(async ({ size, reader }) => {
        let base = this.#tree;
        let prev = this.#prev;
        if (size !== base.size) {
          // Another node appended since our last write: rebuild the right edge from what it committed.
          ({ tree: base, prev } = await rightEdge(reader, size));
        }
        // Events that fail validation are rejected once, not again on retry.
        built = this.#build(batch.filter((p) => !invalid.has(p)).map((p) => ({
          event: p.event,
          resolve: p.resolve,
          reject: (err: unknown) => {
            invalid.add(p);
            p.reject(err);
          },
        })), base, prev);
        return { entries: built.entries, nodes: built.nodes };
      });
    } catch (err) {
      // Rolled back: nothing of this batch is in the log.
      for (const p of batch) if (!invalid.has(p)) p.reject(err);
      return;
    }
    if (built) this.#commit(built);
  }

  /** Wait until everything queued so far is durable (or rejected). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #tick(): Promise<void> {
    // Ticks never overlap: two concurrent acquisitions could otherwise
    // overwrite (and so leak, lock held) the lease one of them obtained.
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      if (this.#shared && !this.#lease?.held && !this.#closed) {
        // Compete for the signer role; a dead lease is released first.
        const dead = this.#lease;
        this.#lease = null;
        await dead?.release();
        const lease = await this.#acquire();
        if (this.#closed) await lease?.release();
        else this.#lease = lease;
      }
      if (this.#shared && !this.#lease?.held) return;
      await this.checkpoint();
    } catch (err) {
      this.#onError(err, 'checkpoint');
    } finally {
      this.#ticking = false;
    }
  }

  /**
   * Sign, store and publish a checkpoint for the current durable size if it
   * grew since the last one. Returns the latest checkpoint.
   */
  async checkpoint(): Promise<StoredCheckpoint | null> {
    while (this.#checkpointing) await this.#checkpointing;
    const run = async (): Promise<StoredCheckpoint | null> => {
      if (this.#shared) return this.#checkpointShared();
      const size = this.#tree.size;
      if (size === 0 || (this.#lastCheckpoint && this.#lastCheckpoint.size >= size)) return this.#lastCheckpoint;
      if (!this.#lease?.held) throw conflict('audit log lost its leader lease');
      return this.#sign(size, this.#tree.root());
    };
    this.#checkpointing = run();
    try {
      return await this.#checkpointing;
    } finally {
      this.#checkpointing = null;
    }
  }

  /** Several writers: the signer signs the committed size, whoever appended it. */
  async #checkpointShared(): Promise<StoredCheckpoint | null> {
    const stored = await this.store.latestCheckpoint();
    if (stored && (!this.#lastCheckpoint || stored.size > this.#lastCheckpoint.size)) this.#lastCheckpoint = stored;
    if (!this.#lease?.held) return this.#lastCheckpoint;
    const size = await this.store.size();
    if (size === 0 || (this.#lastCheckpoint && this.#lastCheckpoint.size >= size)) return this.#lastCheckpoint;
    const tree = this.#tree;
    const rootHash = tree.size === size ? tree.root() : await treeRoot(this.store, size);
    return this.#sign(size, rootHash);
  }

  async #sign(size: number, rootHash: Uint8Array): Promise<StoredCheckpoint> {
    const note = signCheckpoint({ origin: this.origin, size, rootHash }, this.#signer);
    const cp: StoredCheckpoint = { size, rootHash, note, createdAt: this.#clock().toISOString() };
    await this.store.putCheckpoint(cp);
    this.#lastCheckpoint = cp;
    this.#publish(cp);
    return cp;
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
      if (this.#lease?.held && !this.#failed) await this.checkpoint();
    } finally {
      await this.#sinkChain;
      await this.#lease?.release();
    }
  }
}
