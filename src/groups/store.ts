// Device groups: static membership lists, in the groups module's own tables
// (run with opened.migrateModule(GROUPS_MIGRATION_TABLE, groupMigrations(backend))).
// Other modules refer to a group by its id.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnTypes, dbErrorKind, strict, type NoTables, type StorageBackend } from '../storage/open.ts';
import { conflict, notFound } from '../lib/errors.ts';
import { isoIn, isoOut, limitIn, numOut } from '../storage/sql/map.ts';
import type { Page } from '../storage/types.ts';

export const GROUPS_MIGRATION_TABLE = 'rampart_groups_migration';

export function groupMigrations(backend: StorageBackend): Record<string, Migration> {
  const t = columnTypes(backend);
  return {
    '0001_device_groups': {
      async up(db: Kysely<NoTables>): Promise<void> {
        await strict(backend, db.schema.createTable('device_groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('description', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', t.time, (c) => c.notNull())
          .addColumn('updated_at', t.time, (c) => c.notNull())).execute();
        await strict(backend, db.schema.createTable('device_group_members')
          .addColumn('group_id', 'text', (c) => c.notNull().references('device_groups.id').onDelete('cascade'))
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('added_at', t.time, (c) => c.notNull())
          .addPrimaryKeyConstraint('device_group_members_pk', ['group_id', 'device_id'])).execute();
        await db.schema.createIndex('device_group_members_device_idx').on('device_group_members').column('device_id').execute();
      },
    },
  };
}

type GroupsTables = {
  device_groups: { id: string; name: string; description: string | null; created_by: string; created_at: string; updated_at: string };
  device_group_members: { group_id: string; device_id: string; added_at: string };
  devices: { id: string };
};

export interface DeviceGroup {
  id: string;
  name: string;
  description: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  members: number;
}

/** Most devices one add/remove call may name. */
export const MAX_MEMBERS_PER_CALL = 100_000;

export function createGroupStore(db: Kysely<NoTables>) {
  const d = db.withTables<GroupsTables>();

  async function count(groupId: string): Promise<number> {
    const r = await d.selectFrom('device_group_members').select((eb) => eb.fn.countAll().as('n')).where('group_id', '=', groupId).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  return {
    async create(g: { id: string; name: string; description: string | null; createdBy: string }, now: string): Promise<DeviceGroup> {
      const t = isoIn(now);
      try {
        await d.insertInto('device_groups').values({ id: g.id, name: g.name, description: g.description, created_by: g.createdBy, created_at: t, updated_at: t }).execute();
      } catch (e) {
        if (dbErrorKind(e) === 'unique') throw conflict('group name already used');
        throw e;
      }
      return { ...g, createdAt: t, updatedAt: t, members: 0 };
    },

    async get(id: string): Promise<DeviceGroup | undefined> {
      const r = await d.selectFrom('device_groups').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) return undefined;
      return { id: r.id, name: r.name, description: r.description, createdBy: r.created_by, createdAt: isoOut(r.created_at), updatedAt: isoOut(r.updated_at), members: await count(r.id) };
    },

    async list(q: { after?: string; limit: number }): Promise<Page<DeviceGroup>> {
      const limit = limitIn(q.limit);
      let query = d.selectFrom('device_groups as g')
        .select(['g.id', 'g.name', 'g.description', 'g.created_by', 'g.created_at', 'g.updated_at',
          (eb) => eb.selectFrom('device_group_members as m').select((e2) => e2.fn.countAll().as('n')).whereRef('m.group_id', '=', 'g.id').as('members')]);
      if (q.after !== undefined) query = query.where('g.id', '>', q.after);
      const rows = await query.orderBy('g.id').limit(limit + 1).execute();
      const items = rows.slice(0, limit).map((r) => ({
        id: r.id, name: r.name, description: r.description, createdBy: r.created_by, createdAt: isoOut(r.created_at), updatedAt: isoOut(r.updated_at), members: numOut(r.members ?? 0),
      }));
      const last = items[items.length - 1];
      return rows.length > limit && last ? { items, next: last.id } : { items };
    },

    async delete(id: string): Promise<boolean> {
      const r = await d.deleteFrom('device_groups').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },

    /** Adds devices (all must exist: all or nothing); returns how many were new members. */
    async addMembers(groupId: string, deviceIds: string[], now: string): Promise<number> {
      const t = isoIn(now);
      const ids = [...new Set(deviceIds)];
      try {
        return await d.transaction().execute(async (trx) => {
          const g = await trx.selectFrom('device_groups').select('id').where('id', '=', groupId).executeTakeFirst();
          if (!g) throw notFound('no such group');
          let added = 0;
          for (let i = 0; i < ids.length; i += 5000) {
            const chunk = ids.slice(i, i + 5000);
            const r = await trx.insertInto('device_group_members')
              .values(chunk.map((device_id) => ({ group_id: groupId, device_id, added_at: t })))
              .onConflict((oc) => oc.columns(['group_id', 'device_id']).doNothing())
              .executeTakeFirst();
            added += Number(r.numInsertedOrUpdatedRows ?? 0n);
          }
          await trx.updateTable('device_groups').set({ updated_at: t }).where('id', '=', groupId).execute();
          return added;
        });
      } catch (e) {
        if (dbErrorKind(e) === 'foreign_key') throw notFound('device not found');
        throw e;
      }
    },

    async removeMembers(groupId: string, deviceIds: string[], now: string): Promise<number> {
      const ids = [...new Set(deviceIds)];
      return d.transaction().execute(async (trx) => {
        let removed = 0;
        for (let i = 0; i < ids.length; i += 5000) {
          const r = await trx.deleteFrom('device_group_members').where('group_id', '=', groupId).where('device_id', 'in', ids.slice(i, i + 5000)).executeTakeFirst();
          removed += Number(r.numDeletedRows);
        }
        await trx.updateTable('device_groups').set({ updated_at: isoIn(now) }).where('id', '=', groupId).execute();
        return removed;
      });
    },

    /** Member device ids, sorted, cursor by device id. */
    async members(groupId: string, q: { after?: string; limit: number }): Promise<Page<string>> {
      const limit = limitIn(q.limit, 10_000);
      let query = d.selectFrom('device_group_members').select('device_id').where('group_id', '=', groupId);
      if (q.after !== undefined) query = query.where('device_id', '>', q.after);
      const rows = await query.orderBy('device_id').limit(limit + 1).execute();
      const items = rows.slice(0, limit).map((r) => r.device_id);
      const last = items[items.length - 1];
      return rows.length > limit && last !== undefined ? { items, next: last } : { items };
    },

    /** Ids of the groups a device belongs to (for device-group limits of role assignments). */
    async groupsOf(deviceId: string): Promise<string[]> {
      const rows = await d.selectFrom('device_group_members').select('group_id').where('device_id', '=', deviceId).orderBy('group_id').execute();
      return rows.map((r) => r.group_id);
    },

    count,
  };
}

export type GroupStore = ReturnType<typeof createGroupStore>;
