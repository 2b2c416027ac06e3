// The real admin stack with the staff directory, for route, SCIM and CLI
// tests: SQLite file storage, the real audit log, token authenticator and
// admin server; the server's log is captured for leak scans.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { openTestAudit } from '../admin/testkit.ts';
import type { CollectedAudit } from '../admin/testkit.ts';
import { createAdminServer } from '../admin/server.ts';
import { createAuthenticator, createFirstAdmin, issueApiToken } from '../admin/tokens.ts';
import { buildCommand } from '../protocol/commands/build.ts';
import { createCommandService } from '../services/commands.ts';
import { createDeviceService } from '../services/devices.ts';
import { openDirectoryStack } from './testkit.ts';
import type { DirectoryStack } from './testkit.ts';
import type { StaffDirectory } from './staff.ts';
import { runExportJob, permissionGate } from './export.ts';
import { createGroupService } from './groups.ts';
import { openAuthz } from '../authz/index.ts';
import { parseAuthzConfig } from '../authz/config.ts';
import { createAuditReadService } from '../audit/service.ts';

export interface AdminDirectoryStack {
  s: DirectoryStack;
  dir: StaffDirectory;
  audit: CollectedAudit;
  app: FastifyInstance;
  logs: string[];
  rootToken: string;
  tokenFor(scopes: string[]): Promise<{ token: string; id: string }>;
  close(): Promise<void>;
}

export async function openAdminDirectoryStack(backend: 'sqlite' | 'postgres' = 'sqlite'): Promise<AdminDirectoryStack> {
  const s = await openDirectoryStack(backend);
  const storage = s.opened.storage;
  const now = (): Date => new Date(s.clock.now);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const audit = s.audit;
  const authz = await openAuthz({ opened: s.opened, storage, audit, config: parseAuthzConfig(undefined), now });
  const app = await createAdminServer({
    devices: createDeviceService({ devices: storage.devices, audit, scope: authz.scope }),
    commands: createCommandService({ queue: storage.queue, devices: storage.devices, audit, build: (i) => buildCommand(i), now, newUuid: randomUUID, scope: authz.scope, gate: authz.gate }),
    auth: createAuthenticator({ tokens: storage.tokens, admins: storage.admins, now, toActor: authz.tokenActor }),
    authz: { admins: authz.admins, roles: authz.roles, tokens: authz.tokens, approvals: authz.gate },
    auditLog: createAuditReadService({ store: audit.log.store, audit }),
    audit,
    logger,
    health: async () => ({ status: 'ok' }),
    directory: s.dir,
    exportJob: (actor, recipient) => runExportJob({ directory: s.dir, gate: permissionGate(audit), audit: audit }, actor, recipient),
    scimGroups: createGroupService({ db: s.opened.db, audit, now }),
  });
  const first = await createFirstAdmin(storage, 'root', { now });
  await authz.roles.bootstrapOwner(first.admin.id);
  let n = 0;
  return {
    s,
    dir: s.dir,
    audit,
    app,
    logs,
    rootToken: first.token,
    async tokenFor(scopes) {
      const r = await issueApiToken({ tokens: storage.tokens, now }, { principalId: first.admin.id, name: `t${++n}`, scopes });
      return { token: r.token, id: r.record.id };
    },
    async close() {
      await app.close();
      await s.close();
    },
  };
}

export { openTestAudit };
