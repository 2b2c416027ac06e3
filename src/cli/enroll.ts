// `rampart invite create|list|revoke` and `rampart ca show|rotate|import|csr|revoke`, over the admin API.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import QRCode from 'qrcode';
import { CliError, sanitize, type ApiClient } from './client.ts';
import { table } from './format.ts';
import { isApproval } from './authz.ts';
import type { ApprovalView } from '../authz/views.ts';

type ApiOpts = { url?: string; token?: string; tokenFile?: string; json?: boolean };

type InvitationView = {
  id: string; status: string; staffId: string | null; groupId: string | null; createdAt: string; expiresAt: string;
  usedAt: string | null; certSerial: string | null;
};
type CertView = { subject: string; serial: string; notBefore: string; notAfter: string; sha256: string; pem: string };

export interface EnrollCliContext {
  withApi(cmd: Command): Command;
  client(o: ApiOpts): ApiClient;
  out(s: string): void;
  json(v: unknown): void;
}

function hours(v: string): string {
  if (!/^[1-9][0-9]{0,2}$/.test(v) || Number(v) > 720) throw new CliError('--expires-in-hours must be 1..720', 2);
  return v;
}

/** A QR code drawn with block characters for a terminal. */
export async function terminalQr(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}

export async function writePngQr(file: string, text: string): Promise<void> {
  const png = await QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale: 6 });
  try {
    writeFileSync(file, png, { mode: 0o600 });
  } catch {
    throw new CliError('cannot write the PNG file');
  }
}

