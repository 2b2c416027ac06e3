// `rampart audit checkpoint|proof|consistency|search|export`: the audit log
// through the admin API. With --key, checkpoint and proofs are checked here,
// against the log's verifier key, instead of trusting the server's answer.
// (`rampart audit verify` stays offline: src/audit/cli.ts.)
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { openCheckpoint, parseVerifierKey } from '../audit/note.ts';
import { verifyConsistency, verifyInclusion } from '../audit/merkle.ts';
import type { AuditEntryView, AuditSearchPage, CheckpointView, ConsistencyProofView, InclusionProofView } from '../audit/service.ts';
import { CliError, sanitize } from './client.ts';
import type { ApiClient } from './client.ts';
import { fields, table } from './format.ts';

export interface AuditCliHelpers {
  withApi(cmd: Command): Command;
  client(o: object): ApiClient;
  out(s: string): void;
  json(v: unknown): void;
}

interface ApiOpts {
  json?: boolean;
  key?: string;
}

const INDEX = /^(?:0|[1-9][0-9]{0,14})$/;
function parseIndex(v: string): string {
  if (!INDEX.test(v)) throw new CliError(`not a non-negative integer: ${sanitize(v)}`, 2);
  return v;
}
const hexb = (h: string): Buffer => Buffer.from(h, 'hex');

/** The checkpoint, its signature checked with the verifier key. */
function checkSigned(cp: CheckpointView, key: string): void {
  let verified;
  try {
    verified = openCheckpoint(cp.note, parseVerifierKey(key), cp.origin);
  } catch (e) {
    throw new CliError(`checkpoint does not verify with the given key: ${sanitize((e as Error).message)}`);
  }
  if (verified.size !== cp.size || Buffer.from(verified.rootHash).toString('hex') !== cp.rootHash) {
    throw new CliError('checkpoint fields disagree with its signed note');
  }
}

const filterOptions = (cmd: Command): Command =>
  cmd
    .option('--from <time>', 'ISO-8601: entries at or after')
    .option('--to <time>', 'ISO-8601: entries before')
    .addOption(new Option('--actor-type <type>').choices(['admin', 'token', 'device', 'gateway', 'system', 'anonymous']))
    .option('--actor <id>', 'actor id')
    .option('--action <action>', 'exact action, e.g. device.authenticate')
    .option('--action-prefix <prefix>', 'action family, e.g. device')
    .option('--target-type <type>', 'target type')
    .option('--target <id>', 'target id')
    .option('--source <address>', 'source address')
    .addOption(new Option('--outcome <outcome>').choices(['success', 'failure', 'denied']));

interface FilterOpts {
  from?: string;
  to?: string;
  actorType?: string;
  actor?: string;
  action?: string;
  actionPrefix?: string;
  targetType?: string;
  target?: string;
  source?: string;
  outcome?: string;
}

const filterQuery = (o: FilterOpts): Record<string, string | undefined> => ({
  from: o.from,
  to: o.to,
  actorType: o.actorType,
  actorId: o.actor,
  action: o.action,
  actionPrefix: o.actionPrefix,
  targetType: o.targetType,
  targetId: o.target,
  source: o.source,
  outcome: o.outcome,
});

