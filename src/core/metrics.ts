// Prometheus metrics of one core node (prom-client, a registry per node with
// a constant `node` label). Served on the admin listener at GET /metrics to
// an actor holding `metrics.read`; the device gateway has no metrics route.
//
// Hot-path rule: counting is a property or Map lookup of a pre-bound cell
// and an increment; values reach prom-client when scraped. Label values come from fixed sets in the code (route
// templates, check-in message types, command statuses, audit actions), never
// from request data, so a client cannot grow the label space.
import client, { type Counter, type Gauge, type Histogram, Registry } from 'prom-client';
import { SUPPORTED_CHECKIN_TYPES } from '../protocol/checkin/parse.ts';
import { forbidden } from '../lib/errors.ts';
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import type { AuditEvent, AuditRecorder } from '../audit/types.ts';

export const METRICS_READ = 'metrics.read';
export const METRICS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;

/** How a device-plane request ended in the core. */
export type DeviceOutcome = 'ok' | 'refused' | 'error' | 'integrity_violation';
const DEVICE_OUTCOMES: readonly DeviceOutcome[] = ['ok', 'refused', 'error', 'integrity_violation'];
/** Connect report statuses (Apple's Status values) plus unparsed bodies. */
const REPORT_STATUSES = ['Acknowledged', 'Error', 'CommandFormatError', 'NotNow', 'Idle'] as const;
export type CommandEvent = 'queued' | 'acknowledged' | 'error' | 'notnow';
const COMMAND_EVENTS: readonly CommandEvent[] = ['queued', 'acknowledged', 'error', 'notnow'];
export type PushResult = 'sent' | 'failed' | 'invalid_token' | 'no_token';
const PUSH_RESULTS: readonly PushResult[] = ['sent', 'failed', 'invalid_token', 'no_token'];
/** Distinct security-event kinds kept apart; more collapse into "other". */
const MAX_SECURITY_KINDS = 100;
const KIND_RE = /^[a-z][a-z0-9_.:-]{0,79}$/;

interface Cell {
  n: number;
}

export interface MetricsSources {
  /** Pending + claimed push outbox rows (all nodes). */
  outboxDepth?: () => Promise<number>;
  /** Entries in the audit log (committed, all nodes). */
  auditSize?: () => Promise<number>;
  /** ISO time of the latest signed checkpoint, or null. */
  lastCheckpointAt?: () => Promise<string | null>;
  /** The installed push certificate's notAfter and state, or null when none is installed. */
  pushCertificate?: () => Promise<{ notAfter: string; state: string } | null>;
}

export interface AdminRouteMetrics {
  observe(status: number, seconds: number): void;
}

