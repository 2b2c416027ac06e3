// `rampart staff ...` and `rampart pii access`: the staff directory from the
// command line. Output is masked unless `staff reveal` is used (pii.reveal
// and a reason code). `export-keygen` and `decrypt-export` act locally on
// files; everything else goes through the admin API.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { StaffView } from '../directory/types.ts';
import type { ImportReport } from '../directory/import.ts';
import { REVEAL_REASONS } from '../directory/permissions.ts';
import { generateRecipientKey, openSealed } from '../directory/export.ts';
import { isApproval } from './authz.ts';
import type { ApprovalView } from '../authz/views.ts';
import { CliError, sanitize } from './client.ts';
import type { ApiClient } from './client.ts';
import { fields, table } from './format.ts';

interface ApiOpts {
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

export interface StaffCliContext {
  client(o: ApiOpts): ApiClient;
  withApi(cmd: Command): Command;
  out(s: string): void;
  json(v: unknown): void;
}

const enc = encodeURIComponent;

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new CliError(`cannot read ${what}`);
  }
}

function writeSecret(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw new CliError((e as NodeJS.ErrnoException).code === 'EEXIST' ? `${path} exists; not overwritten` : `cannot write ${path}`);
  }
}

function staffTable(items: StaffView[]): string {
  return table(['ID', 'STATUS', 'USER', 'NAME', 'EMAIL', 'PHONES', 'EMPLOYEE', 'DEVICES'], items.map((s) => [s.id, s.status, s.userName, s.displayName ?? [s.givenName, s.familyName].filter(Boolean).join(' '), s.email, s.phones.join(' '), s.employeeNumber, s.deviceIds.join(' ')]));
}

function staffFields(s: StaffView): string {
  return fields([
    ['id', s.id],
    ['status', s.status],
    ['user name', s.userName],
    ['external id', s.externalId],
    ['display name', s.displayName],
    ['given name', s.givenName],
    ['family name', s.familyName],
    ['e-mail', s.email],
    ['phones', s.phones.join(', ')],
    ['department', s.department],
    ['employee number', s.employeeNumber],
    ['devices', s.deviceIds.join(', ')],
    ['invitations', s.invitationIds.join(', ')],
    ['version', s.version],
    ['masked', s.masked],
  ]);
}

