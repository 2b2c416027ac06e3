// Device identities for load tests only, issued by an installation's own CA
// from its data directory on the same machine: `rampart-sim fleet`,
// bench/device-plane.ts and the push-fleet e2e test, where tens of thousands
// of devices share a pool of identities. Every other simulated device enrolls
// as a real one does (src/sim/enroll.ts: invitation, profile, SCEP).
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { loadConfig } from '../config/config.ts';
import { issueDeviceIdentity, loadCa } from '../core/ca.ts';
import { openKeys } from '../core/keys.ts';
import { toPem } from '../pki/pem.ts';
import { openStorage } from '../storage/open.ts';
import type { SimIdentity } from './device.ts';

export async function issueLocalIdentities(dataDir: string, count: number, opts: { databaseUrl?: string; databaseSchema?: string } = {}): Promise<{ identities: SimIdentity[]; caPem: string }> {
  const env: NodeJS.ProcessEnv = { RAMPART_DATA_DIR: dataDir };
  if (process.env.RAMPART_MASTER_KEY) env.RAMPART_MASTER_KEY = process.env.RAMPART_MASTER_KEY;
  const config = loadConfig({ env, dev: true });
  const keys = await openKeys(config);
  const storageConfig: { sqlitePath: string; databaseUrl?: string; postgres?: { schema: string } } = { sqlitePath: path.join(dataDir, 'rampart.db') };
  if (opts.databaseUrl) storageConfig.databaseUrl = opts.databaseUrl;
  if (opts.databaseSchema) storageConfig.postgres = { schema: opts.databaseSchema };
  const opened = await openStorage(storageConfig);
  try {
    const ca = await loadCa({ settings: opened.storage.settings, sealer: keys.sealer });
    if (!ca) throw new Error(`no CA in ${dataDir}: start the server once first`);
    const identities: SimIdentity[] = [];
    for (let i = 0; i < count; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const certDer = await issueDeviceIdentity(
        { ca, certificates: opened.storage.certificates, now: () => new Date() },
        { publicKey, commonName: `rampart-sim-${i}` },
      );
      identities.push({ certDer, privateKey });
    }
    return { identities, caPem: toPem('CERTIFICATE', ca.certDer) };
  } finally {
    await opened.close();
  }
}
