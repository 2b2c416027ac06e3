import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStorage } from '../storage/open.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { Storage } from '../storage/types.ts';
import { createAuthenticator, createFirstAdmin, hashToken, issueApiToken, isTokenFormat, TOUCH_INTERVAL_MS } from './tokens.ts';
import { isRampartError } from '../lib/errors.ts';

const unauthorized = (e: unknown) => isRampartError(e) && e.code === 'unauthorized' && e.message === 'unauthorized';

describe('API tokens (real SQLite storage)', () => {
  let opened: OpenedStorage;
  let storage: Storage;
  let clock = new Date('2026-03-01T00:00:00.000Z');
  const now = () => new Date(clock);
  let adminId: string;
  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    storage = opened.storage;
    adminId = (await storage.admins.create({ id: 'admin-1', username: 'alice' }, now().toISOString())).id;
  });
  after(async () => opened.close());

  it('issues rmp_ tokens and stores only their SHA-256', async () => {
    const { token, record } = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'ci', scopes: ['devices.read'] });
    assert.ok(isTokenFormat(token));
    assert.match(token, /^rmp_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.secretHash, hashToken(token));
    assert.match(record.secretHash, /^[0-9a-f]{64}$/);
    const stored = await storage.tokens.getBySecretHash(hashToken(token));
    assert.ok(stored && !JSON.stringify(stored).includes(token.slice(4)));
    const other = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'ci2', scopes: ['devices.read'] });
    assert.notEqual(other.token, token);
  });

  it('uses the given random source', async () => {
    const { token } = await issueApiToken(
      { tokens: storage.tokens, now, random: (n) => new Uint8Array(n).fill(0xff) },
      { principalId: adminId, name: 'fixed', scopes: ['*'] },
    );
    assert.equal(token, `rmp_${'_'.repeat(42)}8`);
  });

  it('refuses unknown scopes, bad names and past expiry', async () => {
    const deps = { tokens: storage.tokens, now };
    for (const input of [
      { principalId: adminId, name: 'x', scopes: ['root'] },
      { principalId: adminId, name: 'x', scopes: [] },
      { principalId: adminId, name: '\u001b[31m', scopes: ['*'] },
      { principalId: adminId, name: 'x', scopes: ['*'], expiresAt: '2020-01-01T00:00:00Z' },
      { principalId: adminId, name: 'x', scopes: ['*'], expiresAt: 'tomorrow' },
    ]) {
      await assert.rejects(issueApiToken(deps, input), (e) => isRampartError(e) && e.code === 'bad_request', JSON.stringify(input));
    }
  });

  it('authenticates valid tokens as an actor holding exactly the scopes', async () => {
    const { token, record } = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'ops', scopes: ['commands.send.lock', 'devices.read'] });
    const auth = createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now });
    const actor = await auth.authenticate({ bearer: token, source: '127.0.0.1', requestId: 'r1' });
    assert.deepEqual({ ...actor, permissions: [...actor.permissions].sort() }, {
      type: 'token', id: record.id, permissions: ['commands.send.lock', 'devices.read'], source: '127.0.0.1', requestId: 'r1',
    });
  });

  it('refuses malformed, unknown, expired and revoked tokens, and tokens of missing or disabled administrators', async () => {
    const rejected: string[] = [];
    const auth = createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now, onRejected: (i) => rejected.push(i.reason) });
    for (const bearer of ['', 'rmp_', 'Bearer x', `rmp_${'A'.repeat(42)}`, `rmp_${'A'.repeat(44)}`, `RMP_${'A'.repeat(43)}`, `rmp_${'A'.repeat(43)}`]) {
      await assert.rejects(auth.authenticate({ bearer }), unauthorized, bearer);
    }
    const expiring = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'short', scopes: ['*'], expiresAt: new Date(clock.getTime() + 60_000).toISOString() });
    await auth.authenticate({ bearer: expiring.token });
    const revoked = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'gone', scopes: ['*'] });
    await auth.authenticate({ bearer: revoked.token });
    await storage.tokens.revoke(revoked.record.id, now().toISOString());
    await assert.rejects(auth.authenticate({ bearer: revoked.token }), unauthorized);
    const orphan = await issueApiToken({ tokens: storage.tokens, now }, { principalId: 'no-such-admin', name: 'orphan', scopes: ['*'] });
    await assert.rejects(auth.authenticate({ bearer: orphan.token }), unauthorized);
    const disabledAuth = createAuthenticator({
      tokens: storage.tokens,
      admins: { get: async (id) => { const a = await storage.admins.get(id); return a && { ...a, disabledAt: now().toISOString() }; } },
      now,
    });
    await assert.rejects(disabledAuth.authenticate({ bearer: expiring.token }), unauthorized);
    clock = new Date(clock.getTime() + 60_000);
    await assert.rejects(auth.authenticate({ bearer: expiring.token }), unauthorized);
    assert.deepEqual(rejected, ['revoked', 'principal', 'expired']);
  });

  it('touches lastUsedAt at most once per interval', async () => {
    const { token, record } = await issueApiToken({ tokens: storage.tokens, now }, { principalId: adminId, name: 'touch', scopes: ['*'] });
    let touches = 0;
    const auth = createAuthenticator({
      tokens: { getBySecretHash: (h) => storage.tokens.getBySecretHash(h), touch: async (id, t) => { touches++; await storage.tokens.touch(id, t); } },
      admins: storage.admins,
      now,
    });
    await auth.authenticate({ bearer: token });
    const first = (await storage.tokens.getBySecretHash(record.secretHash))!.lastUsedAt;
    assert.equal(first, now().toISOString());
    clock = new Date(clock.getTime() + 1000);
    await auth.authenticate({ bearer: token });
    assert.equal(touches, 1);
    clock = new Date(clock.getTime() + TOUCH_INTERVAL_MS);
    await auth.authenticate({ bearer: token });
    assert.equal(touches, 2);
  });

  it('createFirstAdmin creates an administrator with a full-access token, once per username', async () => {
    const first = await createFirstAdmin(storage, 'root', { now });
    assert.equal(first.admin.username, 'root');
    assert.deepEqual(first.record.scopes, ['*']);
    const actor = await createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now }).authenticate({ bearer: first.token });
    assert.ok(actor.permissions.has('*'));
    await assert.rejects(createFirstAdmin(storage, 'root', { now }), (e) => isRampartError(e) && e.code === 'conflict');
    await assert.rejects(createFirstAdmin(storage, 'Root Admin', { now }), (e) => isRampartError(e) && e.code === 'bad_request');
  });
});
