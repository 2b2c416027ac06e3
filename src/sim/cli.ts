// rampart-sim: simulated Apple devices against a running Rampart server.
//   rampart-sim run --data-dir ./data --count 5 [--server https://127.0.0.1:8443] [--interval 10]
// Enrolls the devices (Authenticate, TokenUpdate), then polls /mdm/connect
// every interval and answers the commands it is handed, printing each one.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { SimDevice } from './device.ts';
import { issueLocalIdentities } from './identities.ts';

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
    .description('enroll devices and answer their commands')
    .requiredOption('--data-dir <dir>', "the server's data directory (its CA issues the device identities)")
    .option('--server <url>', 'device-plane URL', 'https://127.0.0.1:8443')
    .option('--count <n>', 'number of devices', positiveInt, 1)
    .option('--interval <seconds>', 'seconds between connects', positiveInt, 10)
    .option('--once', 'connect once and exit', false)
    .action(async (opts: { dataDir: string; server: string; count: number; interval: number; once: boolean }) => {
      const dataDir = path.resolve(opts.dataDir);
      const { identities } = await issueLocalIdentities(dataDir, opts.count);
      const tlsCa = readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8');
      const devices = identities.map((identity) => new SimDevice({ serverUrl: opts.server, tlsCa, topic: DEV_TOPIC, identity }));
      for (const d of devices) {
        await d.enroll();
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
