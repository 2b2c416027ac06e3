// The one-schema introspector: lists the schema's own tables and columns, and
// keeps working while other connections create and drop schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresDatabase } from './open.ts';
import { TEST_DATABASE_URL, withPostgres } from './testing.ts';

await withPostgres('PostgreSQL introspector', () => {
  test('lists only its schema, with columns, while other schemas come and go', async () => {
    const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const { db, close } = openPostgresDatabase<unknown>(TEST_DATABASE_URL, { schema, poolSize: 2 });
    try {
      await admin.query(`create schema "${schema}"`);
      await admin.query(`create table "${schema}".things (id bigint generated always as identity primary key, name text not null, note text default 'x')`);
      await admin.query(`create view "${schema}".thing_names as select name from "${schema}".things`);
      const tables = await db.introspection.getTables();
      assert.deepEqual(tables.map((t) => [t.name, t.isView, t.schema]).sort(), [['thing_names', true, schema], ['things', false, schema]]);
      const things = tables.find((t) => t.name === 'things')!;
      assert.deepEqual(things.columns.map((c) => [c.name, c.dataType, c.isNullable, c.isAutoIncrementing, c.hasDefaultValue]), [
        ['id', 'int8', false, true, false],
        ['name', 'text', false, false, false],
        ['note', 'text', true, false, true],
      ]);
      // Another connection creates and drops schemas all the time meanwhile.
      let churn = true;
      const churner = (async () => {
        let i = 0;
        while (churn) {
          const other = `rampart_churn_${randomBytes(4).toString('hex')}_${i++}`;
          await admin.query(`create schema "${other}"`);
          await admin.query(`create table "${other}".t (id int)`);
          await admin.query(`drop schema "${other}" cascade`);
        }
      })();
      try {
        for (let i = 0; i < 40; i++) assert.equal((await db.introspection.getTables()).length, 2);
      } finally {
        churn = false;
        await churner;
      }
    } finally {
      await close();
      await admin.query(`drop schema if exists "${schema}" cascade`);
      await admin.end();
    }
  });
});
