// The OpenAPI document of this listener, for any authenticated caller.
import { Type } from 'typebox';
import { AUTHENTICATED, defineRoute } from '../types.ts';
import { buildOpenApi } from '../openapi.ts';

export const openApiRoute = defineRoute({
  id: 'getOpenApi',
  method: 'GET',
  url: '/api/v1/openapi.json',
  summary: 'This OpenAPI document',
  tags: ['meta'],
  permission: AUTHENTICATED,
  schema: { response: { 200: Type.Unknown() } },
  async handler({ routes }) {
    return { status: 200, body: buildOpenApi(routes) };
  },
});