export interface Metrics {
  readonly registry: Registry;
  /** Pre-bound children for one admin route ("unmatched" for unrouted requests). */
  adminRoute(route: string, method: string): AdminRouteMetrics;
  /** A device-plane check-in or connect handled by the core. `kind` is a check-in MessageType or a report Status. */
  device(endpoint: 'checkin' | 'connect', kind: string, outcome: DeviceOutcome): void;
  commands(event: CommandEvent, n?: number): void;
  push(result: PushResult, n?: number): void;
  auditAppended(): void;
  /** A refused or suspicious event (signature mismatch, refused challenge, denied access...) by kind. */
  security(kind: string): void;
  /** The text exposition, for an actor holding metrics.read. */
  render(actor: Actor): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(opts: { nodeId: string; sources?: MetricsSources; now?: () => Date; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: opts.nodeId });
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'rampart_' });
  const now = opts.now ?? ((): Date => new Date());
  const sources = opts.sources ?? {};

  // Counters are plain cells on the hot path ({ n } objects bound once, one
  // property increment per event: no label hashing, no allocation); they are
  // copied into prom-client's counters when scraped.
  const cells = (name: string, help: string, labelNames: string[]): ((...labels: string[]) => Cell) => {
    const all: [string[], Cell][] = [];
    new client.Counter({
      name, help, labelNames, registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        for (const [labels, c] of all) {
          if (labels.length === 0) this.inc(c.n);
          else this.labels(...labels).inc(c.n);
        }
      },
    });
    return (...labels) => {
      const c = { n: 0 };
      all.push([labels, c]);
      return c;
    };
  };
  const httpRequests = cells('rampart_admin_http_requests_total', 'Admin API requests by route template, method and status', ['route', 'method', 'status']);
  const httpDuration: Histogram<'route' | 'method'> = new client.Histogram({
    name: 'rampart_admin_http_request_duration_seconds', help: 'Admin API request duration by route template and method', labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  const deviceRequests = cells('rampart_device_requests_total', 'Device-plane check-ins (by MessageType) and connects (by Status) handled by the core, by outcome', ['endpoint', 'type', 'outcome']);
  const commandEvents = cells('rampart_commands_total', 'Commands queued (per device) and device results by status', ['event']);
  const pushes = cells('rampart_pushes_total', 'APNs pushes by result (per outbox row)', ['result']);
  const auditAppends = cells('rampart_audit_appends_total', 'Audit log entries recorded by this node', [])();
  const securityEvents = cells('rampart_security_events_total', 'Refused or suspicious events by kind (audit action, with the reason for device-plane refusals)', ['kind']);
  new client.Gauge({
    name: 'rampart_push_outbox_depth', help: 'Push outbox rows not yet final (pending or claimed)', registers: [registry],
    async collect(this: Gauge) {
      if (sources.outboxDepth) this.set(await sources.outboxDepth());
    },
  });
  new client.Gauge({
    name: 'rampart_audit_tree_size', help: 'Entries in the audit log Merkle tree', registers: [registry],
    async collect(this: Gauge) {
      if (sources.auditSize) this.set(await sources.auditSize());
    },
  });
  new client.Gauge({
    name: 'rampart_audit_checkpoint_age_seconds', help: 'Seconds since the latest signed audit checkpoint (-1: none yet)', registers: [registry],
    async collect(this: Gauge) {
      const at = sources.lastCheckpointAt ? await sources.lastCheckpointAt() : null;
      this.set(at === null ? -1 : Math.max(0, (now().getTime() - Date.parse(at)) / 1000));
    },
  });

  new client.Gauge({
    name: 'rampart_push_certificate_expiry_seconds', help: 'Seconds until the APNs push certificate expires (negative: expired; no series: none installed), with its state', labelNames: ['state'], registers: [registry],
    async collect(this: Gauge<'state'>) {
      const c = sources.pushCertificate ? await sources.pushCertificate() : null;
      this.reset();
      if (c !== null) this.labels(c.state).set(Math.round((Date.parse(c.notAfter) - now().getTime()) / 1000));
    },
  });

  // Pre-bound cells, exported at 0 from the start (rate() needs the series before the first event).
  const device: Record<string, Record<string, Record<string, Cell>>> = { checkin: {}, connect: {} };
  const bindDevice = (endpoint: 'checkin' | 'connect', kinds: readonly string[]): void => {
    for (const k of [...kinds, 'other']) {
      const byOutcome: Record<string, Cell> = {};
      for (const o of DEVICE_OUTCOMES) byOutcome[o] = deviceRequests(endpoint, k, o);
      device[endpoint]![k] = byOutcome;
    }
  };
  bindDevice('checkin', SUPPORTED_CHECKIN_TYPES);
  bindDevice('connect', [...REPORT_STATUSES, 'unparsed']);
  const commandChildren = Object.fromEntries(COMMAND_EVENTS.map((e) => [e, commandEvents(e)])) as Record<CommandEvent, Cell>;
  const pushChildren = Object.fromEntries(PUSH_RESULTS.map((r) => [r, pushes(r)])) as Record<PushResult, Cell>;
  const security = new Map<string, Cell>();
  const routes = new Map<string, AdminRouteMetrics>();

  return {
    registry,
    adminRoute(route, method) {
      const key = `${method} ${route}`;
      let r = routes.get(key);
      if (!r) {
        const hist = httpDuration.labels(route, method);
        const byStatus = new Map<number, Cell>();
        r = {
          observe(status, seconds) {
            let c = byStatus.get(status);
            if (!c) {
              c = httpRequests(route, method, String(status));
              byStatus.set(status, c);
            }
            c.n++;
            hist.observe(seconds);
          },
        };
        routes.set(key, r);
      }
      return r;
    },
    device(endpoint, kind, outcome) {
      const byKind = device[endpoint]!;
      (byKind[kind] ?? byKind.other!)[outcome]!.n++;
    },
    commands(event, n = 1) {
      if (n > 0) commandChildren[event].n += n;
    },
    push(result, n = 1) {
      if (n > 0) pushChildren[result].n += n;
    },
    auditAppended() {
      auditAppends.n++;
    },
    security(kind) {
      let c = security.get(kind);
      if (!c) {
        const label = KIND_RE.test(kind) && security.size < MAX_SECURITY_KINDS ? kind : 'other';
        c = security.get(label) ?? securityEvents(label);
        security.set(label, c);
        if (label === kind) security.set(kind, c);
      }
      c.n++;
    },
    async render(actor) {
      if (!hasPermission(actor, METRICS_READ)) throw forbidden('forbidden', `missing permission ${METRICS_READ}`);
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** Actions whose `details.reason` (a fixed word from the code) is part of the security-event kind. */
const REASONED = new Set(['gateway.integrity_violation', 'device_plane.rejected', 'enroll.challenge.denied', 'enroll.profile.denied']);
const REASON_RE = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * The security-event kind of an audit event, or undefined: every refused
 * ("denied") event by action (a device-plane or enrollment refusal with its
 * reason: "gateway.integrity_violation:identity_not_verified"), and failed
 * sign-ins ("auth.*" failures).
 */
export function securityKind(e: Pick<AuditEvent, 'action' | 'outcome' | 'details'>): string | undefined {
  if (e.outcome === 'denied') {
    const reason = e.details?.reason;
    return REASONED.has(e.action) && typeof reason === 'string' && REASON_RE.test(reason) ? `${e.action}:${reason}` : e.action;
  }
  if (e.outcome === 'failure' && e.action.startsWith('auth.')) return e.action;
  return undefined;
}

/** The recorder every service uses, counting appends and security events once the event is durable. */
export function instrumentAudit(recorder: AuditRecorder, metrics: Pick<Metrics, 'auditAppended' | 'security'>): AuditRecorder {
  return {
    async record(event) {
      await recorder.record(event);
      metrics.auditAppended();
      const kind = securityKind(event);
      if (kind !== undefined) metrics.security(kind);
    },
  };
}
