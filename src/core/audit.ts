// The core's audit log: the tamper-evident log (src/audit) on its own SQLite
// file next to the main database (or the same PostgreSQL database), signed by
// an Ed25519 key sealed with the key-encryption key, with every checkpoint
// appended to a file sink that should live on another mount.
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { AuditLog } from '../audit/log.ts';
import { generateNoteKey, parseSignerKey } from '../audit/note.ts';
import { readFileSync } from 'node:fs';
import { FileCheckpointSink, SyslogCheckpointSink, WebhookCheckpointSink } from '../audit/sinks.ts';
import type { CheckpointSink } from '../audit/sinks.ts';
import { SiemForwarder, SyslogTlsTransport, WebhookTransport } from '../audit/siem.ts';
import type { AuditConfig } from '../audit/config.ts';
import type { AuditStore } from '../audit/store.ts';
import { SqliteAuditStore } from '../audit/store-sqlite.ts';
import { PgAuditStore } from '../audit/store-pg.ts';
import type { AuditRecorder } from '../audit/types.ts';
import type { Sealer } from '../services/checkin.ts';
import type { OpenedStorage } from '../storage/open.ts';

export interface OpenedAudit {
  recorder: AuditRecorder;
  log: AuditLog;
  verifierKey: string;
  /**
   * SIEM forwarders. On SQLite they run in this process; on PostgreSQL
   * (several nodes) serve.ts runs them as a leader job, so one node forwards.
   */
  siem: SiemForwarder[];
  close(): Promise<void>;
}

const SIGNER = 'audit.signer.sealed';
const VERIFIER = 'audit.verifier';

async function signerKey(storage: OpenedStorage, sealer: Sealer, name: string): Promise<{ signer: string; verifier: string }> {
  const s = storage.storage.settings;
  const sealed = await s.get(SIGNER);
  const verifier = await s.get(VERIFIER);
  if (sealed && verifier) {
    return { signer: Buffer.from(sealer.open(new Uint8Array(Buffer.from(sealed, 'base64')), 'audit-signer')).toString('utf8'), verifier };
  }
  const k = generateNoteKey(name);
  const now = new Date().toISOString();
  await s.set(SIGNER, Buffer.from(sealer.seal(new Uint8Array(Buffer.from(k.signerKey)), 'audit-signer')).toString('base64'), now);
  await s.set(VERIFIER, k.verifierKey, now);
  return { signer: k.signerKey, verifier: k.verifierKey };
}

/** Checkpoint sinks from the configuration: always the file, plus syslog and webhook when set. */
export function checkpointSinks(c: AuditConfig): CheckpointSink[] {
  const ca = c.tlsCaFile !== undefined ? readFileSync(c.tlsCaFile) : undefined;
  const tls = ca !== undefined ? { ca } : {};
  const sinks: CheckpointSink[] = [new FileCheckpointSink(c.checkpointFile)];
  if (c.checkpointSyslog) sinks.push(new SyslogCheckpointSink({ ...c.checkpointSyslog, ...tls }));
  if (c.checkpointWebhook) sinks.push(new WebhookCheckpointSink({ url: c.checkpointWebhook, ...tls }));
  return sinks;
}

/** SIEM forwarders from the configuration, each with its own cursor in the audit store (the spool). */
export function siemForwarders(c: AuditConfig, store: AuditStore, log: Logger): SiemForwarder[] {
  const ca = c.tlsCaFile !== undefined ? readFileSync(c.tlsCaFile) : undefined;
  const tls = ca !== undefined ? { ca } : {};
  const onError = (name: string) => (err: unknown) => log.warn({ forwarder: name, err: err instanceof Error ? err.message : 'unknown' }, 'SIEM delivery failed; retrying');
  const out: SiemForwarder[] = [];
  if (c.siemSyslog) {
    const name = `siem-syslog:${c.siemSyslog.host}:${c.siemSyslog.port}`;
    out.push(new SiemForwarder({ store, name, transport: new SyslogTlsTransport({ ...c.siemSyslog, ...tls }), onError: onError(name) }));
  }
  if (c.siemWebhook && c.siemWebhookSecret) {
    const name = `siem-webhook:${new URL(c.siemWebhook).host}`;
    out.push(new SiemForwarder({ store, name, transport: new WebhookTransport({ url: c.siemWebhook, secret: c.siemWebhookSecret, ...tls }), onError: onError(name) }));
  }
  return out;
}

export async function openAudit(config: Config, storage: OpenedStorage, sealer: Sealer, log: Logger): Promise<OpenedAudit> {
  const host = new URL(config.publicUrl).host.replace(/:\d+$/, '');
  const origin = `${host}/rampart-audit`;
  const keys = await signerKey(storage, sealer, host.replace(/[^A-Za-z0-9.-]/g, '-') || 'rampart');
  let close: () => Promise<void>;
  let store;
  if (storage.backend === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4, application_name: 'rampart-audit' });
    store = new PgAuditStore(pool, storage.schema ? { schema: storage.schema } : {});
    close = () => pool.end();
  } else {
    const db = new DatabaseSync(join(config.dataDir, 'audit.db'));
    store = new SqliteAuditStore(db);
    close = async () => db.close();
  }
  const sinks = checkpointSinks(config.audit);
  const auditLog = await AuditLog.open({
    store,
    origin,
    signer: parseSignerKey(keys.signer),
    sinks,
    // On PostgreSQL any number of nodes append; one of them signs checkpoints.
    shared: storage.backend === 'postgres',
    onError: (err, where) => log.error({ where, err: err instanceof Error ? err.message : 'unknown' }, 'audit log background failure'),
  });
  // One node forwards to the SIEMs: this process on SQLite; the cluster's
  // leader on PostgreSQL (a job registered by serve.ts).
  const forwarders = siemForwarders(config.audit, store, log);
  if (storage.backend !== 'postgres') for (const f of forwarders) f.start();
  return {
    siem: forwarders,
    recorder: auditLog,
    log: auditLog,
    verifierKey: keys.verifier,
    async close() {
      await Promise.all(forwarders.map((f) => f.stop()));
      await auditLog.close();
      for (const s of sinks) if (s instanceof SyslogCheckpointSink) await s.close();
      await close();
    },
  };
}
