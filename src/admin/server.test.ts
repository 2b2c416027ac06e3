import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestStack } from './testkit.ts';
import type { TestStack } from './testkit.ts';
import { PUBLIC_ROUTES, ROUTES, routeKey } from './routes/index.ts';
import { checkRouteTable, SECURITY_HEADERS } from './server.ts';
import { hashToken } from './tokens.ts';
import type { AnyRoute } from './types.ts';
import { AUTHENTICATED } from './types.ts';

const UNAUTHORIZED = { error: 'unauthorized', message: 'unauthorized' };
const DEVICE = 'UDID-0001';
const UUID = '5f0c6e0e-9f6b-4c1e-8a34-1b2c3d4e5f60';

/** The permission each route must require; a new route fails this test until it is added here. */
const REQUIRED_PERMISSION: Record<string, string | null> = {
  'GET /api/v1/health': null,
  'GET /api/v1/devices': 'devices.read',
  'GET /api/v1/devices/:id': 'devices.read',
  'GET /api/v1/devices/:id/commands': 'commands.read',
  'POST /api/v1/commands': 'commands.send',
  'GET /api/v1/commands/:uuid': 'commands.read',
  'GET /api/v1/commands/:uuid/devices/:deviceId': 'commands.read',
  'DELETE /api/v1/commands/:uuid/devices/:deviceId': 'commands.cancel',
  'GET /api/v1/openapi.json': AUTHENTICATED,
  'GET /api/v1/admins': 'admins.read',
  'GET /api/v1/admins/:id': 'admins.read',
  'POST /api/v1/admins': 'admins.manage',
  'POST /api/v1/admins/:id/disable': 'admins.manage',
  'POST /api/v1/admins/:id/roles': 'roles.manage',
  'DELETE /api/v1/admins/:id/roles/:role': 'roles.manage',
  'GET /api/v1/permissions': AUTHENTICATED,
  'GET /api/v1/roles': 'admins.read',
  'GET /api/v1/roles/:name': 'admins.read',
  'POST /api/v1/roles': 'roles.manage',
  'PUT /api/v1/roles/:name': 'roles.manage',
  'DELETE /api/v1/roles/:name': 'roles.manage',
  'GET /api/v1/tokens': AUTHENTICATED,
  'POST /api/v1/tokens': 'tokens.manage',
  'DELETE /api/v1/tokens/:id': AUTHENTICATED,
  'GET /api/v1/approvals': AUTHENTICATED,
  'GET /api/v1/approvals/:id': AUTHENTICATED,
  'POST /api/v1/approvals/:id/approve': 'approvals.decide',
  'POST /api/v1/approvals/:id/deny': 'approvals.decide',
  // Sign-in (src/identity): entry points public, the rest for any signed-in caller; the service checks more.
  'POST /api/v1/auth/login': null,
  'POST /api/v1/auth/mfa': null,
  'POST /api/v1/auth/mfa/webauthn/options': null,
  'POST /api/v1/auth/enroll/password': null,
  'POST /api/v1/auth/enroll/totp': null,
  'POST /api/v1/auth/enroll/totp/confirm': null,
  'GET /api/v1/auth/oidc/start': null,
  'GET /api/v1/auth/oidc/callback': null,
  'GET /api/v1/auth/me': AUTHENTICATED,
  'POST /api/v1/auth/logout': AUTHENTICATED,
  'POST /api/v1/auth/stepup': AUTHENTICATED,
  'POST /api/v1/auth/stepup/webauthn/options': AUTHENTICATED,
  'POST /api/v1/auth/webauthn/register/options': AUTHENTICATED,
  'POST /api/v1/auth/webauthn/register': AUTHENTICATED,
  'DELETE /api/v1/auth/webauthn/:id': AUTHENTICATED,
  'POST /api/v1/auth/totp': AUTHENTICATED,
  'POST /api/v1/auth/totp/confirm': AUTHENTICATED,
  'POST /api/v1/auth/recovery-codes': AUTHENTICATED,
  'POST /api/v1/auth/password': AUTHENTICATED,
  'GET /api/v1/auth/sessions': AUTHENTICATED,
  'DELETE /api/v1/auth/sessions/:handle': AUTHENTICATED,
  'POST /api/v1/accounts': 'admins.manage',
  'POST /api/v1/accounts/:id/disable': 'admins.manage',
  'POST /api/v1/accounts/:id/enable': 'admins.manage',
  'POST /api/v1/push/certificate': 'push.manage',
  'GET /api/v1/push/certificate': 'push.manage',
  'GET /api/v1/groups': 'groups.read',
  'POST /api/v1/groups': 'groups.manage',
  'GET /api/v1/groups/:id': 'groups.read',
  'DELETE /api/v1/groups/:id': 'groups.manage',
  'GET /api/v1/groups/:id/members': 'groups.read',
  'POST /api/v1/groups/:id/members': 'groups.manage',
  'POST /api/v1/groups/:id/members/remove': 'groups.manage',
  'POST /api/v1/commands/bulk': 'commands.bulk',
  'GET /api/v1/commands/bulk/:id': 'commands.read',
  'POST /api/v1/enrollment/invitations': 'enroll.invite',
  'GET /api/v1/enrollment/invitations': 'enroll.invite',
  'DELETE /api/v1/enrollment/invitations/:id': 'enroll.invite',
  'GET /api/v1/ca': 'ca.read',
  'POST /api/v1/ca/rotate': 'ca.manage',
  'POST /api/v1/ca/import': 'ca.manage',
  'POST /api/v1/ca/csr': 'ca.manage',
  'POST /api/v1/ca/revoke': 'ca.manage',
  'GET /api/v1/audit/checkpoint': 'audit.read',
  'GET /api/v1/audit/proof/inclusion': 'audit.read',
  'GET /api/v1/audit/proof/consistency': 'audit.read',
  'GET /api/v1/audit/entries': 'audit.read',
  'GET /api/v1/audit/export': 'audit.read',
  'GET /api/v1/staff': 'staff.read',
  'POST /api/v1/staff/search': 'staff.read',
  'GET /api/v1/staff/:id': 'staff.read',
  'POST /api/v1/staff/:id/reveal': 'pii.reveal',
  'POST /api/v1/staff': 'staff.write',
  'POST /api/v1/staff/:id': 'staff.write',
  'DELETE /api/v1/staff/:id': 'staff.write',
  'POST /api/v1/staff/import': 'staff.write',
  'POST /api/v1/staff/export': 'pii.export',
  'GET /api/v1/staff/exports/:id': 'pii.export',
  'GET /api/v1/pii/access': 'pii.access.read',
  'GET /metrics': 'metrics.read',
};