export function registerStaffCommands(program: Command, c: StaffCliContext): void {
  const staff = program.command('staff').description('the staff directory (masked unless revealed)');

  c.withApi(staff.command('list').description('list staff (masked; recorded in the access log)'))
    .option('--status <status>', 'active or suspended')
    .option('--after <id>', 'cursor')
    .option('--limit <n>', 'page size (1..1000)')
    .action(async (o: ApiOpts & { status?: string; after?: string; limit?: string }) => {
      const page = await c.client(o).get<{ items: StaffView[]; next?: string }>('/api/v1/staff', { status: o.status, after: o.after, limit: o.limit });
      if (o.json) return c.json(page);
      c.out(staffTable(page.items));
      if (page.next !== undefined) c.out(`more: --after ${sanitize(page.next)}\n`);
    });

  c.withApi(staff.command('show <id>').description('one staff member (masked)')).action(async (id: string, o: ApiOpts) => {
    const s = await c.client(o).get<StaffView>(`/api/v1/staff/${enc(id)}`);
    if (o.json) return c.json(s);
    c.out(staffFields(s));
  });

  c.withApi(staff.command('reveal <id>').description('one staff member in clear (pii.reveal; recorded)'))
    .requiredOption('--reason <code>', `why: ${REVEAL_REASONS.join(', ')}`)
    .option('--ticket <ref>', 'ticket reference, e.g. INC-1234')
    .action(async (id: string, o: ApiOpts & { reason: string; ticket?: string }) => {
      const s = await c.client(o).post<StaffView>(`/api/v1/staff/${enc(id)}/reveal`, { reason: o.reason, ...(o.ticket !== undefined ? { ticket: o.ticket } : {}) });
      if (o.json) return c.json(s);
      c.out(staffFields(s));
    });

  c.withApi(staff.command('search').description('exact match by e-mail, phone, employee number or user name (masked)'))
    .option('--email <email>')
    .option('--phone <e164>')
    .option('--employee-number <n>')
    .option('--user-name <name>')
    .action(async (o: ApiOpts & { email?: string; phone?: string; employeeNumber?: string; userName?: string }) => {
      const body: Record<string, string> = {};
      if (o.email !== undefined) body.email = o.email;
      if (o.phone !== undefined) body.phone = o.phone;
      if (o.employeeNumber !== undefined) body.employeeNumber = o.employeeNumber;
      if (o.userName !== undefined) body.userName = o.userName;
      if (Object.keys(body).length === 0) throw new CliError('give --email, --phone, --employee-number or --user-name', 2);
      const page = await c.client(o).post<{ items: StaffView[] }>('/api/v1/staff/search', body);
      if (o.json) return c.json(page);
      c.out(staffTable(page.items));
    });

  c.withApi(staff.command('import <file>').description('import staff from CSV (one transaction; any invalid row means nothing is applied)'))
    .option('--dry-run', 'report what would happen, change nothing', false)
    .action(async (file: string, o: ApiOpts & { dryRun: boolean }) => {
      const csv = readText(file, 'the CSV file');
      const r = await c.client(o).post<ImportReport>('/api/v1/staff/import', { csv, dryRun: o.dryRun === true });
      if (o.json) c.json(r);
      else {
        c.out(table(['ROW', 'OUTCOME', 'ID', 'ERROR'], r.rows.map((x) => [x.row, x.outcome, x.id, x.error]), 60));
        c.out(`created ${r.counts.created}, updated ${r.counts.updated}, unchanged ${r.counts.unchanged}, invalid ${r.counts.invalid}; ${r.applied ? 'applied' : 'nothing applied'}${r.dryRun ? ' (dry run)' : ''}\n`);
      }
      if (r.counts.invalid > 0) throw new CliError('the file has invalid rows; nothing was applied', 1);
    });

  c.withApi(staff.command('export').description('export every staff record as CSV sealed to a recipient key (pii.export; approval)'))
    .requiredOption('--recipient <key>', 'recipient public key: base64, or a file from export-keygen')
    .requiredOption('--out <file>', 'where to write the sealed file (created, mode 0600)')
    .action(async (o: ApiOpts & { recipient: string; out: string }) => {
      const recipient = /^[A-Za-z0-9+/]{43}=$/.test(o.recipient) ? o.recipient : readText(o.recipient, 'the recipient key').trim();
      const r = await c.client(o).post<{ file: string; rows: number; recipient: string } | ApprovalView>('/api/v1/staff/export', { recipient });
      if (isApproval(r)) {
        // Four-eyes: a second administrator approves; then download the sealed file once.
        c.out(`held for approval ${sanitize(r.id)}: a second administrator runs \`rampart approvals approve ${sanitize(r.id)}\`,\n`);
        c.out(`then download it with \`rampart staff export-download <export id> --out ${sanitize(o.out)}\` (the id is in the approval's result)\n`);
        return;
      }
      writeSecret(o.out, Buffer.from(r.file, 'base64'));
      c.out(`${r.rows} records sealed to recipient ${sanitize(r.recipient)} in ${sanitize(o.out)}\n`);
    });

  c.withApi(staff.command('export-download <id>').description('download, once, the sealed file of an approved export (only its requester)'))
    .requiredOption('--out <file>', 'where to write the sealed file (created, mode 0600)')
    .action(async (id: string, o: ApiOpts & { out: string }) => {
      if (!/^pex_[0-9a-f]{32}$/.test(id)) throw new CliError('invalid export id', 2);
      const r = await c.client(o).get<{ file: string; rows: number; recipient: string }>(`/api/v1/staff/exports/${id}`);
      writeSecret(o.out, Buffer.from(r.file, 'base64'));
      c.out(`${r.rows} records sealed to recipient ${sanitize(r.recipient)} in ${sanitize(o.out)}\n`);
    });

  staff
    .command('export-keygen')
    .description('create an X25519 recipient key pair for exports (local)')
    .requiredOption('--out <file>', 'private key file to create (mode 0600)')
    .action((o: { out: string }) => {
      const k = generateRecipientKey();
      writeSecret(o.out, k.privatePem);
      c.out(`${k.publicB64}\n`);
    });

  staff
    .command('decrypt-export <file>')
    .description('open a sealed export with the recipient private key (local)')
    .requiredOption('--key <file>', 'private key from export-keygen')
    .option('--out <file>', 'write the CSV here (mode 0600) instead of standard output')
    .action((file: string, o: { key: string; out?: string }) => {
      let sealed: Buffer;
      try {
        sealed = readFileSync(file);
      } catch {
        throw new CliError('cannot read the export file');
      }
      const csv = openSealed(sealed, readText(o.key, 'the private key'));
      if (o.out !== undefined) writeSecret(o.out, csv);
      else c.out(Buffer.from(csv).toString('utf8'));
    });

  const pii = program.command('pii').description('personal data accounting');
  c.withApi(pii.command('access').description('which people a principal saw (and how many), or who saw a person'))
    .option('--principal <id>', 'token or administrator id')
    .option('--staff <id>', 'staff id')
    .requiredOption('--since <time>', 'ISO-8601 time')
    .option('--until <time>', 'ISO-8601 time')
    .option('--after <id>', 'cursor (staff id)')
    .option('--limit <n>', 'page size (1..1000)')
    .action(async (o: ApiOpts & { principal?: string; staff?: string; since: string; until?: string; after?: string; limit?: string }) => {
      if ((o.principal === undefined) === (o.staff === undefined)) throw new CliError('give exactly one of --principal and --staff', 2);
      const r = await c.client(o).get<Record<string, unknown>>('/api/v1/pii/access', { principal: o.principal, staffId: o.staff, since: o.since, until: o.until, after: o.after, limit: o.limit });
      if (o.json) return c.json(r);
      if (o.principal !== undefined) {
        c.out(fields([['principal', r.principal], ['since', r.since], ['until', r.until], ['people exposed', r.subjects], ['people revealed in clear', r.revealedSubjects], ['reads (people x responses)', r.reads]]));
        for (const id of (r.staffIds as string[]) ?? []) c.out(`${sanitize(id)}\n`);
        if (r.next !== undefined) c.out(`more: --after ${sanitize(String(r.next))}\n`);
      } else {
        c.out(table(['PRINCIPAL', 'READS', 'REVEALED', 'LAST'], ((r.principals as Array<Record<string, unknown>>) ?? []).map((p) => [p.principal, p.reads, p.revealed, p.lastAt])));
      }
    });
}
