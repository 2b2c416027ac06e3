// Device groups and fleet-wide actions, wired once for serve.ts: own module
// migrations, the services, and the in-process bulk worker.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { OpenedStorage } from '../storage/open.ts';
import type { CommandService } from '../services/types.ts';
import type { CommandBuilder } from '../services/commands.ts';
import { GROUPS_MIGRATION_TABLE, createGroupStore, groupMigrations } from '../groups/store.ts';
import { createGroupService, type GroupService } from '../groups/service.ts';
import { BULK_MIGRATION_TABLE, bulkMigrations, createBulkStore } from '../bulk/store.ts';
import { createBulkService, startBulkWorker, type BulkService } from '../bulk/service.ts';
import type { OutboxStore } from '../push/outbox.ts';
import type { ApprovalGuard, GroupMembership } from '../authz/types.ts';

export interface OpenedFleet {
  groups: GroupService;
  /** Group membership, for the device-group limits of role assignments (src/authz). */
  membership: GroupMembership;
  bulk: BulkService;
  /** Whether a device group with this id exists (enrollment invitations name one). */
  groupExists(id: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function openFleet(d: {
  opened: OpenedStorage;
  audit: AuditRecorder;
  commands: CommandService;
  build: CommandBuilder;
  outbox?: Pick<OutboxStore, 'counts'>;
  log: Logger;
  now: () => Date;
  /** Four-eyes gate for bulk requests; `commands` is then the ungated service the worker queues with. */
  gate?: ApprovalGuard;
}): Promise<OpenedFleet> {
  await d.opened.migrateModule(GROUPS_MIGRATION_TABLE, groupMigrations(d.opened.backend));
  await d.opened.migrateModule(BULK_MIGRATION_TABLE, bulkMigrations(d.opened.backend));
  const groupStore = createGroupStore(d.opened.db);
  const groups = createGroupService({ groups: groupStore, audit: d.audit, now: d.now });
  const outbox = d.outbox;
  const raw = createBulkService({
    jobs: createBulkStore(d.opened.db, d.opened.backend),
    groups: groupStore,
    devices: d.opened.storage.devices,
    commands: d.commands,
    queue: d.opened.storage.queue,
    ...(outbox ? { pushCounts: (uuid: string) => outbox.counts(uuid) } : {}),
    build: d.build,
    audit: d.audit,
    now: d.now,
    ...(d.gate ? { gate: d.gate } : {}),
  });
  const worker = startBulkWorker(raw, `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, (e) =>
    d.log.error({ err: e instanceof Error ? e.message : 'unknown' }, 'bulk command job failed; it is retried after its lease'));
  const bulk: BulkService = {
    ...raw,
    async request(actor, input) {
      const job = await raw.request(actor, input);
      worker.wake();
      return job;
    },
  };
  return {
    groups,
    membership: { groupsOf: (deviceId) => groupStore.groupsOf(deviceId) },
    bulk,
    groupExists: async (id) => (await groupStore.get(id)) !== undefined,
    stop: () => worker.stop(),
  };
}
