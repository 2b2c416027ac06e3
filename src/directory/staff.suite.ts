// One conformance suite for the staff directory, run on SQLite and PostgreSQL.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { RampartError } from '../lib/errors.ts';
import { actor, openDirectoryStack, testKeys } from './testkit.ts';
import type { DirectoryStack } from './testkit.ts';
import { validateStaff } from './validate.ts';

const ALL = ['staff.read', 'staff.write', 'pii.reveal', 'pii.access.read', 'pii.export'];
const admin = actor(ALL, 'tok-admin');
const reader = actor(['staff.read'], 'tok-reader');

function person(tag: string): Record<string, unknown> {
  return {
    userName: `${tag}@example.org`,
    externalId: `ext-${tag}`,
    displayName: `Jane ${tag}`,
    givenName: 'Jane',
    familyName: tag,
    email: `${tag.toUpperCase()}@Example.org`,
    phones: [`+32 470 ${String(tag.length).padStart(2, '0')} 34 12`],
    department: 'Finance',
    employeeNumber: `e-${tag}`,
    deviceIds: ['UDID-1'],
    invitationIds: ['inv-1'],
  };
}

const rampartError = (code: string) => (e: unknown): boolean => e instanceof RampartError && e.code === code;

export function runDirectoryConformance(backend: 'sqlite' | 'postgres'): void {
  const withStack = (name: string, fn: (s: DirectoryStack) => Promise<void>, opts: { keys?: ReturnType<typeof testKeys> } = {}): void => {
    it(name, async () => {
      const s = await openDirectoryStack(backend, opts.keys);
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });
  };

  describe(`staff directory (${backend})`, () => {
    withStack('create returns masked values; reveal needs pii.reveal and a reason code and is on record', async (s) => {
      const v = await s.dir.create(admin, person('doe'), 'admin');
      assert.equal(v.masked, true);
      assert.equal(v.displayName, 'J*** d***');
      assert.equal(v.email, 'd***@example.org');
      assert.deepEqual(v.phones, ['+32 *** ** 12']);
      assert.deepEqual(v.deviceIds, ['UDID-1']);
      const g = await s.dir.get(reader, v.id, 'admin');
      assert.equal(g.givenName, 'J***');
      const read = s.audit.events.filter((e) => e.action === 'pii.read');
      assert.deepEqual(read.map((e) => [e.actor.id, e.target?.id, e.details]), [['tok-reader', v.id, { purpose: 'detail', subjects: 1, revealed: false }]]);
      await assert.rejects(s.dir.reveal(reader, v.id, { reason: 'support' }), rampartError('forbidden'));
      await assert.rejects(s.dir.reveal(admin, v.id, { reason: 'because I want to' }), rampartError('bad_request'));
      await assert.rejects(s.dir.reveal(admin, v.id, { reason: 'support', ticket: 'John Doe' }), rampartError('bad_request'));
      const r = await s.dir.reveal(admin, v.id, { reason: 'support', ticket: 'INC-42' });
      assert.equal(r.masked, false);
      assert.equal(r.email, 'doe@example.org');
      assert.deepEqual(r.phones, ['+32470033412']);
      assert.equal(r.employeeNumber, 'E-DOE');
      const ev = s.audit.events.find((e) => e.action === 'pii.reveal' && e.outcome === 'success');
      assert.deepEqual(ev?.details, { reason: 'support', ticket: 'INC-42' });
      assert.ok(s.audit.events.some((e) => e.action === 'pii.reveal' && e.outcome === 'denied' && e.actor.id === 'tok-reader'));
      await assert.rejects(s.dir.create(reader, person('x'), 'admin'), rampartError('forbidden'));
    });

    withStack('exact-match lookup through blind indexes, never by plaintext', async (s) => {
      const a = await s.dir.create(admin, person('alpha'), 'admin');
      await s.dir.create(admin, person('beta'), 'admin');
      const by = async (q: Record<string, string>): Promise<string[]> => (await s.dir.list(reader, { limit: 10, ...q }, 'admin')).items.map((x) => x.id);
      assert.deepEqual(await by({ email: ' Alpha@EXAMPLE.org' }), [a.id]);
      assert.deepEqual(await by({ phone: '0032470053412' }), [a.id]);
      assert.deepEqual(await by({ employeeNumber: 'E-alpha' }), [a.id]);
      assert.deepEqual(await by({ userName: 'ALPHA@example.org' }), [a.id]);
      assert.deepEqual(await by({ email: 'nobody@example.org' }), []);
      assert.deepEqual(await by({ email: 'not an email' }), []);
      assert.equal((await s.dir.list(reader, { limit: 10 }, 'admin')).items.length, 2);
    });

    withStack('userName (case-insensitive) and externalId are unique; nothing half-written', async (s) => {
      await s.dir.create(admin, person('uniq'), 'admin');
      await assert.rejects(s.dir.create(admin, { ...person('uniq'), userName: 'UNIQ@example.org', externalId: 'other' }, 'admin'), rampartError('conflict'));
      await assert.rejects(s.dir.create(admin, { ...person('zzz'), externalId: 'ext-uniq' }, 'admin'), rampartError('conflict'));
      assert.equal((await s.dir.list(reader, { limit: 10 }, 'admin')).items.length, 1);
      const phones = await (s.opened.db as never as { selectFrom: (t: string) => { selectAll: () => { execute: () => Promise<unknown[]> } } }).selectFrom('pii_staff_phone').selectAll().execute();
      assert.equal(phones.length, 1);
    });

    withStack('replace with version check; links to devices and invitations', async (s) => {
      const v = await s.dir.create(admin, person('rep'), 'admin');
      const r = await s.dir.replace(admin, v.id, { ...person('rep'), deviceIds: ['UDID-2', 'UDID-3'], active: false }, 'admin', v.version);
      assert.equal(r.version, v.version + 1);
      assert.equal(r.status, 'suspended');
      assert.deepEqual(r.deviceIds, ['UDID-2', 'UDID-3']);
      assert.deepEqual(await s.dir.staffForDevice('UDID-3'), [v.id]);
      assert.deepEqual(await s.dir.staffForDevice('UDID-1'), []);
      await assert.rejects(s.dir.replace(admin, v.id, person('rep'), 'admin', v.version), rampartError('conflict'));
      await assert.rejects(s.dir.replace(admin, 'nope', person('rep'), 'admin'), rampartError('not_found'));
    });

    withStack('delete hides the record at once and destroys its data key after the retention', async (s) => {
      const v = await s.dir.create(admin, person('gone'), 'admin');
      assert.equal(await s.dir.exists(v.id), true);
      await s.dir.remove(admin, v.id, 'admin');
      assert.equal(await s.dir.exists(v.id), false);
      assert.equal(await s.dir.exists('never-there'), false);
      await assert.rejects(s.dir.get(reader, v.id, 'admin'), rampartError('not_found'));
      assert.deepEqual((await s.dir.list(reader, { limit: 10, email: 'gone@example.org' }, 'admin')).items, []);
      // The same person can be provisioned again at once.
      await s.dir.create(admin, person('gone'), 'admin');
      assert.equal(await s.dir.shredDue(), 0);
      s.clock.now = new Date(s.clock.now.getTime() + 8 * 86_400_000);
      assert.equal(await s.dir.shredDue(), 1);
      assert.equal(await s.dir.shredDue(), 0);
      const row = await sql<{ data_key: unknown; email_ct: unknown }>`select data_key, email_ct from pii_staff where id = ${v.id}`.execute(s.opened.db);
      assert.equal(row.rows[0]?.data_key, null);
      assert.ok(row.rows[0]?.email_ct !== null, 'ciphertext stays, unreadable without its key');
      assert.ok(s.audit.events.some((e) => e.action === 'staff.shred' && e.target?.id === v.id));
    });

    const material = new Map<string, Uint8Array>();
    withStack('online rotation re-wraps every data key once; old KEK can then be retired', async (s) => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await s.dir.create(admin, person(`rot${i}`), 'admin')).id);
      const both = testKeys(['k1', 'k2'], 'k2', material);
      const dir2 = await s.reopen(both);
      assert.equal(await dir2.rewrap({ batch: 3 }), 7);
      assert.equal(await dir2.rewrap({ batch: 3 }), 0);
      const versions = await sql<{ v: string }>`select distinct kek_version as v from pii_staff`.execute(s.opened.db);
      assert.deepEqual(versions.rows.map((r) => r.v), ['k2']);
      const only2 = await s.reopen(testKeys(['k2'], 'k2', material));
      const r = await only2.reveal(admin, ids[3] as string, { reason: 'support' });
      assert.equal(r.email, 'rot3@example.org');
      assert.equal((await only2.list(reader, { limit: 10, email: 'rot5@example.org' }, 'admin')).items.length, 1);
    }, { keys: testKeys(['k1'], 'k1', material) });

    withStack('upsertMany: one transaction, dry run changes nothing, a conflict rolls back every row', async (s) => {
      await s.dir.create(admin, person('keep'), 'admin');
      const items = [validateStaff(person('keep')), validateStaff({ ...person('keep2') }), validateStaff({ ...person('keep'), externalId: 'ext-keep', department: 'Sales' })];
      const dry = await s.dir.upsertMany(admin, items.slice(0, 2), { dryRun: true });
      assert.deepEqual(dry.map((x) => x.outcome), ['unchanged', 'created']);
      assert.equal((await s.dir.list(reader, { limit: 10 }, 'admin')).items.length, 1);
      const real = await s.dir.upsertMany(admin, [items[1]!, items[2]!], { dryRun: false });
      assert.deepEqual(real.map((x) => x.outcome), ['created', 'updated']);
      const bad = [validateStaff(person('new1')), validateStaff({ ...person('new2'), externalId: 'ext-keep', userName: 'keep2@example.org' })];
      await assert.rejects(s.dir.upsertMany(admin, bad, { dryRun: false }), rampartError('conflict'));
      assert.equal((await s.dir.list(reader, { limit: 10 }, 'admin')).items.length, 2);
    });

    withStack('access accounting: every response with personal data, per principal, subject and source', async (s) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await s.dir.create(admin, person(`acc${i}`), 'admin')).id);
      s.clock.now = new Date('2026-03-02T00:00:00.000Z');
      await s.dir.list(reader, { limit: 3 }, 'admin');
      await s.dir.get(reader, ids[4] as string, 'admin');
      await s.dir.get(reader, ids[4] as string, 'admin');
      const since = new Date('2026-03-01T12:00:00.000Z');
      const p = await s.dir.accessByPrincipal(admin, { principal: 'tok-reader', since, limit: 2 });
      assert.equal(p.reads, 5);
      assert.equal(p.revealedSubjects, 0);
      assert.equal(p.staffIds.length, 2);
      const p2 = await s.dir.accessByPrincipal(admin, { principal: 'tok-reader', since, limit: 10, after: p.next as string });
      const firstThree = [...ids].sort().slice(0, 3);
      assert.deepEqual([...p.staffIds, ...p2.staffIds], [...new Set([...firstThree, ids[4] as string])].sort());
      assert.equal(p.subjects, new Set([...firstThree, ids[4]]).size);
      const raw = await s.dir.accessByPrincipal(admin, { principal: 'tok-reader', since, until: new Date('2030-01-01T00:00:00Z'), limit: 10 });
      assert.deepEqual([raw.reads, raw.subjects, raw.staffIds], [p.reads, p.subjects, [...p.staffIds, ...p2.staffIds]]);
      const later = await s.dir.accessByPrincipal(admin, { principal: 'tok-reader', since: new Date('2026-03-02T00:00:00.001Z'), limit: 10 });
      assert.deepEqual([later.reads, later.subjects], [0, 0]);
      await s.dir.reveal(admin, ids[4] as string, { reason: 'support' });
      const rv = await s.dir.accessByPrincipal(admin, { principal: 'tok-admin', since, limit: 10 });
      assert.deepEqual([rv.reads, rv.subjects, rv.revealedSubjects], [1, 1, 1]);
      const who = await s.dir.accessBySubject(admin, { staffId: ids[4] as string, since, limit: 10 });
      assert.deepEqual(who.principals.map((x) => [x.principal, x.reads, x.revealed]), [['tok-admin', 1, 1], ['tok-reader', firstThree.includes(ids[4] as string) ? 3 : 2, 0]]);
      await assert.rejects(s.dir.accessByPrincipal(reader, { principal: 'tok-reader', since, limit: 1 }), rampartError('forbidden'));
      const rows = await sql<{ source: string; request_id: string; token_id: string }>`select source, request_id, token_id from pii_access where principal = 'tok-reader' limit 1`.execute(s.opened.db);
      assert.deepEqual({ ...rows.rows[0] }, { source: '192.0.2.10', request_id: 'req-1', token_id: 'tok-reader' });
      await assert.rejects(sql`update pii_access set principal = 'x'`.execute(s.opened.db));
      await assert.rejects(sql`delete from pii_access`.execute(s.opened.db));
    });

    withStack('planted personal data appears nowhere in the database or the audit log', async (s) => {
      const tag = randomBytes(5).toString('hex');
      const planted = {
        userName: `planted.${tag}@plant-${tag}.example`,
        givenName: `Given${tag}`,
        familyName: `Family${tag}`,
        displayName: `Display${tag}`,
        email: `mail.${tag}@plant-${tag}.example`,
        phones: [`+32 49${tag.replace(/[a-f]/g, '7').slice(0, 7)}`],
        department: `Dept${tag}`,
        employeeNumber: `EMP${tag.toUpperCase()}`,
      };
      const v = await s.dir.create(admin, planted, 'admin');
      await s.dir.get(reader, v.id, 'admin');
      await s.dir.reveal(admin, v.id, { reason: 'support' });
      await s.dir.list(reader, { limit: 10, email: planted.email }, 'admin');
      await s.dir.list(reader, { limit: 10, phone: planted.phones[0] as string }, 'admin');
      await s.dir.replace(admin, v.id, { ...planted, department: `Other${tag}` }, 'admin');
      await s.dir.upsertMany(admin, [validateStaff({ ...planted, givenName: `Again${tag}` })], { dryRun: true });
      await s.dir.remove(admin, v.id, 'admin');
      const needles = [planted.givenName, planted.familyName, planted.displayName, `mail.${tag}`, `planted.${tag}`, `plant-${tag}`, planted.department, `Other${tag}`, `Again${tag}`, planted.employeeNumber, normalisedPhoneDigits(planted.phones[0] as string)];
      const haystacks = await dumpDatabase(s);
      haystacks.push(JSON.stringify(s.audit.events));
      for (const h of haystacks) {
        for (const n of needles) {
          assert.ok(!h.includes(n), `found a planted value in ${h.slice(0, 40)}...`);
          assert.ok(!h.toLowerCase().includes(Buffer.from(n).toString('hex')), 'found a planted value (hex)');
        }
      }
    });
  });
}

function normalisedPhoneDigits(p: string): string {
  return p.replace(/[^0-9]/g, '').slice(2);
}

/** Every byte the database holds: SQLite file + WAL, or every PG table of the schema cast to text. */
export async function dumpDatabase(s: DirectoryStack): Promise<string[]> {
  if (s.backend === 'sqlite') {
    const { readFileSync, existsSync } = await import('node:fs');
    const out: string[] = [];
    for (const f of [s.file as string, `${s.file}-wal`]) if (existsSync(f)) out.push(readFileSync(f).toString('latin1'));
    assert.ok(out.length >= 1);
    return out;
  }
  const tables = await sql<{ t: string }>`select table_name as t from information_schema.tables where table_schema = ${s.schema}`.execute(s.opened.db);
  const out: string[] = [];
  for (const { t } of tables.rows) {
    const rows = await sql<{ r: string }>`select (x.*)::text as r from ${sql.table(t)} x`.execute(s.opened.db);
    out.push(rows.rows.map((r) => r.r).join('\n'));
  }
  assert.ok(tables.rows.some((r) => r.t === 'pii_staff'));
  return out;
}