/** A concrete URL for a route pattern. */
function concrete(r: Pick<AnyRoute, 'url'>): string {
  return r.url.replace(':id', DEVICE).replace(':deviceId', DEVICE).replace(':uuid', UUID);
}

function validBody(r: AnyRoute): string | undefined {
  if (!r.schema.body) return undefined;
  return JSON.stringify({ deviceIds: [DEVICE], requestType: 'DeviceLock', payload: {} });
}

describe('admin server', () => {
  let s: TestStack;
  before(async () => {
    s = await createTestStack();
    await s.addDevice(DEVICE, { serialNumber: 'C02TEST0001' });
  });
  after(async () => {
    await s.close();
  });

  it('has exactly the expected routes, each requiring the expected permission', () => {
    assert.deepEqual(
      Object.fromEntries(ROUTES.map((r) => [routeKey(r), r.permission])),
      REQUIRED_PERMISSION,
    );
  });

  it('public routes are exactly the allowlist: health and the sign-in entry points', () => {
    const publicRoutes = ROUTES.filter((r) => r.permission === null).map(routeKey);
    assert.deepEqual(publicRoutes, [...PUBLIC_ROUTES]);
    assert.deepEqual([...PUBLIC_ROUTES].filter((k) => !/^(POST|GET) \/api\/v1\/auth\//.test(k)), ['GET /api/v1/health']);
  });

  it('refuses a route table with an unlisted public route', () => {
    const sneaky = { ...ROUTES[1]!, permission: null };
    assert.throws(() => checkRouteTable([...ROUTES.slice(0, 1), sneaky]), /not on the public allowlist/);
    assert.throws(() => checkRouteTable([ROUTES[1]!, ROUTES[1]!]), /duplicate/);
  });

  it('the public health route answers without a token', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/health' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  for (const r of ROUTES.filter((x) => x.permission !== null)) {
    describe(`${routeKey(r)} without valid credentials`, () => {
      const cases: Array<[string, Record<string, string>]> = [
        ['no token', {}],
        ['empty bearer', { authorization: 'Bearer ' }],
        ['basic auth', { authorization: 'Basic cm9vdDpyb290' }],
        ['malformed token', { authorization: 'Bearer rmp_short' }],
        ['unknown token', { authorization: `Bearer rmp_${'A'.repeat(43)}` }],
      ];
      for (const [name, headers] of cases) {
        it(`401 with ${name}`, async () => {
          const body = validBody(r);
          const res = await s.app.inject({
            method: r.method,
            url: concrete(r),
            headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
            ...(body ? { payload: body } : {}),
          });
          assert.equal(res.statusCode, 401);
          assert.deepEqual(res.json(), UNAUTHORIZED);
          assert.equal(res.headers['www-authenticate'], 'Bearer');
        });
      }
      it('401 with an expired token and with a revoked token', async () => {
        const expired = await s.tokenFor(['*'], { expiresAt: new Date(s.clock.now.getTime() + 1000).toISOString() });
        const revokedToken = await s.tokenFor(['*']);
        const rec = (await s.storage.tokens.getBySecretHash(hashToken(revokedToken)))!;
        assert.equal(await s.storage.tokens.revoke(rec.id, s.clock.now.toISOString()), true);
        const saved = s.clock.now;
        s.clock.now = new Date(saved.getTime() + 2000);
        try {
          for (const t of [expired, revokedToken]) {
            const res = await s.app.inject({ method: r.method, url: concrete(r), headers: { authorization: `Bearer ${t}` } });
            assert.equal(res.statusCode, 401);
            assert.deepEqual(res.json(), UNAUTHORIZED);
          }
        } finally {
          s.clock.now = saved;
        }
      });
    });
  }

  it('a valid token reaches every route (no 401)', async () => {
    for (const r of ROUTES) {
      const body = validBody(r);
      const res = await s.app.inject({
        method: r.method,
        url: concrete(r),
        headers: { authorization: `Bearer ${s.rootToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { payload: body } : {}),
      });
      assert.notEqual(res.statusCode, 401, routeKey(r));
      assert.ok(res.statusCode < 500, `${routeKey(r)} ${res.statusCode} ${res.body}`);
    }
  });

  describe('path normalisation variants never reach a handler unauthenticated', () => {
    const variants = [
      '/api/v1/../api/v1/devices',
      '/api/v1/..;/api/v1/devices',
      '/api/v1/%2e%2e/api/v1/devices',
      '/api/v1/%2E%2E/v1/devices',
      '//api/v1/devices',
      '/api//v1/devices',
      '/API/V1/DEVICES',
      '/Api/v1/devices',
      '/api/v1/devices/',
      '/api/v1/devices;',
      '/api/v1/devices;.json',
      '/api/v1%2Fdevices',
      '/api%2Fv1%2Fdevices',
      '/api/v1/devices%2F',
      '/api/v1/devices/%2e',
      '/api/v1/health/../devices',
      '/api/v1/health/..%2Fdevices',
      '/api/v1/health%2F..%2Fdevices',
      '/api/v1/health;/../devices',
      '/api/v1/health?x=/../devices',
      '/api/v1/health/',
      '/API/V1/HEALTH',
      '/api/v1/%',
      '/api/v1/devices/%zz',
      '/api/v1/devices/' + 'a'.repeat(300),
      '/api/v2/devices',
      '/api/v1/nope',
      '/',
      '/favicon.ico',
      '/docs',
      '/metrics',
    ];
    for (const url of variants) {
      for (const method of ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'] as const) {
        if (method === 'GET' && url === '/api/v1/health?x=/../devices') continue;
        it(`${method} ${url} → 401`, async () => {
          const before = s.audit.events.length;
          const res = await s.app.inject({ method, url });
          assert.equal(res.statusCode, 401, res.body);
          if (method !== 'HEAD') assert.deepEqual(res.json(), UNAUTHORIZED);
          assert.equal(s.audit.events.length, before, 'no handler ran');
        });
      }
    }
    it('GET /api/v1/health?x=/../devices is just the health route', async () => {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/health?x=/../devices' });
      assert.deepEqual(res.json(), { status: 'ok' });
    });
  });

  it('unknown routes answer 404 with a fixed body once authenticated', async () => {
    for (const url of ['/api/v1/nope', '/API/V1/DEVICES', '//api/v1/devices', '/api/v1/../api/v1/devices', '/api/v1/health/']) {
      const res = await s.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(res.statusCode, 404, url);
      assert.deepEqual(res.json(), { error: 'not_found', message: 'not found' });
    }
    // A trailing slash on /devices is /devices/:id with an empty id: refused by validation.
    for (const url of ['/api/v1/devices/%zz', '/api/v1/devices/']) {
      const bad = await s.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(bad.statusCode, 400, url);
      assert.deepEqual(bad.json(), { error: 'bad_request', message: 'invalid request', ...(url.endsWith('/') ? { issues: ['params/id'] } : {}) });
    }
    const dots = await s.app.inject({ method: 'GET', url: '/api/v1/devices/%2e%2e', headers: { authorization: `Bearer ${s.rootToken}` } });
    assert.ok(dots.statusCode === 400 || dots.statusCode === 404);
  });

  describe('bodies', () => {
    const post = (payload: string | Buffer, headers: Record<string, string>) =>
      s.app.inject({ method: 'POST', url: '/api/v1/commands', headers, payload });

    it('malformed JSON, wrong content type and oversized bodies are 401 without a token', async () => {
      for (const [payload, type] of [
        ['{"deviceIds": [', 'application/json'],
        ['{"__proto__": {"x": 1}}', 'application/json'],
        ['<plist/>', 'application/xml'],
        ['x=1', 'application/x-www-form-urlencoded'],
        ['hello', 'text/plain'],
        [Buffer.alloc(2 * 1024 * 1024, 0x20), 'application/json'],
      ] as const) {
        const res = await post(payload, { 'content-type': type });
        assert.equal(res.statusCode, 401);
        assert.deepEqual(res.json(), UNAUTHORIZED);
      }
    });

    it('authenticated: malformed JSON is 400, poisoning is 400, wrong type is 415, oversized is 413, all fixed bodies', async () => {
      const auth = { authorization: `Bearer ${s.rootToken}` };
      let res = await post('{"deviceIds": [', { ...auth, 'content-type': 'application/json' });
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid request' });
      res = await post('{"__proto__": {"x": 1}}', { ...auth, 'content-type': 'application/json' });
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { error: 'bad_request', message: 'invalid request' });
      res = await post('hello', { ...auth, 'content-type': 'text/plain' });
      assert.equal(res.statusCode, 415);
      assert.deepEqual(res.json(), { error: 'unsupported_media_type', message: 'unsupported content type' });
      res = await post(Buffer.alloc(2 * 1024 * 1024, 0x20), { ...auth, 'content-type': 'application/json' });
      assert.equal(res.statusCode, 413);
      assert.deepEqual(res.json(), { error: 'payload_too_large', message: 'body too large' });
    });

    it('validation errors list paths, never values', async () => {
      const secret = 'SECRET-VALUE-123';
      const res = await post(JSON.stringify({ deviceIds: [secret + '!'], requestType: 'DeviceLock', extra: secret }), {
        authorization: `Bearer ${s.rootToken}`,
        'content-type': 'application/json',
      });
      assert.equal(res.statusCode, 400);
      const body = res.json() as { error: string; message: string; issues: string[] };
      assert.equal(body.error, 'bad_request');
      assert.equal(body.message, 'invalid request');
      assert.ok(Array.isArray(body.issues) && body.issues.length > 0);
      assert.ok(!res.body.includes(secret));
      assert.ok(!res.body.includes('extra'));
    });

    it('no type coercion: numbers and booleans where strings are declared are refused', async () => {
      const res = await post(JSON.stringify({ deviceIds: [DEVICE], requestType: 123 }), {
        authorization: `Bearer ${s.rootToken}`,
        'content-type': 'application/json',
      });
      assert.equal(res.statusCode, 400);
      assert.deepEqual((res.json() as { issues: string[] }).issues, ['body/requestType']);
      const q = await s.app.inject({ method: 'GET', url: '/api/v1/devices?limit=1&limit=2', headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(q.statusCode, 400);
      const extra = await s.app.inject({ method: 'GET', url: '/api/v1/devices?bogus=1', headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(extra.statusCode, 400);
      const big = await s.app.inject({ method: 'GET', url: '/api/v1/devices?limit=1001', headers: { authorization: `Bearer ${s.rootToken}` } });
      assert.equal(big.statusCode, 400);
    });

    it('a body on a route without one is refused', async () => {
      const res = await s.app.inject({
        method: 'GET',
        url: '/api/v1/devices',
        headers: { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json' },
        payload: '{}',
      });
      assert.equal(res.statusCode, 400);
    });

    it('the InstallProfile limit is separate and only for profile-carrying commands', async () => {
      const big = await createTestStack({ limits: { bodyBytes: 4096, installProfileBodyBytes: 64 * 1024 } });
      try {
        await big.addDevice(DEVICE);
        const headers = { authorization: `Bearer ${big.rootToken}`, 'content-type': 'application/json' };
        const profile = Buffer.alloc(12 * 1024, 1).toString('base64');
        let res = await big.app.inject({
          method: 'POST', url: '/api/v1/commands', headers,
          payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'InstallProfile', payload: { Payload: profile } }),
        });
        assert.equal(res.statusCode, 201, res.body);
        res = await big.app.inject({
          method: 'POST', url: '/api/v1/commands', headers,
          payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'DeviceLock', payload: { Message: 'x'.repeat(12 * 1024) } }),
        });
        assert.equal(res.statusCode, 413);
        assert.equal((await big.storage.queue.entriesForDevice(DEVICE, { limit: 10 })).length, 1);
        res = await big.app.inject({
          method: 'POST', url: '/api/v1/commands', headers,
          payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'InstallProfile', payload: { Payload: Buffer.alloc(70 * 1024).toString('base64') } }),
        });
        assert.equal(res.statusCode, 413);
      } finally {
        await big.close();
      }
    });
  });

  it('route permission: a devices.read token cannot enqueue, and the denial is audited', async () => {
    const token = await s.tokenFor(['devices.read']);
    const before = s.audit.events.length;
    const res = await s.app.inject({
      method: 'POST',
      url: '/api/v1/commands',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'DeviceLock', payload: {} }),
    });
    assert.equal(res.statusCode, 403);
    assert.deepEqual(res.json(), { error: 'forbidden', message: 'forbidden' });
    const denied = s.audit.events.slice(before);
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.outcome, 'denied');
    assert.equal(denied[0]!.action, 'command.enqueue');
    const list = await s.app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${token}` } });
    assert.equal(list.statusCode, 200);
  });

  it('service permission: commands.send.lock cannot EraseDevice but can DeviceLock', async () => {
    const token = await s.tokenFor(['commands.send.lock']);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let res = await s.app.inject({
      method: 'POST', url: '/api/v1/commands', headers,
      payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'EraseDevice', payload: {} }),
    });
    assert.equal(res.statusCode, 403);
    assert.equal(s.audit.events.at(-1)!.outcome, 'denied');
    res = await s.app.inject({
      method: 'POST', url: '/api/v1/commands', headers,
      payload: JSON.stringify({ deviceIds: [DEVICE], requestType: 'DeviceLock', payload: {} }),
    });
    assert.equal(res.statusCode, 201, res.body);
  });

  it('sets security headers and no framework headers', async () => {
    for (const [url, headers] of [
      ['/api/v1/health', {}],
      ['/api/v1/devices', {}],
      ['/api/v1/devices', { authorization: `Bearer ${s.rootToken}` }],
      ['/api/v1/nope', { authorization: `Bearer ${s.rootToken}` }],
    ] as const) {
      const res = await s.app.inject({ method: 'GET', url, headers });
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) assert.equal(res.headers[k], v, `${url} ${k}`);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers.server, undefined);
      assert.ok(!/fastify|FST_|stack|node_modules/i.test(res.body), res.body);
    }
  });

  it('internal errors answer 500 with a fixed body', async () => {
    const broken = await createTestStack({ health: async () => { throw new Error('db exploded at /var/lib/secret'); } });
    try {
      const res = await broken.app.inject({ method: 'GET', url: '/api/v1/health' });
      assert.equal(res.statusCode, 500);
      assert.deepEqual(res.json(), { error: 'internal', message: 'internal error' });
    } finally {
      await broken.close();
    }
  });

  it('responses never carry fields outside the schema (push secrets)', async () => {
    await s.addDevice('UDID-SECRET', { pushToken: 'ab'.repeat(32), pushMagic: 'MAGIC-XYZ', unlockTokenSealed: new Uint8Array([1, 2, 3]), imei: '35 000000 000000 0' });
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/devices/UDID-SECRET', headers: { authorization: `Bearer ${s.rootToken}` } });
    assert.equal(res.statusCode, 200);
    assert.ok(!res.body.includes('MAGIC-XYZ'));
    assert.ok(!res.body.includes('abab'));
    assert.ok(!res.body.includes('35 000000'));
    assert.equal((res.json() as { hasPushToken: boolean }).hasPushToken, true);
  });
});
