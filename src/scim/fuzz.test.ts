// Property tests of the SCIM service over HTTP: malformed filters, oversized
// values, unicode edge cases and duplicate identities get SCIM errors, never
// a 500, and a refused request changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openAdminDirectoryStack } from '../directory/admin-testkit.ts';
import type { AdminDirectoryStack } from '../directory/admin-testkit.ts';
import { PATCH_SCHEMA, USER_SCHEMA } from './schema.ts';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const edgy = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', 'evil\u202etxt', '\u2066x\u2069', 'e\u0301', '\u00e9', 'ｅｍｐ', '\ud800', 'x'.repeat(5000), '"', '\\', '<script>', 'dup@example.org', 'DUP@example.org'),
);

describe('SCIM fuzzing', () => {
  let k: AdminDirectoryStack;
  let headers: Record<string, string>;
  before(async () => {
    k = await openAdminDirectoryStack();
    headers = { authorization: `Bearer ${(await k.tokenFor(['scim.provision'])).token}`, 'content-type': 'application/scim+json' };
  });
  after(async () => k.close());

  const total = async (): Promise<number> => JSON.parse((await k.app.inject({ method: 'GET', url: '/scim/v2/Users?count=0', headers })).body).totalResults as number;

  it('random filters: 200 or 400 invalidFilter, never anything else', async () => {
    const tokens = fc.constantFrom('userName', 'emails', 'emails[type eq "work"].value', 'externalId', 'active', 'displayName', 'phoneNumbers.value', ' eq ', ' co ', ' sw ', ' pr', ' and ', ' or ', 'not ', '(', ')', '"a"', '"dup@example.org"', 'true', '[', ']', '\u0000', '\u202e');
    // (A lone surrogate cannot be put in a URL at all.)
    await fc.assert(fc.asyncProperty(fc.oneof(edgy, fc.array(tokens, { maxLength: 12 }).map((a) => a.join(''))).filter((x) => x.isWellFormed()), async (f) => {
      const res = await k.app.inject({ method: 'GET', url: `/scim/v2/Users?filter=${encodeURIComponent(f)}`, headers });
      const b = JSON.parse(res.body);
      if (res.statusCode === 200) return Array.isArray(b.Resources);
      return res.statusCode === 400 && b.schemas?.[0] === ERROR && (b.scimType === 'invalidFilter' || b.scimType === 'invalidValue');
    }), { numRuns: 300 });
  });

  it('random users: created, or a SCIM 4xx that stores nothing; duplicate identities refused', async () => {
    await fc.assert(fc.asyncProperty(edgy, edgy, edgy, fc.option(edgy), fc.boolean(), async (userName, given, email, phone, active) => {
      const n = await total();
      const body = { schemas: [USER_SCHEMA], userName, name: { givenName: given }, emails: [{ type: 'work', value: email }], ...(phone !== null ? { phoneNumbers: [{ value: phone }] } : {}), active };
      const res = await k.app.inject({ method: 'POST', url: '/scim/v2/Users', headers, payload: JSON.stringify(body) });
      const b = JSON.parse(res.body);
      if (res.statusCode === 201) return (await total()) === n + 1;
      assert.ok([400, 409, 413].includes(res.statusCode), `${res.statusCode} ${res.body}`);
      assert.equal(b.schemas[0], ERROR);
      // Fixed details only: nothing of the input comes back.
      assert.match(b.detail, /^(invalid [A-Za-z.]+|invalid value for [A-Za-z.]+|userName is required|userName or externalId already exists|body too large|invalid request)$/);
      return (await total()) === n;
    }), { numRuns: 200 });
  });

  it('random PATCH operations: 200, or a SCIM 4xx that leaves the record as it was', async () => {
    const created = await k.app.inject({ method: 'POST', url: '/scim/v2/Users', headers, payload: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'patch-target@example.org' }) });
    const id = JSON.parse(created.body).id as string;
    const path = fc.oneof(fc.constantFrom('displayName', 'name.givenName', 'emails[type eq "work"].value', 'phoneNumbers', 'active', 'userName', 'id', 'meta', 'emails[', 'x]]', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber'), edgy);
    const op = fc.record({ op: fc.constantFrom('add', 'replace', 'remove', 'Replace', 'delete'), path: fc.option(path, { nil: undefined }), value: fc.option(fc.oneof(edgy, fc.boolean(), fc.constant({ active: false }), fc.constant([{ value: '+32470000009' }])), { nil: undefined }) });
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 4 }), async (ops) => {
      const before = await k.app.inject({ method: 'GET', url: `/scim/v2/Users/${id}`, headers });
      const res = await k.app.inject({ method: 'PATCH', url: `/scim/v2/Users/${id}`, headers, payload: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: ops }) });
      if (res.statusCode === 200) return true;
      assert.ok([400, 409].includes(res.statusCode), `${res.statusCode} ${res.body}`);
      assert.equal(JSON.parse(res.body).schemas[0], ERROR);
      const after = await k.app.inject({ method: 'GET', url: `/scim/v2/Users/${id}`, headers });
      return after.headers.etag === before.headers.etag && after.body === before.body;
    }), { numRuns: 200 });
  });
});
