// The connect service of two nodes (two storages, two audit logs on one
// PostgreSQL schema): concurrent connects of one device through both, and
// identical result reports arriving on both nodes at once. Every command is
// recorded exactly once in the queue AND in the audit log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { AuditLog } from '../audit/log.ts';
import { generateNoteKey, parseSignerKey } from '../audit/note.ts';
import { PgAuditStore } from '../audit/store-pg.ts';
import { toConnectInput } from '../core/device-input.ts';
import { plistToJson } from '../protocol/commands/results.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import { buildPlist, parsePlistDict, type PlistDict } from '../protocol/plist/index.ts';
import { createConnectService } from '../services/connect.ts';
import { createInventoryService } from '../services/inventory.ts';
import { openPostgresStorage, type OpenedStorage } from '../storage/open.ts';
import { pgSerializer, localSerializer } from './device-lock.ts';
import { TEST_DATABASE_URL, dropSchema, pgSkipReason, randomSchema } from './testdata/pg.ts';

const skip = await pgSkipReason();
const CERT = 'c'.repeat(64);
const signer = parseSignerKey(generateNoteKey('rampart.test').signerKey);

function report(dict: PlistDict) {
  const raw = buildPlist(dict);
  const parsed = parseDeviceMessage('connect', raw, {});
  assert.equal(parsed.kind, 'report');
  return toConnectInput(parsed as Extract<typeof parsed, { kind: 'report' }>, raw);
}

test('local serializer: one at a time per key, keys independent', async () => {
  const run = localSerializer();
  const order: string[] = [];
  const slow = (tag: string, ms: number) => async () => {
    order.push(`${tag}+`);
    await new Promise((r) => setTimeout(r, ms));
    order.push(`${tag}-`);
  };
  await Promise.all([run('a', slow('a1', 30)), run('a', slow('a2', 1)), run('b', slow('b1', 1))]);
  assert.ok(order.indexOf('a1-') < order.indexOf('a2+'));
  assert.ok(order.indexOf('b1-') < order.indexOf('a1-'), 'key b does not wait for key a');
  await assert.rejects(run('a', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await run('a', async () => 7), 7);
});

test('postgres: two nodes, concurrent connects and duplicate reports of one device: one result and one audit entry per command', { skip, timeout: 120_000 }, async () => {
  const schema = randomSchema();
  const nodes: { opened: OpenedStorage; pool: pg.Pool; log: AuditLog; lock: ReturnType<typeof pgSerializer>; connect: ReturnType<typeof createConnectService> }[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const opened = await openPostgresStorage(TEST_DATABASE_URL, { schema, poolSize: 6 });
      await opened.migrate();
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
      pool.on('error', () => undefined);
      const log = await AuditLog.open({ store: new PgAuditStore(pool, { schema }), origin: 'rampart.test/audit', signer, shared: true });
      const lock = pgSerializer({ connectionString: TEST_DATABASE_URL, schema });
      const now = (): Date => new Date();
      const connect = createConnectService({
        devices: opened.storage.devices,
        queue: opened.storage.queue,
        inventory: createInventoryService({ devices: opened.storage.devices, now, toJson: plistToJson }),
        audit: log,
        lookup: log,
        now,
        toJson: plistToJson,
        serialize: lock.run,
      });
      nodes.push({ opened, pool, log, lock, connect });
    }
    const st = nodes[0]!.opened.storage;
    const udid = 'DEVICE-1';
    const t = new Date().toISOString();
    await st.devices.create(udid, { status: 'enrolled', identityCertSha256: CERT, enrolledAt: t }, t);
    const uuids = Array.from({ length: 20 }, (_, i) => `cmd-${String(i).padStart(2, '0')}`);
    for (const u of uuids) await st.queue.enqueue({ uuid: u, requestType: 'DeviceLock', payload: buildPlist({ CommandUUID: u, Command: { RequestType: 'DeviceLock' } }), createdBy: 't' }, [udid], t);

    let req = 0;
    const ctx = () => ({ certSha256: CERT, source: '198.51.100.7', requestId: `r${++req}` });
    const handedOut = (body: Uint8Array | undefined): string | undefined =>
      body && body.length > 0 ? (parsePlistDict(body).CommandUUID as string) : undefined;
    // Each worker: Idle on one node, then answer every command it is handed
    // on BOTH nodes at once (a device retrying on the other node).
    const worker = async (w: number): Promise<void> => {
      let r = await nodes[w % 2]!.connect.handle(report({ UDID: udid, Status: 'Idle' }), ctx());
      for (let i = 0; i < 200; i++) {
        const uuid = handedOut(r.body);
        if (!uuid) return;
        const answer = report({ UDID: udid, Status: 'Acknowledged', CommandUUID: uuid });
        const both = await Promise.all(nodes.map((n) => n.connect.handle(answer, ctx())));
        r = both[(w + i) % 2]!;
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    for (const u of uuids) assert.equal((await st.queue.entry(udid, u))?.status, 'acknowledged', u);
    const results = await nodes[0]!.log.search({ action: 'command.result', limit: 1000 });
    const per = new Map<string, number>();
    for (const e of results) per.set(e.targetId!, (per.get(e.targetId!) ?? 0) + 1);
    for (const u of uuids) assert.equal(per.get(u), 1, `audit command.result entries for ${u}`);
  } finally {
    for (const n of nodes) {
      await n.log.close();
      await n.lock.close();
      await n.pool.end();
      await n.opened.close();
    }
    await dropSchema(schema);
  }
});
