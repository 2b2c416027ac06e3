// Library side of `rampart audit verify` (the command itself is wired in
// src/cli). Pure argument handling + verification; output goes to the given
// writer so the CLI, tests and the admin API can all use it.
//
//   rampart audit verify --key <verifier key> --checkpoint <file> (--export <file.jsonl> | --sqlite <db> | --postgres <url> [--schema s]) [--json]
//
// --checkpoint: a signed note file, or a FileCheckpointSink JSON Lines file
// (the last checkpoint in it is used). Exit code 0: verified; 1: findings;
// 2: usage or trust error (bad key, checkpoint signature).

import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { readCheckpointFile } from './sinks.ts';
import { SqliteAuditStore } from './store-sqlite.ts';
import { PgAuditStore } from './store-pg.ts';
import { verifyLog } from './verify.ts';
import type { Finding, VerifyResult } from './verify.ts';

export interface AuditVerifyArgs {
  key: string;
  checkpoint: string;
  export?: string;
  sqlite?: string;
  postgres?: string;
  schema?: string;
  json?: boolean;
}

export function parseAuditVerifyArgs(argv: readonly string[]): AuditVerifyArgs {
  const out: Partial<AuditVerifyArgs> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--key': out.key = val(); break;
      case '--checkpoint': out.checkpoint = val(); break;
      case '--export': out.export = val(); break;
      case '--sqlite': out.sqlite = val(); break;
      case '--postgres': out.postgres = val(); break;
      case '--schema': out.schema = val(); break;
      case '--json': out.json = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!out.key || !out.checkpoint) throw new Error('--key and --checkpoint are required');
  if ([out.export, out.sqlite, out.postgres].filter((x) => x !== undefined).length !== 1) throw new Error('give exactly one of --export, --sqlite, --postgres');
  return out as AuditVerifyArgs;
}

/** The trusted checkpoint from a note file or a checkpoint-sink file (its last line). */
export function loadTrustedCheckpoint(path: string): string {
  const text = readFileSync(path, 'utf8');
  if (text.startsWith('{')) {
    const cps = readCheckpointFile(path);
    const last = cps[cps.length - 1];
    if (!last) throw new Error('no checkpoint in file');
    return last.note;
  }
  return text;
}

export function describeFinding(f: Finding): string {
  switch (f.kind) {
    case 'modified': return `entry ${f.index} modified (${f.reason === 'leaf_hash' ? 'content does not match its leaf hash' : 'the next entry does not link to it'})`;
    case 'deleted': return `entry ${f.index} deleted`;
    case 'inserted': return `entry at position ${f.position} inserted (a second entry claiming index ${f.index})`;
    case 'reordered': return `entry ${f.index} out of order (found at position ${f.position})`;
    case 'truncated': return `log truncated: ${f.size} entries, a signed checkpoint covers ${f.expected}`;
    case 'malformed': return `record at position ${f.position} is not a valid entry`;
    case 'checkpoint_mismatch': return `recomputed tree of size ${f.size} does not match the ${f.source} signed checkpoint`;
    case 'bad_checkpoint': return `stored checkpoint${f.size === null ? '' : ` of size ${f.size}`} is not signed by the log key`;
    case 'node_mismatch': return `stored tree node level ${f.level} index ${f.index} differs from the recomputed one`;
  }
}

export function formatResult(r: VerifyResult): string {
  const lines = [r.ok ? `OK: ${r.size} entries verified; signed sizes checked: ${r.checkedSizes.length}; unsigned tail: ${r.unsigned}` : `FAILED: ${r.findings.length} finding(s) over ${r.size} entries`];
  for (const f of r.findings) lines.push(`  - ${describeFinding(f)}`);
  if (r.truncatedFindings) lines.push('  - (more findings not shown)');
  lines.push(`root ${Buffer.from(r.root).toString('hex')}`);
  return lines.join('\n') + '\n';
}

/** Run `rampart audit verify`; returns the process exit code. */
export const AUDIT_VERIFY_USAGE = `usage: rampart audit verify --key '<name>+<hex id>+<base64>' --checkpoint <note file | checkpoint-sink .jsonl>
                            (--export audit.jsonl | --sqlite audit.db | --postgres postgres://... [--schema s]) [--json]
Checks every entry and the tree against a checkpoint you trust (keep it off this machine).
Exit 0: verified; 1: findings, one per line; 2: usage or trust error.
`;

export async function runAuditVerifyCli(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(AUDIT_VERIFY_USAGE);
    return 0;
  }
  let args: AuditVerifyArgs;
  let trusted: string;
  try {
    args = parseAuditVerifyArgs(argv);
    trusted = loadTrustedCheckpoint(args.checkpoint);
  } catch (err) {
    out(`error: ${(err as Error).message}\n`);
    return 2;
  }
  let result: VerifyResult;
  try {
    if (args.export !== undefined) {
      result = await verifyLog(args.export, trusted, args.key);
    } else if (args.sqlite !== undefined) {
      const db = new DatabaseSync(args.sqlite, { readOnly: true });
      try {
        const store = new SqliteAuditStore(db, { readOnly: true });
        await store.init();
        result = await verifyLog(store, trusted, args.key);
      } finally {
        db.close();
      }
    } else {
      const pool = new pg.Pool({ connectionString: args.postgres, max: 2 });
      try {
        result = await verifyLog(new PgAuditStore(pool, { schema: args.schema ?? 'public' }), trusted, args.key);
      } finally {
        await pool.end();
      }
    }
  } catch (err) {
    out(`error: ${(err as Error).message}\n`);
    return 2;
  }
  out(args.json ? JSON.stringify({ ...result, root: Buffer.from(result.root).toString('hex') }) + '\n' : formatResult(result));
  return result.ok ? 0 : 1;
}
