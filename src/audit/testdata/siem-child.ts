// Child process for the SIEM kill -9 test: forwards the audit store at argv[2]
// to the HTTPS webhook at argv[3] (trusting the CA in argv[4]) in batches of
// 25, and prints "done" once the cursor has reached the end of the log.
import { DatabaseSync } from 'node:sqlite';
import { readFileSync, writeSync } from 'node:fs';
import { SiemForwarder, WebhookTransport } from '../siem.ts';
import { SqliteAuditStore } from '../store-sqlite.ts';

const [dbPath, url, caPath] = process.argv.slice(2) as [string, string, string];
const store = new SqliteAuditStore(new DatabaseSync(dbPath));
await store.init();
const total = await store.size();
const fwd = new SiemForwarder({
  store,
  name: 'siem-test',
  batchSize: 25,
  pollMs: 50,
  retryMinMs: 20,
  retryMaxMs: 200,
  transport: new WebhookTransport({ url, secret: 's'.repeat(32), ca: readFileSync(caPath) }),
});
fwd.start();
for (;;) {
  if ((await store.getCursor('siem-test')) >= total) break;
  await new Promise((r) => setTimeout(r, 20));
}
writeSync(1, 'done\n');
await fwd.stop();
process.exit(0);
