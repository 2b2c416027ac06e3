import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqliteStorage } from './open.ts';
import { columnTypes, storageMigrations, strict } from './migrations.ts';

test('migrate is idempotent and other modules migrate their own tables separately', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-migrate-'));
  try {
    const path = join(dir, 'm.db');
    const a = await openSqliteStorage(path);
    await a.migrate();
    await a.migrate();
    const t = columnTypes(a.backend);
    const mod = {
      '0001_events': {
        async up(db: typeof a.db) {
          await strict(a.backend, db.schema.createTable('audit_events')
            .addColumn('id', 'integer', (c) => c.primaryKey())
            .addColumn('at', t.time, (c) => c.notNull())).execute();
        },
      },
    };
    await a.migrateModule('rampart_audit_migration', mod);
    await a.migrateModule('rampart_audit_migration', mod);
    const tables = (await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(a.db)).rows.map((r) => r.name);
    for (const name of ['devices', 'device_apps', 'commands', 'command_queue', 'admins', 'api_tokens', 'issued_certificates', 'settings', 'audit_events', 'rampart_storage_migration', 'rampart_audit_migration']) {
      assert.ok(tables.includes(name), name);
    }
    const applied = await sql<{ name: string }>`select name from rampart_storage_migration`.execute(a.db);
    assert.deepEqual(applied.rows.map((r) => r.name), Object.keys(storageMigrations('sqlite')).sort());
    await assert.rejects(a.migrateModule('Bad-Name', mod), /invalid migration table name/);
    // STRICT tables reject wrongly typed values.
    await assert.rejects(sql`insert into settings (key, value, updated_at) values ('k', x'00', 'now')`.execute(a.db));
    // CHECK constraints guard the status columns.
    await assert.rejects(sql`insert into devices (id, status, created_at, updated_at) values ('d', 'bogus', 't', 't')`.execute(a.db));
    await a.close();
    const b = await openSqliteStorage(path);
    await b.migrate();
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
