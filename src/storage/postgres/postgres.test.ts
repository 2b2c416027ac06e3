// Runs the conformance suite on PostgreSQL, each test in a fresh random schema
// that is dropped afterwards. Skips (with a message) when no server is
// reachable, unless RAMPART_TEST_REQUIRE_POSTGRES=1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { runStorageConformance } from '../conformance/suite.ts';
import { openPostgresStorage } from '../open.ts';

import { TEST_DATABASE_URL, withPostgres } from './testing.ts';

await withPostgres('PostgreSQL suite', () => {
  runStorageConformance('postgres', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 8, statementTimeoutMs: 20_000 });
    try {
      await opened.migrate();
    } catch (e) {
      await opened.db.schema.dropSchema(schema).ifExists().cascade().execute().catch(() => {});
      await opened.close();
      throw e;
    }
    return {
      storage: opened.storage,
      cleanup: async () => {
        try {
          await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
        } finally {
          await opened.close();
        }
      },
    };
  });

  test('postgres: two server nodes deliver to one device concurrently without double-recording or reordering', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const a = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 4, statementTimeoutMs: 1234 });
    const b = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 4 });
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      const settings = await sql<{ t: string; p: string }>`select current_setting('statement_timeout') t, current_setting('search_path') p`.execute(a.db);
      assert.deepEqual(settings.rows[0], { t: "1234ms", p: schema });
      const now = new Date().toISOString();
      await a.storage.devices.create('d1', { status: 'enrolled' }, now);
      const uuids = Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`);
      for (const u of uuids) {
        await a.storage.queue.enqueue({ uuid: u, requestType: 'X', payload: new Uint8Array([1]), createdBy: 't' }, ['d1'], now);
      }
      const recorded = new Map<string, number>();
      const first: string[] = [];
      const worker = async (node: typeof a) => {
        for (;;) {
          const got = await node.storage.queue.next('d1', { skipNotNow: true }, new Date().toISOString());
          if (!got) return;
          if (!first.includes(got.command.uuid)) first.push(got.command.uuid);
          const o = await node.storage.queue.recordResult('d1', got.command.uuid, 'Acknowledged', { raw: new Uint8Array([1]), json: '{}', errorJson: null }, new Date().toISOString());
          if (o === 'recorded') recorded.set(got.command.uuid, (recorded.get(got.command.uuid) ?? 0) + 1);
        }
      };
      await Promise.all([a, b, a, b, a, b].map(worker));
      assert.deepEqual(first, uuids);
      for (const u of uuids) assert.equal(recorded.get(u), 1, u);
    } finally {
      await a.db.schema.dropSchema(schema).ifExists().cascade().execute().catch(() => {});
      await a.close();
      await b.close();
    }
  });
});
