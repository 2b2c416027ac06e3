// rampart-sim: simulated Apple devices against a running Rampart server.
//   RAMPART_TOKEN=rmp_... rampart-sim run --count 5 [--admin http://127.0.0.1:9443] [--tls-ca data/tls/ca.pem]
//   rampart-sim run --invite https://host/enroll/<token> [--invite ...]
// Each device enrolls as an Apple device does: an invitation URL (created
// through the admin API with RAMPART_TOKEN, or given with --invite), the
// signed profile, SCEP, then Authenticate and TokenUpdate. Then it polls
// /mdm/connect every interval and answers the commands it is handed.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { createApiClient } from '../cli/client.ts';
import { SimDevice } from './device.ts';
import { enrollFromInvitation } from './enroll.ts';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('a whole number from 1 to 100000');
  return n;
}

export function createSimProgram(): Command {
  const program = new Command('rampart-sim').description('simulated Apple devices for a Rampart server');
  program
    .command('run')
    .description('enroll devices through invitations and answer their commands')
    .option('--invite <url>', 'an invitation URL (repeatable; one device each)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--admin <url>', 'admin API to create invitations with RAMPART_TOKEN', 'http://127.0.0.1:9443')
    .option('--tls-ca <file>', "PEM of the CA that signed the server's TLS certificate", 'data/tls/ca.pem')
    .option('--count <n>', 'number of devices when creating invitations', positiveInt, 1)
    .option('--interval <seconds>', 'seconds between connects', positiveInt, 10)
    .option('--once', 'connect once and exit', false)
    .action(async (opts: { invite: string[]; admin: string; tlsCa: string; count: number; interval: number; once: boolean }) => {
      const tlsCa = readFileSync(opts.tlsCa, 'utf8');
      let urls = opts.invite;
      if (urls.length === 0) {
        const token = process.env.RAMPART_TOKEN;
        if (!token) throw new Error('give --invite URLs, or RAMPART_TOKEN to create invitations through the admin API');
        const api = createApiClient({ url: opts.admin, token });
        urls = [];
        for (let i = 0; i < opts.count; i++) urls.push((await api.post<{ url: string }>('/api/v1/enrollment/invitations', {})).url);
      }
      const devices: SimDevice[] = [];
      for (const url of urls) {
        const enrolled = await enrollFromInvitation(url, { tlsCa });
        const d = new SimDevice({ serverUrl: new URL(enrolled.profile.mdm.serverUrl).origin, tlsCa, topic: enrolled.profile.mdm.topic, identity: enrolled.identity });
        await d.enroll();
        devices.push(d);
        process.stdout.write(`enrolled ${d.udid} (serial ${d.state.serialNumber})\n`);
      }
      for (;;) {
        for (const d of devices) {
          if (d.state.erased) continue;
          const handled = await d.connect();
          for (const h of handled) process.stdout.write(`${d.udid} ${h.requestType} ${h.uuid} -> ${h.status}\n`);
        }
        if (opts.once) break;
        await new Promise((r) => setTimeout(r, opts.interval * 1000));
      }
      for (const d of devices) d.close();
    });
  return program;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  createSimProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`rampart-sim: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
}
