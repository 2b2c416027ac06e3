import { sql } from 'kysely';
import type { Backend } from '../sql/backend.ts';

/** Rows per INSERT ... SELECT FROM unnest($1::text[]) statement. */
const CHUNK = 20_000;

export const postgresBackend: Backend = {
  kind: 'postgres',
  async lockDevice(trx, deviceId): Promise<void> {
    await trx.selectFrom('devices').select('id').where('id', '=', deviceId).forNoKeyUpdate().execute();
  },
  async insertQueueRows(trx, uuid, deviceIds, now): Promise<void> {
    for (let i = 0; i < deviceIds.length; i += CHUNK) {
      const chunk = deviceIds.slice(i, i + CHUNK);
      await sql`insert into command_queue (device_id, command_uuid, status, queued_at, updated_at)
        select d, ${uuid}, 'pending', ${now}::timestamptz, ${now}::timestamptz
        from unnest(${chunk}::text[]) with ordinality as u(d, n) order by n`.execute(trx);
    }
  },
  lowerFn: 'lower',
};
