// Many simulated devices in one process, for scale tests and the benchmark.
// The fleet hosts the local APNs stand-in (an HTTP/2 TLS server, see
// src/push/local-apns.ts); a device does nothing until its push arrives, then
// connects as a real device does: Idle, then answers each command it is
// handed (Acknowledged) until the server has nothing more.
//
// To hold tens of thousands of devices, a fleet device is a few strings (no
// per-device state object, socket or key): devices share a pool of identity
// certificates (each device is bound to one of them at enrollment), one
// keep-alive HTTPS agent, and a bound on concurrent sessions.
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { signDetached } from '../protocol/cms/sign.ts';
import { buildPlist, parsePlistDict, type PlistDict } from '../protocol/plist/index.ts';
import { startLocalApns, type LocalApns } from '../push/local-apns.ts';
import type { SimIdentity } from './device.ts';

export interface FleetDevice {
  udid: string;
  /** APNs token, hex. */
  token: string;
  pushMagic: string;
  identity: number;
}

export interface SimFleetOptions {
  /** Device-plane URL; may be set later with connectTo(). */
  serverUrl?: string;
  tlsCa?: string | undefined;
  /** Port of the local APNs server (default: any free port). */
  apnsPort?: number;
  topic: string;
  identities: SimIdentity[];
  count: number;
  /** CA (PEM) that the server's push certificate chains to (the local APNs server requires it). */
  pushClientCaPem: string;
  /** Concurrent device sessions (default 64). */
  sessions?: number;
  udidPrefix?: string;
  /** Connect when pushed (default true); false only counts pushes. */
  wake?: boolean;
}

export interface SimFleet {
  devices: FleetDevice[];
  apns: LocalApns;
  /** SHA-256 (hex) of each identity certificate, for binding devices at enrollment. */
  identitySha256: string[];
  stats: { pushes: number; sessions: number; commands: number; failures: number };
  /** Points the fleet at a server (when it was not known at start). */
  connectTo(serverUrl: string, tlsCa: string | undefined): void;
  /** Authenticate + TokenUpdate, as a device does after installing its enrollment profile. */
  enroll(d: FleetDevice): Promise<void>;
  /** Sends one signed PUT; exposed for the benchmark's idle and round-trip loops. */
  put(d: FleetDevice, path: '/mdm/checkin' | '/mdm/connect', body: Uint8Array, signature?: string): Promise<{ status: number; body: Buffer }>;
  /** Signature header value for a body signed by the device's identity. */
  sign(d: FleetDevice, body: Uint8Array): string;
  /** One connect session (as after a push); resolves with the commands answered. */
  session(d: FleetDevice): Promise<number>;
  /** Resolves when no session is running or waiting. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startSimFleet(o: SimFleetOptions): Promise<SimFleet> {
  const prefix = o.udidPrefix ?? 'SIMFLEET';
  const devices: FleetDevice[] = [];
  const byToken = new Map<string, FleetDevice>();
  const seed = randomBytes(8).toString('hex');
  for (let i = 0; i < o.count; i++) {
    const token = createHash('sha256').update(`${seed}:${i}`).digest('hex');
    const d: FleetDevice = { udid: `${prefix}-${String(i).padStart(6, '0')}`, token, pushMagic: `magic-${seed}-${i}`, identity: i % o.identities.length };
    devices.push(d);
    byToken.set(token, d);
  }
  const identitySha256 = o.identities.map((id) => createHash('sha256').update(id.certDer).digest('hex'));
  let serverUrl = o.serverUrl ?? 'https://127.0.0.1:1';
  let agent = new https.Agent({ keepAlive: true, ca: o.tlsCa, maxSockets: o.sessions ?? 64 });
  const stats = { pushes: 0, sessions: 0, commands: 0, failures: 0 };
  const limit = o.sessions ?? 64;
  let active = 0;
  const waiting: FleetDevice[] = [];
  const queued = new Set<FleetDevice>();
  let idleWaiters: (() => void)[] = [];

  function sign(d: FleetDevice, body: Uint8Array): string {
    return Buffer.from(signDetached(body, o.identities[d.identity]!)).toString('base64');
  }

  function put(d: FleetDevice, path: '/mdm/checkin' | '/mdm/connect', body: Uint8Array, signature?: string): Promise<{ status: number; body: Buffer }> {
    const headers = { 'Content-Type': 'application/x-apple-aspen-mdm', 'Content-Length': String(body.length), 'Mdm-Signature': signature ?? sign(d, body) };
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, serverUrl), { method: 'PUT', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async function session(d: FleetDevice): Promise<number> {
    let report: PlistDict = { UDID: d.udid, Status: 'Idle' };
    let n = 0;
    for (let i = 0; i < 1000; i++) {
      const res = await put(d, '/mdm/connect', buildPlist(report));
      if (res.status !== 200) throw new Error(`connect answered ${res.status}`);
      if (res.body.length === 0) return n;
      const cmd = parsePlistDict(new Uint8Array(res.body));
      n++;
      report = { UDID: d.udid, CommandUUID: String(cmd.CommandUUID), Status: 'Acknowledged' };
    }
    return n;
  }

  function pump(): void {
    while (active < limit && waiting.length > 0) {
      const d = waiting.shift()!;
      queued.delete(d);
      active++;
      stats.sessions++;
      session(d).then(
        (n) => {
          stats.commands += n;
        },
        () => {
          stats.failures++;
        },
      ).finally(() => {
        active--;
        pump();
        if (active === 0 && waiting.length === 0) {
          const w = idleWaiters;
          idleWaiters = [];
          for (const f of w) f();
        }
      });
    }
  }

  const apns = await startLocalApns({
    clientCaPem: o.pushClientCaPem,
    ...(o.apnsPort !== undefined ? { port: o.apnsPort } : {}),
    onPush: (p) => {
      stats.pushes++;
      const d = byToken.get(p.token);
      if (!d || p.pushMagic !== d.pushMagic || p.topic !== o.topic || o.wake === false) return;
      // A device woken twice before it connects connects once.
      if (queued.has(d)) return;
      queued.add(d);
      waiting.push(d);
      pump();
    },
  });

  return {
    devices,
    apns,
    identitySha256,
    stats,
    connectTo(url, tlsCa) {
      agent.destroy();
      serverUrl = url;
      agent = new https.Agent({ keepAlive: true, ca: tlsCa, maxSockets: limit });
    },
    async enroll(d) {
      const a = await put(d, '/mdm/checkin', buildPlist({
        MessageType: 'Authenticate', UDID: d.udid, Topic: o.topic, SerialNumber: `F${d.udid.slice(-10)}`, Model: 'iPhone15,2', ModelName: 'iPhone',
        ProductName: 'iPhone15,2', OSVersion: '18.1', BuildVersion: '22B83', DeviceName: `Fleet device ${d.udid.slice(-6)}`,
      }));
      if (a.status !== 200) throw new Error(`Authenticate answered ${a.status}`);
      const t = await put(d, '/mdm/checkin', buildPlist({
        MessageType: 'TokenUpdate', UDID: d.udid, Topic: o.topic, Token: new Uint8Array(Buffer.from(d.token, 'hex')), PushMagic: d.pushMagic, AwaitingConfiguration: false,
      }));
      if (t.status !== 200) throw new Error(`TokenUpdate answered ${t.status}`);
    },
    put,
    sign,
    session,
    idle: () => (active === 0 && waiting.length === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
    async close() {
      await apns.close();
      agent.destroy();
    },
  };
}
