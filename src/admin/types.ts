// Shapes of the admin plane: the authenticator, the server's dependencies and
// a route definition. Routes are data: the server, the OpenAPI generator and
// the tests all walk the same list.
import type { Static, TSchema } from 'typebox';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { Actor, CommandService, DeviceService } from '../services/types.ts';
import type { StaffDirectory } from '../directory/staff.ts';
import type { GroupService } from '../directory/groups.ts';

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
  /** The staff directory (src/directory); routes answer 503 without it. */
  directory?: StaffDirectory;
  /** The pii.export job behind its approval gate (src/directory/export.ts). */
  exportJob?: (actor: Actor, recipientB64: string) => Promise<{ file: Uint8Array; rows: number; recipient: string }>;
}

export interface AdminServerDeps extends AdminServices {
  auth: Authenticator;
  /** SCIM Groups (src/directory/groups.ts); with `directory`, enables /scim/v2. */
  groups?: GroupService;
  audit: AuditRecorder;
  logger?: Logger;
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

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

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
}

export interface RouteReply {
  /** One of the route's response codes. */
  status: number;
  body: unknown;
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
