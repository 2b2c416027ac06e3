// TypeBox schemas of the administrator, role, token and approval routes.
import { Type } from 'typebox';
import { Nullable, JsonAny } from '../schemas.ts';
import { ROLE_NAME_PATTERN } from '../../authz/catalogue.ts';
import { USERNAME_PATTERN } from '../../authz/admins.ts';

const closed = { additionalProperties: false } as const;

export const IdString = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$', maxLength: 128 });
export const ApprovalId = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
export const RoleName = Type.String({ pattern: ROLE_NAME_PATTERN, maxLength: 64 });
export const PermissionName = Type.String({ pattern: '^(?:\\*|[a-z]+(?:\\.[a-z]+){1,3})$', maxLength: 64 });
export const Username = Type.String({ pattern: USERNAME_PATTERN, maxLength: 64 });
const Text = (max: number) => Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]*$', maxLength: max });
const Iso = Type.String({ maxLength: 40, pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})$' });

export const Assignment = Type.Object(
  { role: Type.String(), groups: Type.Array(Type.String()), source: Type.Union([Type.Literal('local'), Type.Literal('idp')]), createdAt: Type.String(), createdBy: Type.String() },
  closed,
);

export const AdminView = Type.Object(
  { id: Type.String(), username: Type.String(), createdAt: Type.String(), disabledAt: Nullable(Type.String()), roles: Type.Array(Assignment) },
  closed,
);

export const CreateAdminBody = Type.Object({ username: Username, roles: Type.Optional(Type.Array(RoleName, { maxItems: 16 })) }, closed);
export const AssignBody = Type.Object(
  { role: RoleName, groups: Type.Optional(Type.Array(IdString, { maxItems: 100 })) },
  closed,
);

export const RoleView = Type.Object(
  { name: Type.String(), description: Type.String(), permissions: Type.Array(Type.String()), builtIn: Type.Boolean() },
  closed,
);
export const RoleBody = Type.Object(
  { name: RoleName, description: Text(300), permissions: Type.Array(PermissionName, { minItems: 1, maxItems: 64 }) },
  closed,
);
export const RoleUpdateBody = Type.Object(
  { description: Text(300), permissions: Type.Array(PermissionName, { minItems: 1, maxItems: 64 }) },
  closed,
);
export const PermissionList = Type.Object(
  { items: Type.Array(Type.Object({ name: Type.String(), description: Type.String() }, closed)) },
  closed,
);

export const TokenView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    principalId: Type.String(),
    scopes: Type.Array(Type.String()),
    networks: Type.Array(Type.String()),
    createdAt: Type.String(),
    expiresAt: Nullable(Type.String()),
    lastUsedAt: Nullable(Type.String()),
    revokedAt: Nullable(Type.String()),
  },
  closed,
);
export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}$', maxLength: 64 }),
    scopes: Type.Array(PermissionName, { minItems: 1, maxItems: 64 }),
    expiresAt: Type.Optional(Iso),
    networks: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?$', maxLength: 64 }), { maxItems: 32 })),
  },
  closed,
);
export const CreatedToken = Type.Object(
  { token: Type.String({ description: 'shown once; only its SHA-256 is stored' }), record: TokenView },
  closed,
);

export const ApprovalStatus = Type.Union(
  ['pending', 'executing', 'executed', 'failed', 'denied', 'interrupted', 'expired'].map((s) => Type.Literal(s)),
);
export const ApprovalView = Type.Object(
  {
    id: Type.String(),
    action: Type.String(),
    summary: Type.String(),
    params: JsonAny,
    paramsHash: Type.String({ description: 'SHA-256 (hex) of the RFC 8785 canonical parameters' }),
    units: Type.Integer(),
    target: Nullable(Type.Object({ type: Type.String(), id: Type.String() }, closed)),
    status: ApprovalStatus,
    requester: Type.Object({ type: Type.String(), id: Type.String(), principalId: Type.String() }, closed),
    createdAt: Type.String(),
    expiresAt: Type.String(),
    decidedBy: Nullable(Type.String()),
    decidedAt: Nullable(Type.String()),
    reason: Nullable(Type.String()),
    finishedAt: Nullable(Type.String()),
    result: JsonAny,
  },
  closed,
);
export const DenyBody = Type.Object({ reason: Type.Optional(Text(300)) }, closed);
