// Push outbox and dispatcher on SQLite and PostgreSQL (fresh random schema),
// pushing to a local HTTP/2 TLS server that stands in for APNs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openPostgresStorage, openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { createApnsClient, type ApnsClient } from './apns.ts';
import { createLocalPushCertificate, startLocalApns, type LocalApns, type LocalApnsReply, type LocalPush } from './local-apns.ts';
import { parsePushCertificate, type PushCertificate } from './certificate.ts';
import { PUSH_MIGRATION_TABLE, pushMigrations } from './migrations.ts';
import { createOutboxStore, type OutboxStore } from './outbox.ts';
import { createPushDispatcher, createRepushJob } from './dispatcher.ts';
import type { UsablePushCertificate } from './cert-service.ts';
import { TEST_DATABASE_URL, withPostgres } from '../storage/postgres/testing.ts';

const TOPIC = 'com.apple.mgmt.External.outbox-test';
const silent = { warn() {}, error() {} };
const tokenOf = (id: string): string => Buffer.from(id.padEnd(32, '.')).toString('hex');

interface Env {
  opened: OpenedStorage;
  outbox: OutboxStore;
  cleanup(): Promise<void>;
}

async function migrate(opened: OpenedStorage): Promise<Env> {
  await opened.migrate();
  await opened.migrateModule(PUSH_MIGRATION_TABLE, pushMigrations(opened.backend));
  return { opened, outbox: createOutboxStore(opened.db, opened.backend), cleanup: async () => {} };
}

