// Shapes of the admin plane: the authenticator, the server's dependencies and
// a route definition. Routes are data: the server, the OpenAPI generator and
// the tests all walk the same list.
import type { Static, TSchema } from 'typebox';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { Actor, CommandService, DeviceService } from '../services/types.ts';
import type { AuthzServices } from '../authz/services.ts';
import type { IdentityService } from '../identity/service.ts';
import type { CookieRequest } from '../identity/sessions.ts';
import type { PushCertService } from '../push/cert-service.ts';
import type { GroupService } from '../groups/service.ts';
import type { BulkService } from '../bulk/service.ts';
import type { InvitationService } from '../enroll/invitations.ts';
import type { RevocationService } from '../enroll/revocation.ts';
import type { CaService } from '../enroll/ca-admin.ts';
import type { AuditReadService } from '../audit/service.ts';
import type { Metrics } from '../core/metrics.ts';
import type { StaffDirectory } from '../directory/staff.ts';
import type { GroupService as StaffGroupService } from '../directory/groups.ts';

export interface Credentials {
  /** The bearer token as presented (already stripped of "Bearer "). */
  bearer: string;
  source?: string;
  requestId?: string;
}

export interface Authenticator {
  /** The actor for a valid token; throws RampartError('unauthorized') otherwise. */
  authenticate(cred: Credentials): Promise<Actor>;
}

export interface HealthReport {
  /** "unavailable" answers 503 on the public health route. */
  status: 'ok' | 'degraded' | 'unavailable';
  /** Per-component results; logged, not shown on the public route. */
  checks?: Record<string, 'ok' | 'fail'>;
}

export interface AdminServices {
  devices: DeviceService;
  commands: CommandService;
  health: () => Promise<HealthReport>;
  /** Administrators, roles, API tokens and approvals (src/authz). */
  authz: AuthzServices;
  /** Sign-in, MFA, sessions and local accounts (src/identity); the /api/v1/auth routes answer 503 without it. */
  identity?: IdentityService;
  /** Push certificate management (absent: the push routes answer 404). */
  push?: PushCertService;
  /** Device groups (absent: 404). */
  groups?: GroupService;
  /** Fleet-wide and group actions (absent: 404). */
  bulk?: BulkService;
  /** Invitations and the CA (src/enroll); the routes answer 503 without them. */
  enrollment?: { invitations: InvitationService; ca: CaService; revocation?: RevocationService };
  auditLog: AuditReadService;
  /** Prometheus metrics of this node (src/core/metrics.ts); GET /metrics answers 404 without them. */
  metrics?: Pick<Metrics, 'render' | 'adminRoute'>;
  /** The staff directory (src/directory); routes answer 503 without it. */
  directory?: StaffDirectory;
  /** The pii.export job behind its approval gate (src/directory/export.ts). */
  exportJob?: (actor: Actor, recipientB64: string) => Promise<{ file: Uint8Array; rows: number; recipient: string }>;
  /** The sealed file of an approved export, once, to its requester (src/directory/export-approval.ts). */
  exportDownload?: (actor: Actor, id: string) => Promise<{ file: Uint8Array; rows: number; recipient: string }>;
}

export interface AdminServerDeps extends AdminServices {
  auth: Authenticator;
  /** Browser sessions: used when a request has no bearer token (src/identity/sessions.ts). */
  sessions?: { authenticateCookie(req: CookieRequest): Promise<Actor> };
  /** SCIM Groups (src/directory/groups.ts); with `directory`, enables /scim/v2. */
  scimGroups?: StaffGroupService;
  audit: AuditRecorder;
  logger?: Logger;
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed (RAMPART_TRUST_PROXY); default none. */
  trustProxy?: readonly string[];
  limits?: {
    /** Largest request body on any route, bytes (default 1 MiB). */
    bodyBytes?: number;
    /**
     * Largest body of POST /api/v1/commands when the command carries a
     * profile or a manifest (InstallProfile, InstallProvisioningProfile,
     * InstallEnterpriseApplication); default 1 MiB. Other command types keep
     * `bodyBytes`.
     */
    installProfileBodyBytes?: number;
  };
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteSchema {
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /** Success responses by status code. */
  response: Record<number, TSchema>;
}

type StaticOf<T> = T extends TSchema ? Static<T> : undefined;

export interface RouteContext<S extends RouteSchema> {
  actor: Actor | null;
  params: StaticOf<S['params']>;
  query: StaticOf<S['querystring']>;
  body: StaticOf<S['body']>;
  services: AdminServices;
  /** The full route list (for the OpenAPI route). */
  routes: readonly AnyRoute[];
  /** Where the request came from, and its Cookie header (sign-in routes). */
  request: { source: string; requestId: string; cookie: string | undefined };
}

export interface RouteReply {
  /** One of the route's response codes. */
  status: number;
  body: unknown;
  /** Extra response headers (Set-Cookie, Location). */
  headers?: Record<string, string | string[]>;
  /** Content type when the body is not JSON (e.g. a stream of JSON Lines). */
  type?: string;
}

/** Pseudo-permission held by every authenticated caller. */
export const AUTHENTICATED = 'authenticated';

export interface RouteDef<S extends RouteSchema = RouteSchema> {
  /** OpenAPI operationId. */
  id: string;
  method: HttpMethod;
  /** Fastify path, ":name" for parameters. */
  url: string;
  summary: string;
  tags: string[];
  /**
   * Permission checked before the body is read (the service checks it again,
   * exactly). null only for routes on PUBLIC_ROUTES; AUTHENTICATED for
   * routes any valid token may call.
   */
  permission: string | null;
  /** Further permissions the service checks, for the documentation. */
  servicePermissions?: string[];
  /** Audit action recorded by the service for state-changing routes. */
  audit?: string;
  /** Four-eyes action the route may be held for (answers 202 with the approval; src/authz/approvals.ts). */
  approval?: string;
  /** Media type of the success response when it is not application/json. */
  contentType?: string;
  /** Body limit override (bytes). */
  bodyLimit?: (limits: Required<NonNullable<AdminServerDeps['limits']>>) => number;
  schema: S;
  handler(ctx: RouteContext<S>): Promise<RouteReply>;
}

/** A route of any schema (the list the server walks). */
export type AnyRoute = RouteDef<RouteSchema>;

export function defineRoute<S extends RouteSchema>(def: RouteDef<S>): RouteDef<S> {
  return def;
}
