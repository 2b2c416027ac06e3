// Read side of the audit log for the admin API: the latest signed checkpoint,
// inclusion and consistency proofs, search and JSON Lines export. Reads go to
// the store (not the writer's memory), so any node can answer them. Every
// call needs audit.read; search and export are themselves put on record (the
// log holds administrators' ids and source addresses).
import { badRequest, notFound } from '../lib/errors.ts';
import { authorize, PERMISSIONS } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { consistencyProof, inclusionProof } from './merkle.ts';
import { exportLine } from './export.ts';
import { parseCheckpoint, parseNote } from './note.ts';
import type { AuditQuery, AuditStore, StoredEntry } from './store.ts';
import type { AuditRecorder, JsonValue } from './types.ts';

export interface CheckpointView {
  origin: string;
  size: number;
  /** Hex SHA-256 root of the first `size` entries. */
  rootHash: string;
  /** The signed note (c2sp.org/tlog-checkpoint), verbatim. */
  note: string;
  createdAt: string;
}

export interface InclusionProofView {
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
}

export interface ConsistencyProofView {
  from: number;
  to: number;
  proof: string[];
}

export interface AuditEntryView {
  index: number;
  leafHash: string;
  /** The canonical entry (RFC 8785) as a JSON object. */
  entry: { [k: string]: JsonValue };
}

export interface AuditSearchPage {
  items: AuditEntryView[];
  /** Cursor for the next page (pass as `after`), null at the end. */
  next: string | null;
}

/** Filters of search and export: the store's query without paging, and only the three outcomes. */
export type AuditFilter = Omit<AuditQuery, 'afterIndex' | 'limit' | 'outcome'> & { outcome?: 'success' | 'failure' | 'denied' };

export interface AuditReadService {
  checkpoint(actor: Actor): Promise<CheckpointView>;
  inclusionProof(actor: Actor, index: number, size?: number): Promise<InclusionProofView>;
  consistencyProof(actor: Actor, from: number, to?: number): Promise<ConsistencyProofView>;
  search(actor: Actor, filter: AuditFilter, page?: { after?: number; limit?: number }): Promise<AuditSearchPage>;
  /** JSON Lines ({"index","leafHash","entry"} per line, as export.ts), streamed in index order. */
  exportLines(actor: Actor, filter: AuditFilter): Promise<AsyncIterable<string>>;
}

export interface AuditReadDeps {
  store: AuditStore;
  audit: AuditRecorder;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function normaliseTime(s: string | undefined, what: string): string | undefined {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw badRequest('invalid request', what);
  return new Date(t).toISOString();
}

function toQuery(f: AuditFilter): AuditQuery {
  const q: AuditQuery = {};
  const from = normaliseTime(f.from, 'from');
  const to = normaliseTime(f.to, 'to');
  if (from !== undefined) q.from = from;
  if (to !== undefined) q.to = to;
  for (const k of ['actorType', 'actorId', 'action', 'actionPrefix', 'targetType', 'targetId', 'source', 'outcome'] as const) {
    const v = f[k];
    if (v !== undefined) q[k] = v;
  }
  return q;
}

/** Which filters were used (names only: values may identify people). */
const filterNames = (f: AuditFilter): JsonValue => Object.keys(f).filter((k) => f[k as keyof AuditFilter] !== undefined).sort();

export function entryView(e: StoredEntry): AuditEntryView {
  return { index: e.index, leafHash: hex(e.leafHash), entry: JSON.parse(e.entry) as { [k: string]: JsonValue } };
}

const EXPORT_PAGE = 1000;

export function createAuditReadService(deps: AuditReadDeps): AuditReadService {
  const { store, audit } = deps;
  const check = (actor: Actor, action: string): Promise<void> => authorize(audit, actor, PERMISSIONS.auditRead, { action });
  const onRecord = (actor: Actor, action: string, details: { [k: string]: JsonValue }): Promise<void> =>
    audit.record({
      action,
      actor: { type: actor.type, id: actor.id },
      ...(actor.source !== undefined ? { source: actor.source } : {}),
      ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
      outcome: 'success',
      details,
    });

  async function latest(): Promise<{ size: number; view: CheckpointView }> {
    const cp = await store.latestCheckpoint();
    if (!cp) throw notFound('no checkpoint yet');
    const parsed = parseCheckpoint(parseNote(cp.note).text);
    return { size: cp.size, view: { origin: parsed.origin, size: cp.size, rootHash: hex(cp.rootHash), note: cp.note, createdAt: cp.createdAt } };
  }

  return {
    async checkpoint(actor) {
      await check(actor, 'audit.checkpoint.read');
      return (await latest()).view;
    },

    async inclusionProof(actor, index, size) {
      await check(actor, 'audit.proof.read');
      const n = size ?? (await latest()).size;
      if (n > (await store.size())) throw badRequest('invalid request', 'size beyond the log');
      if (index >= n) throw badRequest('invalid request', 'index must be smaller than size');
      const [leaf] = await store.readHashes([{ level: 0, start: index, count: 1 }]);
      const leafHash = leaf?.[0];
      if (!leafHash) throw notFound();
      const proof = await inclusionProof(store, index, n);
      return { index, size: n, leafHash: hex(leafHash), proof: proof.map(hex) };
    },

    async consistencyProof(actor, from, to) {
      await check(actor, 'audit.proof.read');
      const n = to ?? (await latest()).size;
      if (from > n) throw badRequest('invalid request', 'from must not exceed to');
      if (n > (await store.size())) throw badRequest('invalid request', 'size beyond the log');
      return { from, to: n, proof: (await consistencyProof(store, from, n)).map(hex) };
    },

    async search(actor, filter, page = {}) {
      await check(actor, 'audit.search');
      const q = toQuery(filter);
      const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
      q.limit = limit;
      if (page.after !== undefined) q.afterIndex = page.after;
      const rows = await store.search(q);
      await onRecord(actor, 'audit.search', { filters: filterNames(filter), results: rows.length });
      const last = rows[rows.length - 1];
      return { items: rows.map(entryView), next: rows.length === limit && last ? String(last.index) : null };
    },

    async exportLines(actor, filter) {
      await check(actor, 'audit.export');
      const q = toQuery(filter);
      await onRecord(actor, 'audit.export', { filters: filterNames(filter) });
      async function* lines(): AsyncIterable<string> {
        let after: number | undefined;
        for (;;) {
          const rows = await store.search({ ...q, limit: EXPORT_PAGE, ...(after !== undefined ? { afterIndex: after } : {}) });
          for (const r of rows) yield exportLine(r);
          if (rows.length < EXPORT_PAGE) break;
          after = (rows[rows.length - 1] as StoredEntry).index;
        }
        // A complete export carries the stored checkpoints, so `rampart audit verify --export` can check it offline.
        if (Object.keys(q).length === 0) for (const cp of await store.listCheckpoints()) yield JSON.stringify({ checkpoint: cp.note }) + '\n';
      }
      return lines();
    },
  };
}
