// The supervisor forks the device gateway inside Node's permission model and
// restarts it when it dies. This is the only module in src/ allowed to use
// node:child_process (ESLint enforces that).
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreMessage, GatewayMessage, InitMessage } from '../ipc/messages.ts';
import { parseGatewayMessage } from '../ipc/messages.ts';

export const APP_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GATEWAY_ENTRY = path.join(APP_ROOT, 'src', 'gateway', 'main.ts');

/**
 * Node flags for the gateway: it may read the application's code and nothing
 * else (not the data directory, not keys), may not write files, start
 * processes or workers, load addons, use WASI or the inspector, open SQLite
 * databases (node:sqlite is outside the permission model in Node 24, so the
 * module is switched off), or generate code from strings.
 */
export function gatewayExecArgv(appRoot = APP_ROOT): string[] {
  return [
    '--permission',
    `--allow-fs-read=${path.join(appRoot, 'src')}${path.sep}`,
    `--allow-fs-read=${path.join(appRoot, 'node_modules')}${path.sep}`,
    `--allow-fs-read=${path.join(appRoot, 'package.json')}`,
    '--no-experimental-sqlite',
    '--disallow-code-generation-from-strings',
    '--disable-sigusr1',
    '--max-old-space-size=512',
  ];
}

/** The gateway gets no secrets from the environment: only what Node itself needs. */
export function gatewayEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_ENV: process.env.NODE_ENV ?? 'production' };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return env;
}

export interface GatewaySupervisorOptions {
  init: InitMessage;
  onMessage(m: GatewayMessage): void;
  /** A message that failed validation: the gateway is misbehaving. */
  onInvalidMessage(): void;
  onReady(port: number): void;
  onExit(info: { code: number | null; signal: string | null; restartInMs: number | null }): void;
  /** For tests: a different entry script run under the same sandbox. */
  entry?: string;
}

export interface GatewaySupervisor {
  send(m: CoreMessage): void;
  pid(): number | undefined;
  stop(): Promise<void>;
}

export function superviseGateway(opts: GatewaySupervisorOptions): GatewaySupervisor {
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | undefined;

  const spawn = (): void => {
    startedAt = Date.now();
    const c = fork(opts.entry ?? GATEWAY_ENTRY, [], {
      execArgv: gatewayExecArgv(),
      env: gatewayEnv(),
      cwd: APP_ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child = c;
    c.on('message', (raw: unknown) => {
      const m = parseGatewayMessage(raw);
      if (!m) {
        opts.onInvalidMessage();
        return;
      }
      if (m.t === 'ready') {
        failures = 0;
        opts.onReady(m.port);
      } else opts.onMessage(m);
    });
    c.on('error', () => {
      /* exit follows */
    });
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined;
      if (stopping) {
        opts.onExit({ code, signal, restartInMs: null });
        return;
      }
      if (Date.now() - startedAt > 60_000) failures = 0;
      failures += 1;
      const delay = Math.min(5_000, 100 * 2 ** Math.min(failures - 1, 6));
      opts.onExit({ code, signal, restartInMs: delay });
      restartTimer = setTimeout(spawn, delay);
    });
    c.send(opts.init);
  };
  spawn();

  return {
    send(m: CoreMessage): void {
      if (child?.connected) child.send(m);
    },
    pid: () => child?.pid,
    stop(): Promise<void> {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const c = child;
      if (!c || c.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
        c.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        c.kill('SIGTERM');
      });
    },
  };
}
