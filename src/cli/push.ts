// `rampart push cert upload|show`: a PEM certificate + key, or the .p12 file
// exported from Keychain with its password read from a file (never an argument).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, sanitize } from './client.ts';
import type { ApiClient } from './client.ts';
import { fields } from './format.ts';
import type { PushCertView } from '../push/cert-service.ts';
import { isApproval } from './authz.ts';
import type { ApprovalView } from '../authz/views.ts';

export interface CliHelpers<O> {
  withApi(cmd: Command): Command;
  client(o: O): ApiClient;
  out(s: string): void;
  json(v: unknown): void;
}

type ApiOpts = { json?: boolean };

function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new CliError(`cannot read ${what}`);
  }
}

function read(file: string, what: string): string {
  return readBytes(file, what).toString('utf8');
}

/** A password or passphrase file: its first line (a trailing newline is not part of it). */
function readSecret(file: string, what: string): string {
  return read(file, what).replace(/\r?\n$/, '');
}

function show(h: CliHelpers<ApiOpts>, v: PushCertView): void {
  h.out(fields([
    ['topic', v.topic],
    ['state', v.state],
    ['not before', v.notBefore],
    ['not after', `${v.notAfter} (${v.daysLeft} days left)`],
    ['sha256', v.sha256],
    ['issuer', v.issuer],
    ['uploaded', `${v.uploadedAt} by ${sanitize(v.uploadedBy)}`],
  ]));
  if (v.state !== 'valid') h.out(`warning: the push certificate is ${v.state}; renew it at Apple's Push Certificates Portal with the same Apple ID\n`);
}

export function registerPushCommands<O extends ApiOpts>(program: Command, h: CliHelpers<O>): void {
  const cert = program.command('push').description('APNs push').command('cert').alias('certificate').description('the MDM push certificate');
  h.withApi(cert.command('upload').description('upload the push certificate and its private key: --cert/--key (PEM) or --p12 with --password-file'))
    .option('--cert <file>', 'certificate (PEM)')
    .option('--key <file>', 'private key (PEM; may be the same file as --cert)')
    .option('--passphrase-file <file>', 'passphrase of an encrypted PEM key')
    .option('--p12 <file>', 'PKCS#12 (.p12) file exported from Keychain or openssl pkcs12 -export')
    .option('--password-file <file>', 'file holding the .p12 password (first line)')
    .option('--allow-topic-change', 'replace a certificate of another topic (enrolled devices stop answering pushes)')
    .action(async (o: O & { cert?: string; key?: string; passphraseFile?: string; p12?: string; passwordFile?: string; allowTopicChange?: boolean }) => {
      let body: Record<string, unknown>;
      if (o.p12 !== undefined) {
        if (o.cert !== undefined || o.key !== undefined || o.passphraseFile !== undefined) throw new CliError('--p12 cannot be combined with --cert, --key or --passphrase-file');
        if (o.passwordFile === undefined) throw new CliError('--p12 needs --password-file (the password is never taken on the command line)');
        body = { p12: readBytes(o.p12, '--p12').toString('base64'), p12Password: readSecret(o.passwordFile, '--password-file') };
      } else {
        if (o.cert === undefined || o.key === undefined) throw new CliError('give --cert and --key (PEM), or --p12 and --password-file');
        if (o.passwordFile !== undefined) throw new CliError('--password-file goes with --p12; an encrypted PEM key takes --passphrase-file');
        body = { certPem: read(o.cert, '--cert'), keyPem: read(o.key, '--key') };
        if (o.passphraseFile !== undefined) body.keyPassphrase = readSecret(o.passphraseFile, '--passphrase-file');
      }
      if (o.allowTopicChange === true) body.allowTopicChange = true;
      const v = await h.client(o).post<PushCertView | ApprovalView>('/api/v1/push/certificate', body);
      if (o.json) return h.json(v);
      if (isApproval(v)) {
        h.out(`staged; it takes effect when a second administrator approves: rampart approvals approve ${sanitize(v.id)}\n`);
        return;
      }
      h.out('push certificate installed\n');
      show(h as CliHelpers<ApiOpts>, v);
    });
  h.withApi(cert.command('show').description('the installed push certificate')).action(async (o: O) => {
    const v = await h.client(o).get<PushCertView>('/api/v1/push/certificate');
    if (o.json) return h.json(v);
    show(h as CliHelpers<ApiOpts>, v);
  });
}