export function registerAuditApiCommands(audit: Command, h: AuditCliHelpers): void {
  const { withApi, client, out, json } = h;
  const keyOption = '--key <verifier key>';
  const keyHelp = "the log's verifier key (printed by `rampart serve`): check the signature and proof locally";

  withApi(audit.command('checkpoint').description("the audit log's latest signed checkpoint"))
    .option(keyOption, keyHelp)
    .action(async (o: ApiOpts) => {
      const cp = await client(o).get<CheckpointView>('/api/v1/audit/checkpoint');
      if (o.key !== undefined) checkSigned(cp, o.key);
      if (o.json) return json(cp);
      out(fields([['origin', cp.origin], ['size', cp.size], ['root', cp.rootHash], ['created', cp.createdAt], ['signature', o.key !== undefined ? 'verified' : 'not checked (pass --key)']]));
      out(`\n${cp.note.split('\n').map(sanitize).join('\n')}`);
    });

  withApi(audit.command('proof <index>').description('inclusion proof of an entry'))
    .option('--size <n>', 'tree size (default: the latest checkpoint)', parseIndex)
    .option(keyOption, keyHelp)
    .action(async (index: string, o: ApiOpts & { size?: string }) => {
      parseIndex(index);
      const api = client(o);
      let cp: CheckpointView | undefined;
      if (o.key !== undefined) {
        cp = await api.get<CheckpointView>('/api/v1/audit/checkpoint');
        checkSigned(cp, o.key);
        if (o.size !== undefined && Number(o.size) !== cp.size) throw new CliError('--key checks against the latest checkpoint; leave out --size', 2);
      }
      const size = o.size ?? (cp ? String(cp.size) : undefined);
      const p = await api.get<InclusionProofView>('/api/v1/audit/proof/inclusion', { index, size });
      if (cp && !verifyInclusion(hexb(p.leafHash), p.index, p.size, p.proof.map(hexb), hexb(cp.rootHash))) {
        throw new CliError(`inclusion proof for entry ${p.index} does NOT verify against the signed checkpoint of size ${cp.size}`);
      }
      if (o.json) return json(cp ? { ...p, verified: true } : p);
      out(fields([['index', p.index], ['size', p.size], ['leaf hash', p.leafHash], ['verified', cp ? 'yes, against the signed checkpoint' : 'not checked (pass --key)']]));
      out(p.proof.map((x) => `  ${x}\n`).join(''));
    });

  withApi(audit.command('consistency <from>').description('consistency proof between tree sizes'))
    .option('--to <n>', 'second tree size (default: the latest checkpoint)', parseIndex)
    .option('--root <hex>', 'root hash you hold for size <from> (with --key: checked)')
    .option(keyOption, keyHelp)
    .action(async (from: string, o: ApiOpts & { to?: string; root?: string }) => {
      parseIndex(from);
      const api = client(o);
      let cp: CheckpointView | undefined;
      if (o.key !== undefined) {
        if (o.root === undefined || !/^[0-9a-f]{64}$/.test(o.root)) throw new CliError('--key needs --root <hex root of size <from>>', 2);
        cp = await api.get<CheckpointView>('/api/v1/audit/checkpoint');
        checkSigned(cp, o.key);
        if (o.to !== undefined && Number(o.to) !== cp.size) throw new CliError('--key checks against the latest checkpoint; leave out --to', 2);
      }
      const to = o.to ?? (cp ? String(cp.size) : undefined);
      const p = await api.get<ConsistencyProofView>('/api/v1/audit/proof/consistency', { from, to });
      if (cp && o.root !== undefined) {
        const same = p.from === p.to && o.root === cp.rootHash;
        if (!same && !verifyConsistency(p.from, p.to, p.proof.map(hexb), hexb(o.root), hexb(cp.rootHash))) {
          throw new CliError(`the log of size ${p.to} is NOT consistent with root ${o.root} at size ${p.from}`);
        }
      }
      if (o.json) return json(cp ? { ...p, verified: true } : p);
      out(fields([['from', p.from], ['to', p.to], ['verified', cp ? 'yes, against the signed checkpoint' : 'not checked (pass --key and --root)']]));
      out(p.proof.map((x) => `  ${x}\n`).join(''));
    });

  filterOptions(withApi(audit.command('search').description('search audit entries (index order)')))
    .option('--after <index>', 'cursor: entries after this index', parseIndex)
    .option('--limit <n>', 'page size (1..1000)')
    .action(async (o: ApiOpts & FilterOpts & { after?: string; limit?: string }) => {
      const page = await client(o).get<AuditSearchPage>('/api/v1/audit/entries', { ...filterQuery(o), after: o.after, limit: o.limit });
      if (o.json) return json(page);
      out(table(
        ['INDEX', 'TIME', 'ACTION', 'ACTOR', 'TARGET', 'SOURCE', 'OUTCOME'],
        page.items.map((it: AuditEntryView) => {
          const e = it.entry as { time?: string; action?: string; actor?: { type: string; id: string }; target?: { type: string; id: string }; source?: string; outcome?: string };
          return [it.index, e.time, e.action, e.actor ? `${e.actor.type}:${e.actor.id}` : null, e.target ? `${e.target.type}:${e.target.id}` : null, e.source ?? null, e.outcome];
        }),
      ));
      if (page.next !== null) out(`more: --after ${sanitize(page.next)}\n`);
    });

  filterOptions(withApi(audit.command('export').description('export entries as JSON Lines (all of them, with checkpoints, when no filter is given)')))
    .option('--out <file>', 'write to this file (mode 0600) instead of standard output')
    .action(async (o: ApiOpts & FilterOpts & { out?: string }) => {
      const body = await client(o).getStream('/api/v1/audit/export', filterQuery(o));
      if (o.out === undefined) {
        const dec = new TextDecoder();
        for await (const chunk of body) out(dec.decode(chunk, { stream: true }));
        out(dec.decode());
        return;
      }
      const file = createWriteStream(o.out, { flags: 'wx', mode: 0o600 });
      for await (const chunk of body) if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
      file.end();
      await finished(file);
    });
}