export function registerEnrollmentCommands(program: Command, c: EnrollCliContext): void {
  const invite = program.command('invite').description('one-time enrollment invitations (URL + QR code)');
  c.withApi(invite.command('create').description('create an invitation; prints its one-time URL and a QR code'))
    .option('--staff <id>', 'staff member id the device is for')
    .option('--group <id>', 'device group id')
    .option('--expires-in-hours <n>', 'hours until the invitation expires (default 72)', hours)
    .option('--png <file>', 'also write the QR code as a PNG file')
    .option('--no-qr', 'do not draw the QR code in the terminal')
    .action(async (o: ApiOpts & { staff?: string; group?: string; expiresInHours?: string; png?: string; qr: boolean }) => {
      const body: Record<string, unknown> = {};
      if (o.staff !== undefined) body.staffId = o.staff;
      if (o.group !== undefined) body.groupId = o.group;
      if (o.expiresInHours !== undefined) body.expiresInHours = Number(o.expiresInHours);
      const r = await c.client(o).post<{ invitation: InvitationView; url: string }>('/api/v1/enrollment/invitations', body);
      if (o.png !== undefined) await writePngQr(o.png, r.url);
      if (o.json) return c.json(r);
      c.out(`invitation ${sanitize(r.invitation.id)} (expires ${sanitize(r.invitation.expiresAt)}); open this URL on the device, once:\n  ${sanitize(r.url)}\n`);
      if (o.qr) c.out(`${await terminalQr(r.url)}\n`);
      if (o.png !== undefined) c.out(`QR code written to ${sanitize(o.png)}\n`);
    });
  c.withApi(invite.command('list').description('list invitations, newest first'))
    .addOption(new Option('--status <status>', 'only this status').choices(['open', 'downloaded', 'used', 'revoked']))
    .action(async (o: ApiOpts & { status?: string }) => {
      const r = await c.client(o).get<{ items: InvitationView[] }>('/api/v1/enrollment/invitations', { status: o.status });
      if (o.json) return c.json(r);
      c.out(table(['ID', 'STATUS', 'STAFF', 'GROUP', 'CREATED', 'EXPIRES', 'CERT SERIAL'],
        r.items.map((i) => [i.id, i.status, i.staffId ?? '', i.groupId ?? '', i.createdAt, i.expiresAt, i.certSerial ?? ''])));
    });
  c.withApi(invite.command('revoke <id>').description('revoke an invitation that has not been used'))
    .action(async (id: string, o: ApiOpts) => {
      const r = await c.client(o).del<InvitationView>(`/api/v1/enrollment/invitations/${encodeURIComponent(id)}`);
      if (o.json) return c.json(r);
      c.out(`invitation ${sanitize(r.id)} is ${sanitize(r.status)}\n`);
    });

  const ca = program.command('ca').description('the enrollment certificate authority');
  const showCert = (label: string, v: CertView): string =>
    `${label}: ${sanitize(v.subject)}\n  serial ${sanitize(v.serial)}\n  valid ${sanitize(v.notBefore)} .. ${sanitize(v.notAfter)}\n  SHA-256 ${sanitize(v.sha256)}\n`;
  type CaShow = { current: CertView; chain: CertView[]; ra: CertView; previous: CertView[]; rotationPending: boolean; csrPending: boolean };
  c.withApi(ca.command('show').description('the CA (and its chain), its SCEP RA and rotated-out CAs still trusted'))
    .option('--pem', 'print the CA certificate (and its chain) as PEM')
    .action(async (o: ApiOpts & { pem?: boolean }) => {
      const r = await c.client(o).get<CaShow>('/api/v1/ca');
      if (o.json) return c.json(r);
      if (o.pem) return c.out(r.current.pem + r.chain.map((x) => x.pem).join(''));
      c.out(showCert('CA', r.current));
      for (const x of r.chain) c.out(showCert('  issued by', x));
      c.out(showCert('SCEP RA', r.ra));
      for (const p of r.previous) c.out(showCert('previous CA (trusted for its identities until they expire or renew)', p));
      if (r.rotationPending) c.out('a CA change is staged: it applies at the next start\n');
      if (r.csrPending) c.out('a CSR is pending: import its signed certificate with `rampart ca import --cert <pem> --chain <pem>`\n');
    });
  /** A CA change (rotate, import): in effect at once, or held for a second administrator. */
  const change = async (o: ApiOpts, path: string, body: Record<string, string>, label: string): Promise<void> => {
    const r = await c.client(o).post<{ current: CertView } | ApprovalView>(path, body);
    if (o.json) return c.json(r);
    if (isApproval(r)) return c.out(`held for approval by a second administrator: rampart approvals approve ${sanitize(r.id)}\n`);
    c.out(showCert(label, r.current));
  };
  c.withApi(ca.command('rotate').description('create a new CA, in effect at once; the old one stays trusted for existing identities'))
    .action((o: ApiOpts) => change(o, '/api/v1/ca/rotate', {}, 'new CA (in effect)'));
  c.withApi(ca.command('import').description('make an existing CA (--cert + --key) or an intermediate signed from `ca csr` (--cert + --chain) the enrollment CA'))
    .requiredOption('--cert <file>', 'the CA certificate (PEM)')
    .option('--key <file>', 'its private key (unencrypted PEM); omit for the key of the pending CSR')
    .option('--chain <file>', 'the certificates above it, issuer first, up to the root (PEM)')
    .action(async (o: ApiOpts & { cert: string; key?: string; chain?: string }) => {
      const body: Record<string, string> = { certPem: readPem(o.cert) };
      if (o.key !== undefined) body.keyPem = readPem(o.key);
      if (o.chain !== undefined) body.chainPem = readPem(o.chain);
      return change(o, '/api/v1/ca/import', body, 'imported CA (in effect)');
    });
  c.withApi(ca.command('csr').description('make a new CA key in the server (sealed) and print a CSR for an external root to sign'))
    .option('--cn <name>', 'common name of the intermediate CA')
    .option('--org <name>', 'organization')
    .option('--out <file>', 'write the CSR (PEM) to this file instead of printing it')
    .action(async (o: ApiOpts & { cn?: string; org?: string; out?: string }) => {
      const body: Record<string, string> = {};
      if (o.cn !== undefined) body.commonName = o.cn;
      if (o.org !== undefined) body.organization = o.org;
      const r = await c.client(o).post<{ csrPem: string; publicKeySha256: string }>('/api/v1/ca/csr', body);
      if (o.json) return c.json(r);
      if (o.out !== undefined) {
        try {
          writeFileSync(o.out, r.csrPem, { mode: 0o644 });
        } catch {
          throw new CliError('cannot write the CSR file');
        }
        c.out(`CSR written to ${sanitize(o.out)} (public key SHA-256 ${sanitize(r.publicKeySha256)})\n`);
      } else c.out(r.csrPem);
    });
  c.withApi(ca.command('revoke').description('revoke a device identity certificate (--serial) or every identity of a device (--device); the CRL is published again'))
    .option('--serial <hex>', 'serial number of the certificate (hex)')
    .option('--device <udid>', 'revoke every identity bound to this device')
    .addOption(new Option('--reason <reason>', 'CRL reason').choices(['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn']))
    .action(async (o: ApiOpts & { serial?: string; device?: string; reason?: string }) => {
      if ((o.serial === undefined) === (o.device === undefined)) throw new CliError('give exactly one of --serial and --device', 2);
      const body: Record<string, string> = o.serial !== undefined ? { serial: o.serial } : { deviceId: o.device! };
      if (o.reason !== undefined) body.reason = o.reason;
      const r = await c.client(o).post<{ serials: string[]; alreadyRevoked: boolean }>('/api/v1/ca/revoke', body);
      if (o.json) return c.json(r);
      c.out(`${r.alreadyRevoked ? 'already revoked' : 'revoked'}: ${r.serials.map(sanitize).join(', ')}\n`);
    });
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`cannot read ${sanitize(file)}`);
  }
}
