// The core's audit log: the tamper-evident log (src/audit) on its own SQLite
// file next to the main database (or the same PostgreSQL database), signed by
// an Ed25519 key sealed with the key-encryption key, with every checkpoint
// appended to a file sink that should live on another mount.
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { AuditLog } from '../audit/log.ts';
import { generateNoteKey, parseSignerKey } from '../audit/note.ts';
import { FileCheckpointSink } from '../audit/sinks.ts';
import { SqliteAuditStore } from '../audit/store-sqlite.ts';
import { PgAuditStore } from '../audit/store-pg.ts';
import type { AuditRecorder } from '../audit/types.ts';
import type { Sealer } from '../services/checkin.ts';
import type { OpenedStorage } from '../storage/open.ts';

export interface OpenedAudit {
  recorder: AuditRecorder;
  log: AuditLog;
  verifierKey: string;
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
    const db = new DatabaseSync(path.join(config.dataDir, 'audit.db'));
    store = new SqliteAuditStore(db);
    close = async () => db.close();
  }
  const auditLog = await AuditLog.open({
    store,
    origin,
    signer: parseSignerKey(keys.signer),
    sinks: [new FileCheckpointSink(path.join(config.dataDir, 'audit-checkpoints.log'))],
    // On PostgreSQL any number of nodes append; one of them signs checkpoints.
    shared: storage.backend === 'postgres',
    onError: (err, where) => log.error({ where, err: err instanceof Error ? err.message : 'unknown' }, 'audit log background failure'),
  });
  return {
    recorder: auditLog,
    log: auditLog,
    verifierKey: keys.verifier,
    async close() {
      await auditLog.close();
      await close();
    },
  };
}
