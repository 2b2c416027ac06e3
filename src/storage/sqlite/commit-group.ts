// Group commit for the SQLite fast path (src/storage/sqlite/fast.ts). With
// synchronous=FULL every COMMIT waits for the disk (fsync of the WAL); under
// load the device plane made one such commit per command result. Operations
// issued in the same event-loop turn now share one transaction:
//
// - run(fn) opens BEGIN IMMEDIATE if no group is open, runs fn synchronously
//   inside its own SAVEPOINT (a failing operation rolls back alone and is
//   rejected at once), and resolves with fn's result only after the group's
//   COMMIT has returned: nothing is acknowledged before it is durable, so
//   kill -9 at any point loses only operations nobody was told about.
// - The group commits at the end of the turn (setImmediate), when it reaches
//   maxOps, or synchronously before anything else uses the connection
//   (flush(), called by the Kysely driver before every statement, and before
//   close), so Kysely never sees, or writes into, a group.
// - A failed COMMIT rolls the group back and rejects every operation in it.
import type { DatabaseSync } from 'node:sqlite';

export interface CommitGroup {
  /** Runs fn in the open group (opening one); resolves with its result once the group is committed. */
  run<T>(fn: () => T): Promise<T>;
  /** Commits the open group now; nothing when none is open. */
  flush(): void;
  /** A group transaction is open on the connection. */
  readonly open: boolean;
}

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

export function createCommitGroup(raw: DatabaseSync, opts: { maxOps?: number } = {}): CommitGroup {
  const maxOps = opts.maxOps ?? 256;
  let open = false;
  let waiters: Waiter[] = [];

  function flush(): void {
    if (!open) return;
    open = false;
    const done = waiters;
    waiters = [];
    try {
      raw.exec('commit');
    } catch (e) {
      if (raw.isOpen && raw.isTransaction) raw.exec('rollback');
      for (const w of done) w.reject(e);
      return;
    }
    for (const w of done) w.resolve();
  }

  return {
    get open() {
      return open;
    },
    flush,
    run<T>(fn: () => T): Promise<T> {
      if (!open) {
        if (raw.isTransaction) return Promise.reject(new Error('commit group: another transaction is open'));
        raw.exec('begin immediate');
        open = true;
        setImmediate(flush);
      }
      raw.exec('savepoint rampart_group_op');
      let value: T;
      try {
        value = fn();
        raw.exec('release rampart_group_op');
      } catch (e) {
        if (raw.isTransaction) {
          raw.exec('rollback to rampart_group_op');
          raw.exec('release rampart_group_op');
        } else {
          // SQLite rolled the whole transaction back (I/O error, disk full):
          // the group's earlier operations are gone too.
          open = false;
          const lost = waiters;
          waiters = [];
          for (const w of lost) w.reject(e);
        }
        return Promise.reject(e);
      }
      const p = new Promise<T>((resolve, reject) => {
        waiters.push({ resolve: () => resolve(value), reject });
      });
      if (waiters.length >= maxOps) flush();
      return p;
    },
  };
}
