// Child process of durability.test.ts: enqueues and acknowledges commands on
// an SQLite file in a loop, printing a line for every operation only after
// the store has acknowledged it. The parent kills it with SIGKILL at a random
// moment and checks that every printed operation survived.

import { openSqliteStorage } from '../open.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: durability-child.ts <db path>');
const DEVICES = Array.from({ length: 50 }, (_, i) => `dev-${i}`);

const opened = await openSqliteStorage(path);
await opened.migrate();
const s = opened.storage;
const now = () => new Date().toISOString();
for (const d of DEVICES) {
  if (!(await s.devices.get(d))) await s.devices.create(d, { status: 'enrolled' }, now());
}
process.stdout.write('READY\n');
for (let i = 0; ; i++) {
  const uuid = `cmd-${process.pid}-${i}`;
  await s.queue.enqueue({ uuid, requestType: 'DeviceLock', payload: new Uint8Array(256).fill(i & 0xff), createdBy: 'test' }, DEVICES, now());
  process.stdout.write(`E ${uuid}\n`);
  const got = await s.queue.next('dev-0', { skipNotNow: false }, now());
  if (got) {
    const outcome = await s.queue.recordResult('dev-0', got.command.uuid, 'Acknowledged', { raw: new Uint8Array([1]), json: '{}', errorJson: null }, now());
    if (outcome === 'recorded') process.stdout.write(`A ${got.command.uuid}\n`);
  }
}
