// `rampart migrate` and `rampart db copy`: database maintenance on the local
// installation (no admin API involved). See docs/multi-node.md.
import path from 'node:path';
import type { Command } from 'commander';
import { CliError } from './client.ts';
import type { CliIo } from './program.ts';

export function registerDbCommands(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('run every migration (storage, modules, audit log) on the configured database, then exit; safe from several nodes at once')
    .option('--config <file>', 'configuration file (JSON; env RAMPART_CONFIG)')
    .option('--dev', 'the installation runs in development mode (serve --dev)', false)
    .action(async (o: { config?: string; dev: boolean }) => {
      const { loadConfig } = await import('../config/config.ts');
      const { openStorage } = await import('../storage/open.ts');
      const { migrateInstallation } = await import('../cluster/migrate.ts');
      const config = loadConfig({ env: io.env, dev: o.dev === true, ...(o.config !== undefined ? { file: o.config } : {}) });
      const opened = await openStorage({
        databaseUrl: config.databaseUrl,
        sqlitePath: path.join(config.dataDir, 'rampart.db'),
        postgres: { schema: config.databaseSchema, statementTimeoutMs: 0 },
      });
      try {
        const r = await migrateInstallation(opened, { databaseUrl: config.databaseUrl, auditSqlitePath: path.join(config.dataDir, 'audit.db') });
        io.stdout.write(`migrated ${r.backend}${r.schema ? ` schema ${r.schema}` : ''}: ${r.modules.join(', ')}\n`);
      } finally {
        await opened.close();
      }
    });

  const db = program.command('db').description('database maintenance');
  db.command('copy')
    .description('copy a stopped SQLite installation (and its audit log) into PostgreSQL, then verify row counts and the audit root hash')
    .requiredOption('--from <source>', 'sqlite:<path to rampart.db> (audit.db beside it is copied too)')
    .requiredOption('--to <url>', 'postgres://... (prefer env RAMPART_DATABASE_URL: arguments are visible to other users)')
    .option('--schema <name>', 'target schema (default: RAMPART_DATABASE_SCHEMA or public)')
    .option('--force-empty-target', 'empty the target tables first instead of refusing a non-empty target', false)
    .option('--batch <rows>', 'rows per INSERT', '1000')
    .option('--json', 'print the report as JSON')
    .action(async (o: { from: string; to: string; schema?: string; forceEmptyTarget: boolean; batch: string; json?: boolean }) => {
      if (!o.from.startsWith('sqlite:') || o.from.length <= 'sqlite:'.length) throw new CliError('--from must be sqlite:<path>', 2);
      const to = o.to === 'env' ? io.env.RAMPART_DATABASE_URL ?? '' : o.to;
      if (!/^postgres(ql)?:\/\//.test(to)) throw new CliError('--to must be a postgres:// URL (or "env" for RAMPART_DATABASE_URL)', 2);
      if (!/^\d{1,5}$/.test(o.batch)) throw new CliError('--batch must be a number', 2);
      const { copySqliteToPostgres, formatCopyReport } = await import('../cluster/db-copy.ts');
      const report = await copySqliteToPostgres({
        fromSqlite: path.resolve(o.from.slice('sqlite:'.length)),
        toUrl: to,
        schema: o.schema ?? io.env.RAMPART_DATABASE_SCHEMA ?? 'public',
        forceEmptyTarget: o.forceEmptyTarget === true,
        batchRows: Number(o.batch),
        progress: (line) => void io.stderr.write(`${line}\n`),
      });
      io.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatCopyReport(report));
      if (!report.ok) throw new CliError('the copy does not match the source', 1);
    });
}
