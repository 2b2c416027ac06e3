import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openAdminDirectoryStack } from '../directory/admin-testkit.ts';
import type { AdminDirectoryStack } from '../directory/admin-testkit.ts';
import { ENTERPRISE_SCHEMA, PATCH_SCHEMA, USER_SCHEMA } from './schema.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- SCIM JSON read loosely in assertions
type Loose = any;

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

describe('SCIM server', () => {
  let k: AdminDirectoryStack;
  let scim: { token: string; id: string };
  let headers: Record<string, string>;
  const call = async (method: string, url: string, payload?: unknown, extra: Record<string, string> = {}) => {
    const res = await k.app.inject({
      method: method as 'GET',
      url: `/scim/v2${url}`,
      headers: { ...headers, ...(payload !== undefined ? { 'content-type': 'application/scim+json' } : {}), ...extra },
      ...(payload !== undefined ? { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } : {}),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, Loose>) : null, headers: res.headers };
  };
  const scimError = (r: { status: number; body: Loose }, status: number, scimType?: string): void => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.deepEqual(r.body.schemas, [ERROR]);
    assert.equal(r.body.status, String(status));
    if (scimType) assert.equal(r.body.scimType, scimType);
  };
  before(async () => {
    k = await openAdminDirectoryStack();
    scim = await k.tokenFor(['scim.provision']);
    headers = { authorization: `Bearer ${scim.token}` };
  });
  after(async () => k.close());

  it('discovery endpoints', async () => {
    const spc = await call('GET', '/ServiceProviderConfig');
    assert.equal(spc.status, 200);
    assert.equal(spc.body?.patch.supported, true);
    assert.equal(spc.body?.etag.supported, true);
    assert.equal((await call('GET', '/ResourceTypes')).body?.totalResults, 2);
    assert.equal((await call('GET', '/Schemas')).body?.Resources.length, 3);
    assert.equal((await call('GET', `/Schemas/${USER_SCHEMA}`)).status, 200);
    scimError(await call('GET', '/Nope'), 404);
  });

  it('authentication: 401 without internals, 403 without scim.provision, both as SCIM errors', async () => {
    const none = await k.app.inject({ method: 'GET', url: '/scim/v2/Users' });
    assert.equal(none.statusCode, 401);
    assert.deepEqual(JSON.parse(none.body), { schemas: [ERROR], status: '401', detail: 'unauthorized' });
    const bogus = await k.app.inject({ method: 'GET', url: '/scim/v2/Users', headers: { authorization: `Bearer rmp_${'A'.repeat(43)}` } });
    assert.deepEqual(JSON.parse(bogus.body), { schemas: [ERROR], status: '401', detail: 'unauthorized' });
    const other = await k.tokenFor(['staff.read', 'staff.write', 'pii.reveal']);
    const r = await k.app.inject({ method: 'GET', url: '/scim/v2/Users', headers: { authorization: `Bearer ${other.token}` } });
    assert.equal(r.statusCode, 403);
    assert.equal(JSON.parse(r.body).detail, 'forbidden');
    // A SCIM token cannot use the admin API.
    assert.equal((await k.app.inject({ method: 'GET', url: '/api/v1/staff', headers })).statusCode, 403);
  });

  it('Entra ID flow: filter by userName, create, PATCH with emails[type eq "work"].value and "False", ETags, delete', async () => {
    const empty = await call('GET', `/Users?filter=${encodeURIComponent('userName eq "adele.v@contoso.example"')}`);
    assert.deepEqual([empty.status, empty.body?.totalResults, empty.body?.Resources], [200, 0, []]);
    const created = await call('POST', '/Users', {
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
      externalId: '8f2a3e4c-entra',
      userName: 'Adele.V@contoso.example',
      active: true,
      displayName: 'Adele Vance',
      title: 'Retail Manager',
      emails: [{ primary: true, type: 'work', value: 'Adele.V@contoso.example' }],
      name: { formatted: 'Adele Vance', familyName: 'Vance', givenName: 'Adele' },
      phoneNumbers: [{ type: 'mobile', value: '+1 425 555 0109' }],
      [ENTERPRISE_SCHEMA]: { employeeNumber: '1001', department: 'Retail', manager: { value: 'x' } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const u = created.body as Record<string, Loose>;
    assert.equal(created.headers.etag, 'W/"1"');
    assert.match(String(created.headers.location), /\/scim\/v2\/Users\//);
    assert.equal(u.name.givenName, 'Adele');
    assert.deepEqual(u.emails, [{ value: 'adele.v@contoso.example', type: 'work', primary: true }]);
    assert.equal(u.phoneNumbers[0].value, '+14255550109');
    assert.equal(u[ENTERPRISE_SCHEMA].employeeNumber, '1001');
    const found = await call('GET', `/Users?filter=${encodeURIComponent('userName eq "ADELE.V@contoso.example"')}`);
    assert.equal(found.body?.totalResults, 1);
    assert.equal(found.body?.Resources[0].id, u.id);
    const byExt = await call('GET', `/Users?filter=${encodeURIComponent('externalId eq "8f2a3e4c-entra"')}`);
    assert.equal(byExt.body?.Resources[0].id, u.id);
    const patched = await call('PATCH', `/Users/${u.id}`, {
      schemas: [PATCH_SCHEMA],
      Operations: [
        { op: 'Replace', path: 'displayName', value: 'Adele V.' },
        { op: 'Add', path: 'emails[type eq "work"].value', value: 'adele@contoso.example' },
        { op: 'Replace', path: 'name.familyName', value: 'Vance-Smith' },
        { op: 'Replace', path: `${ENTERPRISE_SCHEMA}:department`, value: 'Sales' },
        { op: 'Replace', path: 'active', value: 'False' },
      ],
    }, { 'if-match': 'W/"1"' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body?.active, false);
    assert.equal(patched.body?.displayName, 'Adele V.');
    assert.equal(patched.body?.emails[0].value, 'adele@contoso.example');
    assert.equal(patched.body?.name.familyName, 'Vance-Smith');
    assert.equal(patched.body?.[ENTERPRISE_SCHEMA].department, 'Sales');
    assert.equal(patched.headers.etag, 'W/"2"');
    const byMail = await call('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work"].value eq "adele@contoso.example"')}`);
    assert.equal(byMail.body?.totalResults, 1);
    scimError(await call('PATCH', `/Users/${u.id}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }, { 'if-match': 'W/"1"' }), 412);
    scimError(await call('DELETE', `/Users/${u.id}`, undefined, { 'if-match': 'W/"1"' }), 412);
    const del = await call('DELETE', `/Users/${u.id}`, undefined, { 'if-match': 'W/"2"' });
    assert.equal(del.status, 204);
    scimError(await call('GET', `/Users/${u.id}`), 404);
  });

  it('Okta flow: create, no-path PATCH {active:false}, PUT replace keeps device links, pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('POST', '/Users', {
        schemas: [USER_SCHEMA],
        userName: `okta.user${i}@example.com`,
        name: { givenName: 'Okta', familyName: `User${i}` },
        emails: [{ primary: true, value: `okta.user${i}@example.com`, type: 'work' }],
        displayName: `Okta User${i}`,
        locale: 'en-US',
        externalId: `00u${i}`,
        groups: [],
        password: 'ignored-by-rampart',
        active: true,
      });
      assert.equal(r.status, 201);
      ids.push(r.body?.id);
    }
    const p = await call('PATCH', `/Users/${ids[0]}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', value: { active: false } }] });
    assert.equal(p.body?.active, false);
    const suspended = await call('GET', `/Users?filter=${encodeURIComponent('active eq false')}`);
    assert.deepEqual(suspended.body?.Resources.map((x: { id: string }) => x.id), [ids[0]]);
    // Device links set by Rampart survive a PUT from the identity provider.
    await k.dir.replace({ type: 'token', id: 'admin', permissions: new Set(['*']) }, ids[1] as string, { userName: 'okta.user1@example.com', externalId: '00u1', deviceIds: ['UDID-OKTA'] }, 'admin');
    const put = await call('PUT', `/Users/${ids[1]}`, { schemas: [USER_SCHEMA], userName: 'okta.user1@example.com', externalId: '00u1', name: { givenName: 'Renamed', familyName: 'User1' }, active: true });
    assert.equal(put.status, 200);
    assert.equal(put.body?.name.givenName, 'Renamed');
    assert.deepEqual(await k.dir.staffForDevice('UDID-OKTA'), [ids[1]]);
    const pg = await call('GET', `/Users?filter=${encodeURIComponent('externalId sw "00u"')}&startIndex=2&count=2`);
    assert.deepEqual([pg.body?.totalResults, pg.body?.startIndex, pg.body?.itemsPerPage], [5, 2, 2]);
    const all = await call('GET', '/Users?startIndex=0&count=3');
    assert.deepEqual([all.body?.startIndex, all.body?.itemsPerPage], [1, 3]);
    const or = await call('GET', `/Users?filter=${encodeURIComponent('userName eq "okta.user2@example.com" or userName eq "okta.user3@example.com"')}`);
    assert.equal(or.body?.totalResults, 2);
    const and = await call('GET', `/Users?filter=${encodeURIComponent('userName eq "okta.user2@example.com" and externalId eq "00u3"')}`);
    assert.equal(and.body?.totalResults, 0);
  });

  it('Groups: create with members, Okta add, Entra remove by value filter, filter on displayName, excludedAttributes', async () => {
    const u1 = (await call('POST', '/Users', { schemas: [USER_SCHEMA], userName: 'g1@example.com' })).body?.id;
    const u2 = (await call('POST', '/Users', { schemas: [USER_SCHEMA], userName: 'g2@example.com' })).body?.id;
    const g = await call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Field Engineers', members: [{ value: u1 }] });
    assert.equal(g.status, 201);
    const gid = g.body?.id;
    const add = await call('PATCH', `/Groups/${gid}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: u2 }] }] });
    assert.deepEqual(add.body?.members.map((m: { value: string }) => m.value).sort(), [u1, u2].sort());
    const rm = await call('PATCH', `/Groups/${gid}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'Remove', path: `members[value eq "${u1}"]` }] });
    assert.deepEqual(rm.body?.members.map((m: { value: string }) => m.value), [u2]);
    const byName = await call('GET', `/Groups?filter=${encodeURIComponent('displayName eq "field engineers"')}&excludedAttributes=members`);
    assert.equal(byName.body?.totalResults, 1);
    assert.equal(byName.body?.Resources[0].members, undefined);
    assert.equal((await call('GET', `/Groups?filter=${encodeURIComponent('displayName co "Engineer"')}`)).body?.totalResults, 1);
    scimError(await call('POST', '/Groups', { displayName: 'Field Engineers' }), 409, 'uniqueness');
    scimError(await call('PATCH', `/Groups/${gid}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }] }), 400);
    assert.equal((await call('GET', `/Groups/${gid}`)).body?.members.length, 1);
    assert.equal((await call('DELETE', `/Groups/${gid}`)).status, 204);
  });

  it('errors: SCIM bodies with scimType; nothing partially applied', async () => {
    scimError(await call('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
    scimError(await call('GET', `/Users?filter=${encodeURIComponent('displayName co "Ad"')}`), 400, 'invalidFilter');
    scimError(await call('GET', `/Users?filter=${encodeURIComponent('emails co "@example"')}`), 400, 'invalidFilter');
    scimError(await call('GET', '/Users?count=abc'), 400, 'invalidValue');
    scimError(await call('POST', '/Users', '{"userName": '), 400, 'invalidSyntax');
    scimError(await call('POST', '/Users', '{"__proto__": {"x": 1}, "userName": "p@example.com"}'), 400);
    scimError(await call('POST', '/Users', { schemas: [USER_SCHEMA] }), 400, 'invalidValue');
    scimError(await call('POST', '/Users', { userName: 'ok@example.com', phoneNumbers: [{ value: 'not a phone' }] }), 400, 'invalidValue');
    const dup = await call('POST', '/Users', { userName: 'g1@EXAMPLE.com' });
    scimError(dup, 409, 'uniqueness');
    assert.ok(!JSON.stringify(dup.body).includes('g1'));
    const before = (await call('GET', '/Users?count=0')).body?.totalResults;
    const u = (await call('GET', `/Users?filter=${encodeURIComponent('userName eq "g2@example.com"')}`)).body?.Resources[0];
    scimError(await call('PATCH', `/Users/${u.id}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'ok' }, { op: 'replace', path: 'phoneNumbers', value: [{ value: 'bad' }] }] }), 400);
    scimError(await call('PATCH', `/Users/${u.id}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'bad[[path', value: 'x' }] }), 400, 'invalidPath');
    scimError(await call('PATCH', `/Users/${u.id}`, { Operations: [] }), 400, 'invalidSyntax');
    scimError(await call('PATCH', `/Users/${u.id}`, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'id', value: 'x' }] }), 400, 'mutability');
    const after = await call('GET', `/Users/${u.id}`);
    assert.equal(after.body?.displayName, undefined);
    assert.equal(after.headers.etag, `W/"${u.meta.version.match(/[0-9]+/)[0]}"`);
    assert.equal((await call('GET', '/Users?count=0')).body?.totalResults, before);
    const big = await call('POST', '/Users', { userName: `${'x'.repeat(300 * 1024)}@example.com` });
    scimError(big, 413);
  });

  it('every SCIM response with personal data is in the access log under the SCIM token', async () => {
    const r = await k.dir.accessByPrincipal({ type: 'token', id: 'a', permissions: new Set(['pii.access.read']) }, { principal: scim.id, since: new Date(0), limit: 1000 });
    assert.ok(r.subjects >= 7);
    assert.equal(r.revealedSubjects, r.subjects);
  });
});
