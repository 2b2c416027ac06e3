// Child process for durability.test.ts: appends in a loop and prints the
// index of every acknowledged (durable) entry until it is killed.
import { DatabaseSync } from 'node:sqlite';
import { writeSync } from 'node:fs';
import { AuditLog } from '../log.ts';
import { parseSignerKey } from '../note.ts';
import { FileCheckpointSink } from '../sinks.ts';
import { SqliteAuditStore } from '../store-sqlite.ts';

const [dbPath, signerKey, sinkPath] = process.argv.slice(2) as [string, string, string];
const store = new SqliteAuditStore(new DatabaseSync(dbPath));
const log = await AuditLog.open({ store, origin: 'rampart.test/audit', signer: parseSignerKey(signerKey), checkpointIntervalMs: 50, sinks: [new FileCheckpointSink(sinkPath)] });
writeSync(1, 'ready\n');
let i = 0;
for (;;) {
  // 20 concurrent writers so acknowledgements come from group commits.
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const n = i++;
      const idx = await log.append({ action: 'device.checkin', actor: { type: 'device', id: `d${n % 50}` }, outcome: 'success', details: { n } });
      writeSync(1, `${idx}\n`);
    }),
  );
}
