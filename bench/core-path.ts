// Core-side device-plane benchmark (not a test): the core's half of an idle
// check-in and of a command round trip, in one process, without the gateway,
// TLS or the client. Each request goes through what the core does with a
// gateway message: JSON decode of the IPC message, schema check, CMS
// re-verification (RSA-2048 signer, as Apple devices use), plist re-parse and
// comparison, the services and storage (SQLite file, synchronous=FULL, WAL),
// the audit log (its own SQLite file), and JSON encode of the answer.
//
//   ./node_modules/.bin/node bench/core-path.ts [--n 4000] [--devices 1000] [--only idle|rt] [--conc 1,16]
//
// CPU is this process's user+system time (process.cpuUsage) per request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { openSqliteStorage } from '../src/storage/open.ts';
import { AuditLog } from '../src/audit/log.ts';
import { SqliteAuditStore } from '../src/audit/store-sqlite.ts';
import { generateNoteKey, parseSignerKey } from '../src/audit/note.ts';
import { createCertificateAuthority, issueCertificate } from '../src/pki/authority.ts';
import { signDetached } from '../src/protocol/cms/sign.ts';
import { parseDeviceMessage } from '../src/protocol/device-message.ts';
import { buildPlist } from '../src/protocol/plist/index.ts';
import { createKeyRing, createSecretBox } from '../src/keys/secret-box.ts';
import { parseGatewayMessage } from '../src/ipc/messages.ts';
import { createDevicePlane } from '../src/core/device-plane.ts';
import { createHash } from 'node:crypto';

const { values: args } = parseArgs({ options: { n: { type: 'string', default: '4000' }, devices: { type: 'string', default: '1000' }, only: { type: 'string', default: '' }, conc: { type: 'string', default: '1,16' } } });
const N = Number(args.n);
const K = Number(args.devices);
const TOPIC = 'com.apple.mgmt.External.rampart-bench';
const MAX_BODY = 256 * 1024;

const dir = mkdtempSync(path.join(tmpdir(), 'rampart-core-bench-'));
try {
  const opened = await openSqliteStorage(path.join(dir, 'rampart.db'));
  await opened.migrate();
  const auditDb = new DatabaseSync(path.join(dir, 'audit.db'));
  const key = generateNoteKey('bench.rampart');
  const log = await AuditLog.open({ store: new SqliteAuditStore(auditDb), origin: 'bench.rampart/audit', signer: parseSignerKey(key.signerKey) });
  const ca = await createCertificateAuthority({ commonName: 'Bench CA', validityDays: 30, now: new Date(), keyAlgorithm: 'rsa-2048' });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certDer = await issueCertificate(ca, { subject: 'CN=bench-device', publicKey, validityDays: 30, now: new Date(), profile: 'device-identity' });
  const certSha = createHash('sha256').update(certDer).digest('hex');
  const now = new Date().toISOString();
  const ids = Array.from({ length: K }, (_, i) => `BENCH-${String(i).padStart(6, '0')}`);
  type DevRow = { id: string; status: string; identity_cert_sha256: string; topic: string; push_token: string; push_magic: string; enrolled_at: string; created_at: string; updated_at: string };
  const rows: DevRow[] = ids.map((id) => ({
    id, status: 'enrolled', identity_cert_sha256: certSha, topic: TOPIC, push_token: randomBytes(32).toString('hex'), push_magic: randomUUID(),
    enrolled_at: now, created_at: now, updated_at: now,
  }));
  for (let i = 0; i < rows.length; i += 1000) await opened.db.withTables<{ devices: DevRow }>().insertInto('devices').values(rows.slice(i, i + 1000)).execute();

  const box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));
  const link = createDevicePlane({
    storage: opened.storage, audit: log, lookup: log, sealer: box, trustAnchors: [ca.certDer],
    limits: { maxBodyBytes: MAX_BODY, maxPlistDepth: 32 },
    log: { warn: () => {}, error: (o, m) => console.error(m, o) },
    now: () => new Date(), topic: () => TOPIC,
  });

  let id = 0;
  /** The IPC message as the gateway would send it, already JSON-encoded (what crosses the channel). */
  const wire = (body: Uint8Array): string => {
    const message = parseDeviceMessage('connect', body, { maxBytes: MAX_BODY, maxDepth: 32 }).json;
    return JSON.stringify({
      t: 'mdm', id: ++id, endpoint: 'connect', requestId: randomBytes(12).toString('base64url'), source: '127.0.0.1',
      body: Buffer.from(body).toString('base64'), identity: { kind: 'signature', signature: Buffer.from(signDetached(body, { certDer, privateKey })).toString('base64') }, message,
    });
  };
  async function one(text: string): Promise<{ status: number; body?: string }> {
    const m = parseGatewayMessage(JSON.parse(text));
    if (!m || m.t !== 'mdm') throw new Error('bad message');
    const r = await link.handleMdm(m);
    JSON.stringify(r);
    return r;
  }
  async function measure(label: string, conc: number, texts: string[], units: number): Promise<void> {
    let next = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: conc }, async () => {
      while (next < texts.length) {
        const r = await one(texts[next++]!);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      }
    }));
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    console.log(`| ${label} | ${conc} | ${((c.user + c.system) / units).toFixed(0)} | ${(c.user / units).toFixed(0)} | ${(c.system / units).toFixed(0)} | ${((wall * 1000) / units).toFixed(0)} |`);
  }

  console.log(`core path, ${K} devices, ${N} requests per level; RSA-2048 device signatures`);
  console.log('| scenario | concurrency | CPU µs/unit | user | system | wall µs/unit |');
  console.log('|---|---|---|---|---|---|');
  const idle = ids.map((u) => wire(buildPlist({ UDID: u, Status: 'Idle' })));
  for (const t of idle) await one(t); // first visit writes lastSeenAt: warm-up, not measured
  if (args.only !== 'rt') for (const conc of args.conc.split(',').map(Number)) await measure('idle check-in', conc, Array.from({ length: N }, (_, i) => idle[i % idle.length]!), N);

  // Round trips: one device per worker, commands queued; each report acknowledges the previous one.
  for (const conc of args.only === 'idle' ? [] : args.conc.split(',').map(Number)) {
    const devs = ids.slice(0, conc);
    const per = Math.ceil(N / conc);
    const uuids = devs.map(() => Array.from({ length: per }, () => randomUUID()));
    for (let j = 0; j < per; j++) {
      for (let w = 0; w < conc; w++) {
        const payload = buildPlist({ CommandUUID: uuids[w]![j]!, Command: { RequestType: 'DeviceLock' } });
        await opened.storage.queue.enqueue({ uuid: uuids[w]![j]!, requestType: 'DeviceLock', payload, createdBy: 'bench' }, [devs[w]!], new Date().toISOString());
      }
    }
    // Deliver the first command to each device (not measured), then measure the acknowledgements.
    for (const d of devs) await one(wire(buildPlist({ UDID: d, Status: 'Idle' })));
    const texts: string[][] = devs.map((d, w) => uuids[w]!.map((u) => wire(buildPlist({ UDID: d, CommandUUID: u, Status: 'Acknowledged' }))));
    let done = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(devs.map(async (_d, w) => {
      for (const t of texts[w]!) {
        const r = await one(t);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        done++;
      }
    }));
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    console.log(`| command round trip | ${conc} | ${((c.user + c.system) / done).toFixed(0)} | ${(c.user / done).toFixed(0)} | ${(c.system / done).toFixed(0)} | ${((wall * 1000) / done).toFixed(0)} |`);
  }
  await log.close();
  auditDb.close();
  await opened.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