function suite(name: string, open: () => Promise<Env>, openSecond?: (first: Env) => Promise<Env>): void {
  describe(`push outbox: ${name}`, () => {
    let apns: LocalApns;
    let client: ApnsClient;
    let cert: PushCertificate;
    const pushes: LocalPush[] = [];
    let reply: (p: LocalPush) => LocalApnsReply = () => ({ status: 200 });
    const usable = async (): Promise<UsablePushCertificate> => ({ cert, state: 'valid' });

    before(async () => {
      const pc = await createLocalPushCertificate({ topic: TOPIC });
      cert = parsePushCertificate(pc.certPem, pc.keyPem);
      apns = await startLocalApns({ clientCaPem: pc.caPem, onPush: (p) => pushes.push(p), reply: (p) => reply(p) });
      client = createApnsClient({ baseUrl: apns.url, ca: apns.caPem, sleep: async () => {}, maxAttempts: 2 });
    });
    after(async () => {
      client.close();
      await apns.close();
    });

    async function fleet(env: Env, n: number, opts: { noToken?: number } = {}): Promise<string[]> {
      const ids = Array.from({ length: n }, (_, i) => `dev-${String(i).padStart(4, '0')}`);
      const now = new Date().toISOString();
      for (const [i, id] of ids.entries()) {
        const withToken = i >= (opts.noToken ?? 0);
        await env.opened.storage.devices.create(id, { status: 'enrolled', topic: TOPIC, ...(withToken ? { pushToken: tokenOf(id), pushMagic: `magic-${id}` } : {}) }, now);
      }
      return ids;
    }

    async function enqueueWithPush(env: Env, uuid: string, ids: string[]): Promise<void> {
      const now = new Date().toISOString();
      await env.opened.storage.queue.enqueue({ uuid, requestType: 'DeviceLock', payload: new Uint8Array([1]), createdBy: 't' }, ids, now, {
        inTransaction: (trx) => env.outbox.insertForCommand(trx, uuid, now),
      });
    }

    it('queues an outbox row per device with the queue rows, pushes each device once, records no-token devices', async () => {
      const env = await open();
      try {
        pushes.length = 0;
        const ids = await fleet(env, 40, { noToken: 3 });
        await enqueueWithPush(env, 'cmd-1', ids);
        // A second command for some of them in the same batch: one push per device.
        await enqueueWithPush(env, 'cmd-2', ids.slice(10, 20));
        assert.equal((await env.outbox.counts('cmd-1')).pending, 40);
        const d = createPushDispatcher({ outbox: env.outbox, client, certificate: usable, owner: 'node-a', now: () => new Date(), log: silent, batchSize: 100 });
        const r = await d.runOnce();
        assert.equal(r.claimed, 50);
        assert.equal(r.noToken, 3);
        assert.equal(r.sent, 47);
        const tokens = pushes.map((p) => p.token);
        assert.equal(tokens.length, 37);
        assert.equal(new Set(tokens).size, 37);
        assert.deepEqual(pushes.find((p) => p.token === tokenOf('dev-0005')), { token: tokenOf('dev-0005'), topic: TOPIC, pushMagic: 'magic-dev-0005' });
        const c = await env.outbox.counts('cmd-1');
        assert.deepEqual({ sent: c.sent, no_token: c.no_token, pending: c.pending, claimed: c.claimed, pushedOnce: c.pushedOnce }, { sent: 37, no_token: 3, pending: 0, claimed: 0, pushedOnce: 37 });
        assert.equal((await d.runOnce()).claimed, 0);
      } finally {
        await env.cleanup();
      }
    });

    it('an enqueue that fails stores no outbox rows', async () => {
      const env = await open();
      try {
        await fleet(env, 2);
        await assert.rejects(enqueueWithPush(env, 'cmd-x', ['dev-0000', 'ghost']));
        assert.equal((await env.outbox.counts('cmd-x')).pending, 0);
      } finally {
        await env.cleanup();
      }
    });

    it('410 and BadDeviceToken forget the token; failures are recorded', async () => {
      const env = await open();
      try {
        const ids = await fleet(env, 3);
        await enqueueWithPush(env, 'cmd-1', ids);
        reply = (p) => (p.token === tokenOf('dev-0000') ? { status: 410, reason: 'Unregistered' } : p.token === tokenOf('dev-0001') ? { status: 400, reason: 'BadDeviceToken' } : { status: 403, reason: 'BadCertificate' });
        const d = createPushDispatcher({ outbox: env.outbox, client, certificate: usable, owner: 'node-a', now: () => new Date(), log: silent });
        const r = await d.runOnce();
        assert.deepEqual({ i: r.invalidToken, f: r.failed }, { i: 2, f: 1 });
        assert.equal((await env.opened.storage.devices.get('dev-0000'))?.pushToken, null);
        assert.equal((await env.opened.storage.devices.get('dev-0001'))?.pushToken, null);
        assert.equal((await env.opened.storage.devices.get('dev-0002'))?.pushToken, tokenOf('dev-0002'));
      } finally {
        reply = () => ({ status: 200 });
        await env.cleanup();
      }
    });

    it('a claim whose dispatcher died is reclaimed after its lease; the dead owner cannot complete it later', async () => {
      const env = await open();
      try {
        pushes.length = 0;
        const ids = await fleet(env, 5);
        await enqueueWithPush(env, 'cmd-1', ids);
        const t0 = new Date();
        // "node-dead" claims and is killed before sending.
        const claimed = await env.outbox.claim('node-dead', 100, 60_000, t0.toISOString());
        assert.equal(claimed.length, 5);
        const alive = createPushDispatcher({ outbox: env.outbox, client, certificate: usable, owner: 'node-b', now: () => new Date(t0.getTime() + 30_000), log: silent });
        assert.equal((await alive.runOnce()).claimed, 0, 'lease still held');
        const later = createPushDispatcher({ outbox: env.outbox, client, certificate: usable, owner: 'node-b', now: () => new Date(t0.getTime() + 61_000), log: silent });
        assert.equal((await later.runOnce()).sent, 5);
        assert.equal(await env.outbox.complete('node-dead', claimed.map((c) => ({ id: c.id, state: 'failed' as const })), new Date().toISOString()), 0);
        assert.equal((await env.outbox.counts('cmd-1')).sent, 5);
        assert.equal(pushes.length, 5);
      } finally {
        await env.cleanup();
      }
    });

    it('re-push: devices that have not answered are pushed again, up to maxRounds; answered ones are not', async () => {
      const env = await open();
      try {
        pushes.length = 0;
        const ids = await fleet(env, 4);
        await enqueueWithPush(env, 'cmd-1', ids);
        let clock = Date.now();
        const now = (): Date => new Date(clock);
        const d = createPushDispatcher({ outbox: env.outbox, client, certificate: usable, owner: 'n', now, log: silent });
        await d.runOnce();
        // dev-0000 fetched and acknowledged its command.
        const q = env.opened.storage.queue;
        await q.next('dev-0000', { skipNotNow: false }, now().toISOString());
        await q.recordResult('dev-0000', 'cmd-1', 'Acknowledged', { raw: new Uint8Array([1]), json: '{}', errorJson: null }, now().toISOString());
        const repush = createRepushJob({ outbox: env.outbox, now, afterMs: 600_000, maxRounds: 1 });
        assert.equal(await repush(), 0, 'not yet due');
        clock += 601_000;
        assert.equal(await repush(), 3);
        assert.equal((await d.runOnce()).sent, 3);
        clock += 601_000;
        assert.equal(await repush(), 0, 'maxRounds reached');
        assert.equal(pushes.length, 7);
        assert.equal(pushes.filter((p) => p.token === tokenOf('dev-0000')).length, 1);
      } finally {
        await env.cleanup();
      }
    });

    it('refuses to push with an expired certificate or none; rows wait', async () => {
      const env = await open();
      try {
        const ids = await fleet(env, 2);
        await enqueueWithPush(env, 'cmd-1', ids);
        for (const certificate of [async () => ({ cert, state: 'expired' as const }), async () => undefined]) {
          const d = createPushDispatcher({ outbox: env.outbox, client, certificate, owner: 'n', now: () => new Date(), log: silent });
          const r = await d.runOnce();
          assert.equal(r.blocked, true);
          assert.equal(r.claimed, 0);
        }
        assert.equal((await env.outbox.counts('cmd-1')).pending, 2);
      } finally {
        await env.cleanup();
      }
    });

    if (openSecond) {
      it('two dispatchers on two nodes push every device exactly once', async () => {
        const env = await open();
        const other = await openSecond(env);
        try {
          pushes.length = 0;
          const ids = await fleet(env, 600);
          await enqueueWithPush(env, 'cmd-1', ids);
          await enqueueWithPush(env, 'cmd-2', ids.slice(0, 300));
          const mk = (e: Env, owner: string) => createPushDispatcher({ outbox: e.outbox, client, certificate: usable, owner, now: () => new Date(), log: silent, batchSize: 25 });
          const a = mk(env, 'node-a');
          const b = mk(other, 'node-b');
          const drain = async (d: ReturnType<typeof mk>): Promise<number> => {
            let n = 0;
            for (;;) {
              const r = await d.runOnce();
              if (r.claimed === 0) return n;
              n += r.claimed;
            }
          };
          const [na, nb] = await Promise.all([drain(a), drain(b)]);
          assert.equal(na + nb, 900);
          assert.ok(na > 0 && nb > 0, `both nodes worked (${na}/${nb})`);
          const perToken = new Map<string, number>();
          for (const p of pushes) perToken.set(p.token, (perToken.get(p.token) ?? 0) + 1);
          // A device with two commands may be pushed once per command when they land in different batches, never more.
          for (const id of ids) {
            const n = perToken.get(tokenOf(id)) ?? 0;
            assert.ok(n >= 1 && n <= (ids.indexOf(id) < 300 ? 2 : 1), `${id} pushed ${n} times`);
          }
          const c1 = await env.outbox.counts('cmd-1');
          assert.equal(c1.sent, 600);
        } finally {
          await other.cleanup();
          await env.cleanup();
        }
      });
    }
  });
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-outbox-'));
let n = 0;
suite('sqlite', async () => {
  const env = await migrate(await openSqliteStorage(join(dir, `o${n++}.db`)));
  env.cleanup = () => env.opened.close();
  return env;
});
after(() => rmSync(dir, { recursive: true, force: true }));

await withPostgres('push outbox: postgres', () => {
  const openPg = async (schema: string): Promise<Env> => {
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 6, statementTimeoutMs: 20_000 });
    const env = await migrate(opened);
    env.cleanup = () => opened.close();
    return env;
  };
  suite('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const env = await openPg(schema);
    env.cleanup = async () => {
      try {
        await env.opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
      } finally {
        await env.opened.close();
      }
    };
    return env;
  }, async (first) => openPg(first.opened.schema!));
});
