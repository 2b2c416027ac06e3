// rampart-sim: simulated Apple devices against a running Rampart server.
//   RAMPART_TOKEN=rmp_... rampart-sim run --count 5 [--admin http://127.0.0.1:9443] [--tls-ca data/tls/ca.pem]
//   rampart-sim run --invite https://host/enroll/<token> [--invite ...]
// Each device enrolls as an Apple device does: an invitation URL (created
// through the admin API with RAMPART_TOKEN, or given with --invite), the
// signed profile, SCEP, then Authenticate and TokenUpdate. Then it polls
// /mdm/connect every interval and answers the commands it is handed.
//   rampart-sim fleet --data-dir ./data --count 10000
// Tens of thousands of devices in one process for load tests: they share a
// pool of identities issued from the installation's own CA (not SCEP), host a
// local APNs server, and connect only when their push arrives.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { createApiClient } from '../cli/client.ts';
import { SimDevice } from './device.ts';
import { enrollFromInvitation } from './enroll.ts';
import { issueLocalIdentities } from './identities.ts';
import { startSimFleet } from './fleet.ts';
import { createLocalPushCertificate } from '../push/local-apns.ts';

const DEV_TOPIC = 'com.apple.mgmt.External.rampart-development';

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
  program
    .command('fleet')
    .description('many devices in one process; hosts a local APNs server and devices connect only when pushed')
    .requiredOption('--data-dir <dir>', "the server's data directory (its CA issues the device identities)")
    .option('--server <url>', 'device-plane URL', 'https://127.0.0.1:8443')
    .option('--count <n>', 'number of devices', positiveInt, 1000)
    .option('--identities <n>', 'identity certificates shared by the devices', positiveInt, 16)
    .option('--sessions <n>', 'concurrent device sessions', positiveInt, 64)
    .option('--apns-port <port>', 'port of the local APNs server', positiveInt, 9444)
    .action(async (opts: { dataDir: string; server: string; count: number; identities: number; sessions: number; apnsPort: number }) => {
      const dataDir = path.resolve(opts.dataDir);
      const outDir = path.join(dataDir, 'sim-apns');
      mkdirSync(outDir, { recursive: true, mode: 0o700 });
      const push = await createLocalPushCertificate({ topic: DEV_TOPIC });
      const { identities } = await issueLocalIdentities(dataDir, Math.min(opts.identities, opts.count));
      const fleet = await startSimFleet({ topic: DEV_TOPIC, identities, count: opts.count, pushClientCaPem: push.caPem, sessions: opts.sessions, apnsPort: opts.apnsPort });
      writeFileSync(path.join(outDir, 'push-cert.pem'), push.certPem, { mode: 0o600 });
      writeFileSync(path.join(outDir, 'push-key.pem'), push.keyPem, { mode: 0o600 });
      writeFileSync(path.join(outDir, 'apns-ca.pem'), fleet.apns.caPem, { mode: 0o600 });
      const out = process.stdout;
      out.write(`local APNs server (not Apple's): ${fleet.apns.url}\n`);
      out.write(`start the server with RAMPART_APNS_URL=${fleet.apns.url} RAMPART_APNS_CA_FILE=${path.join(outDir, 'apns-ca.pem')}\n`);
      out.write(`then: rampart push cert upload --cert ${path.join(outDir, 'push-cert.pem')} --key ${path.join(outDir, 'push-key.pem')}\n`);
      fleet.connectTo(opts.server, readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8'));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < fleet.devices.length) {
          const d = fleet.devices[next++]!;
          for (let attempt = 0; ; attempt++) {
            try {
              await fleet.enroll(d);
              break;
            } catch (e) {
              if (attempt > 100) throw e;
              await new Promise((r) => setTimeout(r, 1000));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: opts.sessions }, worker));
      out.write(`enrolled ${fleet.devices.length} devices; waiting for pushes (Ctrl-C to stop)\n`);
      let last = '';
      setInterval(() => {
        const s = `pushes ${fleet.stats.pushes}  sessions ${fleet.stats.sessions}  commands answered ${fleet.stats.commands}  failures ${fleet.stats.failures}\n`;
        if (s !== last) out.write(s);
        last = s;
      }, 5000);
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
