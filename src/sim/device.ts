// A simulated Apple device: its own key and identity certificate, an
// Mdm-Signature on every request, and the check-in / connect conversation a
// real device has with an MDM server.
import https from 'node:https';
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { signDetached } from '../protocol/cms/sign.ts';
import { buildPlist, parsePlistDict, type PlistDict } from '../protocol/plist/index.ts';
import { answer, type SimState } from './responses.ts';

export interface SimIdentity {
  certDer: Uint8Array;
  privateKey: KeyObject;
}

export interface SimDeviceOptions {
  /** Base URL of the device plane, e.g. https://127.0.0.1:8443 */
  serverUrl: string;
  /** PEM of the CA that signed the server's TLS certificate. */
  tlsCa: string | undefined;
  topic: string;
  identity: SimIdentity;
  udid?: string;
  serialNumber?: string;
  supervised?: boolean;
  model?: string;
  osVersion?: string;
  agent?: https.Agent;
  /** Send check-ins to /mdm/checkin and connects to /mdm/connect (default), or both to /mdm. */
  combinedEndpoint?: boolean;
}

export interface HttpAnswer {
  status: number;
  body: Uint8Array;
}

export interface HandledCommand {
  uuid: string;
  requestType: string;
  status: string;
}

let serial = 0;

export class SimDevice {
  readonly state: SimState;
  readonly pushToken: Uint8Array;
  readonly pushMagic: string;
  readonly unlockToken: Uint8Array;
  /** CommandUUIDs of every command this device executed, in order (a re-sent command appears twice). */
  readonly executed: string[] = [];
  private readonly opts: SimDeviceOptions;
  private readonly agent: https.Agent;
  identity: SimIdentity;

  constructor(opts: SimDeviceOptions) {
    this.opts = opts;
    this.identity = opts.identity;
    this.agent = opts.agent ?? new https.Agent({ keepAlive: true, ca: opts.tlsCa, maxSockets: 1 });
    serial += 1;
    const udid = opts.udid ?? randomUUID().toUpperCase();
    this.state = {
      udid,
      serialNumber: opts.serialNumber ?? `SIM${String(serial).padStart(6, '0')}${randomBytes(2).toString('hex').toUpperCase()}`,
      model: opts.model ?? 'iPhone15,2',
      modelName: 'iPhone',
      productName: opts.model ?? 'iPhone15,2',
      osVersion: opts.osVersion ?? '18.1',
      buildVersion: '22B83',
      deviceName: `Simulated iPhone ${serial}`,
      imei: '35 123456 789012 3',
      supervised: opts.supervised ?? true,
      passcodePresent: true,
      locked: false,
      lostMode: false,
      lostModeMessage: null,
      erased: false,
      profiles: [],
      apps: [
        { identifier: 'com.apple.mobilesafari', name: 'Safari', version: '8618', shortVersion: '18.1', bundleSize: 12_000_000, managed: false },
        { identifier: 'com.example.mail', name: 'Mail Client', version: '42', shortVersion: '4.2', bundleSize: 48_000_000, managed: true },
      ],
      certificates: [{ commonName: 'Rampart device identity', der: opts.identity.certDer, isIdentity: true }],
      notNowOnce: new Set(),
    };
    this.pushToken = new Uint8Array(randomBytes(32));
    this.pushMagic = randomUUID().toUpperCase();
    this.unlockToken = new Uint8Array(randomBytes(64));
  }

  get udid(): string {
    return this.state.udid;
  }

  /** PUT a signed plist body; returns the raw answer. */
  async put(path: '/mdm/checkin' | '/mdm/connect' | '/mdm', body: Uint8Array, opts: { sign?: boolean } = {}): Promise<HttpAnswer> {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-apple-aspen-mdm', 'Content-Length': String(body.length) };
    if (opts.sign !== false) {
      headers['Mdm-Signature'] = Buffer.from(signDetached(body, this.identity)).toString('base64');
    }
    const url = new URL(this.opts.combinedEndpoint ? '/mdm' : path, this.opts.serverUrl);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method: 'PUT', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  private checkin(message: PlistDict): Promise<HttpAnswer> {
    return this.put('/mdm/checkin', buildPlist(message));
  }

  authenticate(): Promise<HttpAnswer> {
    const s = this.state;
    return this.checkin({
      MessageType: 'Authenticate',
      UDID: s.udid,
      Topic: this.opts.topic,
      SerialNumber: s.serialNumber,
      Model: s.model,
      ModelName: s.modelName,
      ProductName: s.productName,
      OSVersion: s.osVersion,
      BuildVersion: s.buildVersion,
      DeviceName: s.deviceName,
      IMEI: s.imei,
    });
  }

  tokenUpdate(): Promise<HttpAnswer> {
    return this.checkin({
      MessageType: 'TokenUpdate',
      UDID: this.state.udid,
      Topic: this.opts.topic,
      Token: this.pushToken,
      PushMagic: this.pushMagic,
      UnlockToken: this.unlockToken,
      AwaitingConfiguration: false,
    });
  }

  checkOut(): Promise<HttpAnswer> {
    return this.checkin({ MessageType: 'CheckOut', UDID: this.state.udid, Topic: this.opts.topic });
  }

  setBootstrapToken(token: Uint8Array | undefined): Promise<HttpAnswer> {
    const m: PlistDict = { MessageType: 'SetBootstrapToken', UDID: this.state.udid };
    if (token) m.BootstrapToken = token;
    return this.checkin(m);
  }

  getBootstrapToken(): Promise<HttpAnswer> {
    return this.checkin({ MessageType: 'GetBootstrapToken', UDID: this.state.udid });
  }

  /** Authenticate then TokenUpdate, as a device does right after installing the enrollment profile. */
  async enroll(): Promise<void> {
    const a = await this.authenticate();
    if (a.status !== 200) throw new Error(`Authenticate answered ${a.status}`);
    const t = await this.tokenUpdate();
    if (t.status !== 200) throw new Error(`TokenUpdate answered ${t.status}`);
  }

  /**
   * One connect session, as after a push: Idle, then answer each command the
   * server hands out until it has nothing more. Returns what was handled.
   * `stopAfter` ends the session early (leaving the last answer unsent when
   * `dropLastAnswer` is set, as a device that loses its network would).
   */
  async connect(opts: { stopAfter?: number; dropLastAnswer?: boolean } = {}): Promise<HandledCommand[]> {
    const handled: HandledCommand[] = [];
    let report: PlistDict = { UDID: this.state.udid, Status: 'Idle' };
    for (let i = 0; i < 10_000; i++) {
      const res = await this.put('/mdm/connect', buildPlist(report));
      if (res.status !== 200) throw new Error(`connect answered ${res.status}`);
      if (res.body.length === 0 || this.state.erased) return handled;
      const cmd = parsePlistDict(res.body);
      const uuid = String(cmd.CommandUUID);
      const command = cmd.Command as PlistDict;
      const a = answer(this.state, command);
      this.executed.push(uuid);
      handled.push({ uuid, requestType: String(command.RequestType), status: a.status });
      if (opts.stopAfter !== undefined && handled.length >= opts.stopAfter && opts.dropLastAnswer) return handled;
      report = { UDID: this.state.udid, CommandUUID: uuid, Status: a.status, ...(a.keys ?? {}) };
      if (a.errorChain) report.ErrorChain = a.errorChain;
      if (opts.stopAfter !== undefined && handled.length >= opts.stopAfter) {
        await this.put('/mdm/connect', buildPlist(report));
        return handled;
      }
    }
    return handled;
  }

  close(): void {
    if (!this.opts.agent) this.agent.destroy();
  }
}
