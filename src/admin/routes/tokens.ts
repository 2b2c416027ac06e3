// API token routes.
import { Type } from 'typebox';
import { AUTHENTICATED, defineRoute } from '../types.ts';
import type { TokenCreateInput } from '../../authz/tokens.ts';
import { CreatedToken, CreateTokenBody, IdString, TokenView } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;

export const listTokensRoute = defineRoute({
  id: 'listTokens',
  method: 'GET',
  url: '/api/v1/tokens',
  summary: "The caller's tokens; another administrator's (or everyone's: principal=*) with tokens.manage",
  tags: ['tokens'],
  permission: AUTHENTICATED,
  servicePermissions: ['tokens.manage (for another principal)'],
  schema: {
    querystring: Type.Object({ principal: Type.Optional(Type.Union([IdString, Type.Literal('*')])) }, closed),
    response: { 200: Type.Object({ items: Type.Array(TokenView) }, closed) },
  },
  async handler({ actor, query, services }) {
    return { status: 200, body: { items: await services.authz.tokens.list(actor!, query.principal) } };
  },
});

export const createTokenRoute = defineRoute({
  id: 'createToken',
  method: 'POST',
  url: '/api/v1/tokens',
  summary: 'Create an API token (shown once): scopes within the caller\'s permissions, expiring, optionally bound to networks',
  tags: ['tokens'],
  permission: 'tokens.manage',
  servicePermissions: ['every scope of the token'],
  audit: 'token.create',
  schema: { body: CreateTokenBody, response: { 201: CreatedToken } },
  async handler({ actor, body, services }) {
    const input: TokenCreateInput = { name: body.name, scopes: body.scopes };
    if (body.expiresAt !== undefined) input.expiresAt = body.expiresAt;
    if (body.networks !== undefined) input.networks = body.networks;
    return { status: 201, body: await services.authz.tokens.create(actor!, input) };
  },
});

export const revokeTokenRoute = defineRoute({
  id: 'revokeToken',
  method: 'DELETE',
  url: '/api/v1/tokens/:id',
  summary: "Revoke a token (one's own; another administrator's with tokens.manage)",
  tags: ['tokens'],
  permission: AUTHENTICATED,
  servicePermissions: ['tokens.manage (for another administrator\'s token)'],
  audit: 'token.revoke',
  schema: { params: Type.Object({ id: IdString }, closed), response: { 200: TokenView } },
  async handler({ actor, params, services }) {
    return { status: 200, body: await services.authz.tokens.revoke(actor!, params.id) };
  },
});
