// End-to-end harness: starts the real `rampart serve` process (which forks the
// sandboxed gateway) on a fresh data directory and loopback ports. Simulated
// devices enroll as real ones do: an invitation from the admin API, the signed
// profile from its URL, SCEP, then Authenticate/TokenUpdate.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { SimDevice, type SimIdentity } from '../../src/sim/device.ts';
import { enrollFromInvitation, type EnrolledDevice } from '../../src/sim/enroll.ts';


export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerProcess {
  child: ChildProcess;
  dataDir: string;
  deviceUrl: string;
  adminUrl: string;
  token: string | undefined;
  output(): string;
  /** Waits for the process to exit. */
  exited: Promise<number | null>;
}

export async function startServerProcess(opts: { dataDir?: string; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const freshDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'rampart-e2e-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'src', 'cli', 'main.ts'), 'serve', '--dev'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      RAMPART_DATA_DIR: dataDir,
      RAMPART_DEVICE_LISTEN: '127.0.0.1:0',
      RAMPART_ADMIN_LISTEN: '127.0.0.1:0',
      RAMPART_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const device = /Device plane \(public\):\s+(https:\/\/\S+)/.exec(out);
    const admin = /Admin API \(loopback\):\s+(http:\/\/\S+)\/api\/v1/.exec(out);
    // The banner arrives in several writes: wait for its end (the checkpoint
    // line, and the credential when a first administrator was created).
    // A fresh data directory on SQLite always prints a first credential (a node joining a shared database may not).
    const expectToken = freshDataDir && opts.env?.RAMPART_DATABASE_URL === undefined;
    const complete = /Audit checkpoints:[^\n]*\n/.test(out)
      && (!(out.includes('First administrator') || expectToken) || /One-time credential[^\n]*\n\s+rmp_\S+\n/.test(out));
    if (device && admin && complete) {
      const token = /One-time credential[^\n]*\n\s+(rmp_\S+)/.exec(out)?.[1];
      return { child, dataDir, deviceUrl: device[1]!, adminUrl: admin[1]!, token, output: () => out, exited };
    }
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopServerProcess(s: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s.child.exitCode === null) s.child.kill(signal);
  await s.exited;
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function simDevice(server: ServerProcess, identity: SimIdentity, caPem: string, extra: Partial<ConstructorParameters<typeof SimDevice>[0]> = {}): SimDevice {
  return new SimDevice({
    serverUrl: server.deviceUrl,
    tlsCa: caPem,
    topic: 'com.apple.mgmt.External.rampart-development',
    identity,
    ...extra,
  });
}

export async function api(server: ServerProcess, method: string, url: string, body?: unknown, token: string | null | undefined = server.token): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.adminUrl}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

/** The PEM of the CA that signed the server's development TLS certificate. */
export function tlsCaPem(server: ServerProcess): string {
  return readFileSync(path.join(server.dataDir, 'tls', 'ca.pem'), 'utf8');
}

/** A new invitation's URL (admin API). */
export async function createInvitation(server: ServerProcess, body: Record<string, unknown> = {}): Promise<{ url: string; id: string }> {
  const r = await api(server, 'POST', '/api/v1/enrollment/invitations', body);
  if (r.status !== 201) throw new Error(`invitation: ${r.status} ${JSON.stringify(r.json)}`);
  const j = r.json as { url: string; invitation: { id: string } };
  return { url: j.url, id: j.invitation.id };
}

/**
 * A simulated device enrolled through an invitation: profile download, SCEP
 * PKCSReq, then (unless `checkin: false`) Authenticate and TokenUpdate.
 */
export async function enrollSimDevice(
  server: ServerProcess,
  extra: Partial<ConstructorParameters<typeof SimDevice>[0]> & { checkin?: boolean } = {},
): Promise<{ device: SimDevice; enrolled: EnrolledDevice; invitationId: string }> {
  const tlsCa = tlsCaPem(server);
  const { url, id } = await createInvitation(server);
  const enrolled = await enrollFromInvitation(url, { tlsCa });
  const { checkin, ...rest } = extra;
  const device = new SimDevice({
    serverUrl: new URL(enrolled.profile.mdm.serverUrl).origin,
    tlsCa,
    topic: enrolled.profile.mdm.topic,
    identity: enrolled.identity,
    ...rest,
  });
  if (checkin !== false) await device.enroll();
  return { device, enrolled, invitationId: id };
}

/** `n` device identities, each enrolled through its own invitation (profile + SCEP), and the TLS CA. */
export async function enrolledIdentities(server: ServerProcess, n: number): Promise<{ identities: SimIdentity[]; caPem: string }> {
  const caPem = tlsCaPem(server);
  const identities: SimIdentity[] = [];
  for (let i = 0; i < n; i++) {
    const { url } = await createInvitation(server);
    identities.push((await enrollFromInvitation(url, { tlsCa: caPem })).identity);
  }
  return { identities, caPem };
}
