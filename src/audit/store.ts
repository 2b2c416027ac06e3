// The audit log's own storage interface. Deliberately small and separate from
// src/storage: the log needs append-only batches, range reads of hashes for
// proofs, checkpoints, forwarder cursors and a leader lock, nothing else.
// Implementations: store-sqlite.ts (node:sqlite), store-pg.ts (pg).
//
// Tables (all prefixed audit_, created idempotently by init()):
//   audit_entry       one row per entry: index, indexed columns, canonical JSON, leaf hash
//   audit_node        complete-subtree hashes at levels that are multiples of `stride`
//   audit_checkpoint  signed tree heads
//   audit_cursor      SIEM forwarder cursors (next index to deliver)

import type { HashReader } from './merkle.ts';
import type { StoredEntry } from './entry.ts';
import type { LogRecord } from './export.ts';

export type { StoredEntry } from './entry.ts';

/** Levels of the tree the stores keep (besides leaf hashes): 4, 8, 12, ... */
export const NODE_STRIDE = 4;

export interface StoredNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface StoredCheckpoint {
  size: number;
  rootHash: Uint8Array;
  /** The signed note (c2sp.org/tlog-checkpoint). */
  note: string;
  createdAt: string;
}

export interface AuditQuery {
  /** Inclusive lower bound on entry time (ISO-8601). */
  from?: string;
  /** Exclusive upper bound on entry time. */
  to?: string;
  actorType?: string;
  actorId?: string;
  action?: string;
  /** Matches actions starting with this prefix followed by a dot ("device" matches "device.authenticate"). */
  actionPrefix?: string;
  targetType?: string;
  targetId?: string;
  source?: string;
  outcome?: string;
  /** Cursor: only entries with a larger index. */
  afterIndex?: number;
  /** 1..1000, default 100. */
  limit?: number;
}

/** Held by the one node allowed to write and sign. */
export interface LeaderLease {
  /** False once the lock is known lost (connection dropped); the log stops writing. */
  readonly held: boolean;
  release(): Promise<void>;
}

export interface AuditStore extends HashReader {
  /** Create tables and indexes if missing (idempotent). */
  init(): Promise<void>;
  /** Number of entries. */
  size(): Promise<number>;
  /**
   * Append entries (indices continuing exactly at size()) and completed node
   * hashes in one transaction. Resolves only once durable. Rejects, writing
   * nothing, if the first index is not the current size (another writer).
   */
  append(entries: readonly StoredEntry[], nodes: readonly StoredNode[]): Promise<void>;
  /**
   * Multi-writer append (several nodes on one PostgreSQL database): inside one
   * transaction holding the store's write lock, hands `build` the log's
   * current size and a reader of its committed hashes, and commits the
   * entries and nodes it returns (indices must continue at that size).
   * Absent on single-writer stores (SQLite).
   */
  appendShared?(build: (head: { size: number; reader: HashReader }) => Promise<{ entries: StoredEntry[]; nodes: StoredNode[] }>): Promise<void>;
  putCheckpoint(cp: StoredCheckpoint): Promise<void>;
  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  /** Checkpoints in increasing size, optionally from a size, at most `limit`. */
  listCheckpoints(opts?: { fromSize?: number; limit?: number }): Promise<StoredCheckpoint[]>;
  /** Entries in index order from `start` (inclusive) to `end` (exclusive, default: all). */
  readEntries(start: number, end?: number): AsyncIterable<StoredEntry>;
  /** Optional fast path for verification: index, canonical text and leaf hash only, in index order. */
  readLeafRecords?(start: number, end?: number): AsyncIterable<{ index: number; entry: string; leafHash: Uint8Array }>;
  /** Faster still: the same in arrays of many records (position = stored index), in index order. */
  readLeafBatches?(start: number, end?: number): AsyncIterable<LogRecord[]>;
  /** The database file, for a verification worker thread to open read-only (SQLite); null for in-memory. */
  filePath?(): string | null;
  /** Rows [index, entry text, lower-case hex leaf hash, hex copy?] in index order (the two-thread verifier's reader). */
  readScanBatches?(start: number, end: number): AsyncIterable<[number, string | Uint8Array, string, (string | null)?][]>;
  search(q: AuditQuery): Promise<StoredEntry[]>;
  /** Next index a named forwarder must deliver (0 if never set). */
  getCursor(name: string): Promise<number>;
  setCursor(name: string, next: number): Promise<void>;
  /** Try to become the single writer; null when another holder has it. */
  tryAcquireLeader(): Promise<LeaderLease | null>;
  close(): Promise<void>;
}

export const clampLimit = (n: number | undefined): number => Math.min(Math.max(Math.trunc(n ?? 100), 1), 1000);

/** A row of audit_entry / audit_checkpoint as either backend returns it. */
export type Row = Record<string, unknown>;

export function entryFromRow(r: Row): StoredEntry {
  return {
    index: Number(r.idx),
    time: r.time as string,
    actorType: r.actor_type as string,
    actorId: r.actor_id as string,
    action: r.action as string,
    targetType: (r.target_type as string | null) ?? null,
    targetId: (r.target_id as string | null) ?? null,
    source: (r.source as string | null) ?? null,
    outcome: r.outcome as string,
    requestId: (r.request_id as string | null) ?? null,
    entry: r.entry as string,
    leafHash: r.leaf_hash as Uint8Array,
  };
}

export const cpFromRow = (r: Row): StoredCheckpoint => ({
  size: Number(r.size),
  rootHash: r.root_hash as Uint8Array,
  note: r.note as string,
  createdAt: r.created_at as string,
});
