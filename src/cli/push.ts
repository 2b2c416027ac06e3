// `rampart push cert upload|show`. PEM only: convert a .p12 with
// `openssl pkcs12 -in push.p12 -nodes -out push.pem` (see docs/push.md).
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

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`cannot read ${what}`);
  }
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
  const cert = program.command('push').description('APNs push').command('cert').description('the MDM push certificate');
  h.withApi(cert.command('upload').description('upload the push certificate and its private key (PEM files)'))
    .requiredOption('--cert <file>', 'certificate (PEM)')
    .requiredOption('--key <file>', 'private key (PEM; may be the same file as --cert)')
    .option('--passphrase-file <file>', 'passphrase of an encrypted key')
    .option('--allow-topic-change', 'replace a certificate of another topic (enrolled devices stop answering pushes)')
    .action(async (o: O & { cert: string; key: string; passphraseFile?: string; allowTopicChange?: boolean }) => {
      const body: Record<string, unknown> = { certPem: read(o.cert, '--cert'), keyPem: read(o.key, '--key') };
      if (o.passphraseFile !== undefined) body.keyPassphrase = read(o.passphraseFile, '--passphrase-file').replace(/\r?\n$/, '');
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
