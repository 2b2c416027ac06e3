// Audit log routes: latest signed checkpoint, inclusion and consistency
// proofs, search (cursor pagination by index) and a streamed JSON Lines export.
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { Static } from 'typebox';
import { defineRoute } from '../types.ts';
import { PERMISSIONS } from '../../services/command-policy.ts';
import { IsoTimeString, LimitString, Nullable } from '../schemas.ts';
import type { AuditFilter } from '../../audit/service.ts';

const closed = { additionalProperties: false } as const;

/** A non-negative integer in a query string (entry index or tree size). */
const IndexString = Type.String({ pattern: '^(?:0|[1-9][0-9]{0,14})$', maxLength: 15 });
const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Text = (max: number) => Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]+$', minLength: 1, maxLength: max });
const ActorType = Type.Union(['admin', 'token', 'device', 'gateway', 'system', 'anonymous'].map((t) => Type.Literal(t)));
const Outcome = Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied')]);
const Action = Type.String({ pattern: '^[a-z][a-z0-9_]*(?:\\.[a-z0-9_]+){0,7}$', maxLength: 128 });

export const AuditCheckpoint = Type.Object(
  {
    origin: Type.String(),
    size: Type.Integer({ minimum: 0 }),
    rootHash: Hex32,
    note: Type.String({ description: 'signed note (c2sp.org/tlog-checkpoint), verbatim' }),
    createdAt: Type.String(),
  },
  closed,
);

export const AuditEntry = Type.Object(
  {
    v: Type.Integer(),
    index: Type.Integer({ minimum: 0 }),
    time: Type.String(),
    action: Type.String(),
    actor: Type.Object({ type: Type.String(), id: Type.String() }, closed),
    source: Type.Optional(Type.String()),
    target: Type.Optional(Type.Object({ type: Type.String(), id: Type.String() }, closed)),
    outcome: Outcome,
    requestId: Type.Optional(Type.String()),
    // Free-form details: any keys (the pattern matches all), so closing it changes nothing but keeps every object closed.
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { additionalProperties: false })),
    prev: Type.String(),
  },
  closed,
);

const AuditEntryItem = Type.Object({ index: Type.Integer({ minimum: 0 }), leafHash: Hex32, entry: AuditEntry }, closed);

const filterProps = {
  from: Type.Optional(IsoTimeString),
  to: Type.Optional(IsoTimeString),
  actorType: Type.Optional(ActorType),
  actorId: Type.Optional(Text(256)),
  action: Type.Optional(Action),
  actionPrefix: Type.Optional(Action),
  targetType: Type.Optional(Text(64)),
  targetId: Type.Optional(Text(256)),
  source: Type.Optional(Text(128)),
  outcome: Type.Optional(Outcome),
};
const FilterQuery = Type.Object(filterProps, closed);
const SearchQuery = Type.Object({ ...filterProps, after: Type.Optional(IndexString), limit: Type.Optional(LimitString) }, closed);

function filterOf(q: Static<typeof FilterQuery>): AuditFilter {
  const f: AuditFilter = {};
  for (const k of Object.keys(filterProps) as (keyof typeof filterProps)[]) {
    const v = q[k];
    if (v !== undefined) (f as Record<string, string>)[k] = v;
  }
  return f;
}

export const auditCheckpointRoute = defineRoute({
  id: 'getAuditCheckpoint',
  method: 'GET',
  url: '/api/v1/audit/checkpoint',
  summary: "The audit log's latest signed checkpoint (404 before the first one)",
  tags: ['audit'],
  permission: PERMISSIONS.auditRead,
  schema: { response: { 200: AuditCheckpoint } },
  async handler({ actor, services }) {
    return { status: 200, body: await services.auditLog.checkpoint(actor!) };
  },
});

export const auditInclusionRoute = defineRoute({
  id: 'getAuditInclusionProof',
  method: 'GET',
  url: '/api/v1/audit/proof/inclusion',
  summary: 'RFC 9162 inclusion proof of entry `index` in the tree of `size` entries (default: latest checkpoint)',
  tags: ['audit'],
  permission: PERMISSIONS.auditRead,
  schema: {
    querystring: Type.Object({ index: IndexString, size: Type.Optional(IndexString) }, closed),
    response: {
      200: Type.Object(
        { index: Type.Integer({ minimum: 0 }), size: Type.Integer({ minimum: 1 }), leafHash: Hex32, proof: Type.Array(Hex32) },
        closed,
      ),
    },
  },
  async handler({ actor, query, services }) {
    const size = query.size !== undefined ? Number(query.size) : undefined;
    return { status: 200, body: await services.auditLog.inclusionProof(actor!, Number(query.index), size) };
  },
});

export const auditConsistencyRoute = defineRoute({
  id: 'getAuditConsistencyProof',
  method: 'GET',
  url: '/api/v1/audit/proof/consistency',
  summary: 'RFC 9162 consistency proof between tree sizes `from` and `to` (default: latest checkpoint)',
  tags: ['audit'],
  permission: PERMISSIONS.auditRead,
  schema: {
    querystring: Type.Object({ from: IndexString, to: Type.Optional(IndexString) }, closed),
    response: {
      200: Type.Object({ from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }), proof: Type.Array(Hex32) }, closed),
    },
  },
  async handler({ actor, query, services }) {
    const to = query.to !== undefined ? Number(query.to) : undefined;
    return { status: 200, body: await services.auditLog.consistencyProof(actor!, Number(query.from), to) };
  },
});

export const auditSearchRoute = defineRoute({
  id: 'searchAudit',
  method: 'GET',
  url: '/api/v1/audit/entries',
  summary: 'Search entries by time range, actor, action, target, source and outcome (index order; cursor `after`)',
  tags: ['audit'],
  permission: PERMISSIONS.auditRead,
  audit: 'audit.search',
  schema: {
    querystring: SearchQuery,
    response: { 200: Type.Object({ items: Type.Array(AuditEntryItem), next: Nullable(IndexString) }, closed) },
  },
  async handler({ actor, query, services }) {
    const page: { after?: number; limit?: number } = {};
    if (query.after !== undefined) page.after = Number(query.after);
    if (query.limit !== undefined) page.limit = Number(query.limit);
    return { status: 200, body: await services.auditLog.search(actor!, filterOf(query), page) };
  },
});

export const auditExportRoute = defineRoute({
  id: 'exportAudit',
  method: 'GET',
  url: '/api/v1/audit/export',
  summary:
    'Stream matching entries as JSON Lines ({"index","leafHash","entry"} per line, index order); without filters the stored checkpoints follow, so the file verifies offline with `rampart audit verify --export`',
  tags: ['audit'],
  permission: PERMISSIONS.auditRead,
  audit: 'audit.export',
  contentType: 'application/x-ndjson',
  schema: { querystring: FilterQuery, response: { 200: Type.String({ description: 'JSON Lines' }) } },
  async handler({ actor, query, services }) {
    const lines = await services.auditLog.exportLines(actor!, filterOf(query));
    return { status: 200, type: 'application/x-ndjson; charset=utf-8', body: Readable.from(lines, { objectMode: false }) };
  },
});

export const AUDIT_ROUTES = [auditCheckpointRoute, auditInclusionRoute, auditConsistencyRoute, auditSearchRoute, auditExportRoute];
