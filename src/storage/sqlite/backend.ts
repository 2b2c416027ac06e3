import { sql } from 'kysely';
import type { Backend } from '../sql/backend.ts';

/** Rows per INSERT ... SELECT FROM json_each(?) statement. */
const CHUNK = 20_000;

export const sqliteBackend: Backend = {
  kind: 'sqlite',
  async lockDevice(): Promise<void> {
    // BEGIN IMMEDIATE holds the database write lock for the whole transaction.
  },
  async insertQueueRows(trx, uuid, deviceIds, now): Promise<void> {
    for (let i = 0; i < deviceIds.length; i += CHUNK) {
      const chunk = JSON.stringify(deviceIds.slice(i, i + CHUNK));
      await sql`insert into command_queue (device_id, command_uuid, status, queued_at, updated_at)
        select j.value, ${uuid}, 'pending', ${now}, ${now} from json_each(${chunk}) as j order by j.key`.execute(trx);
    }
  },
  lowerFn: 'rampart_lower',
};
