// SIEM forwarding. Entries are read from the audit store itself, which is the
// on-disk spool: they are already durable there. Each forwarder keeps a
// cursor (next index to deliver) in audit_cursor and advances it only after
// the sink accepted a batch, so an outage loses nothing and delivery resumes
// in index order (at-least-once: a batch cut off mid-way is sent again).
//
// Transports:
// - RFC 5424 syslog over TLS (RFC 5425) with octet-counting framing
//   ("<length> <message>").
// - JSON over an HTTPS webhook, signed with HMAC-SHA256:
//   X-Rampart-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>.<body>")>

import { createHmac } from 'node:crypto';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { hostname as osHostname } from 'node:os';
import { httpsPost } from './sinks.ts';
import type { AuditStore, StoredEntry } from './store.ts';

export interface SiemTransport {
  readonly name: string;
  /** Deliver a batch in order; resolves when the sink has accepted it. */
  send(entries: readonly StoredEntry[]): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- syslog

export interface SyslogFormat {
  hostname?: string;
  appName?: string;
  /** Syslog facility number; default 13 (log audit). */
  facility?: number;
}

const SD_ID = 'rampart@32473'; // 32473: the enterprise number RFC 5612 reserves for examples

function printAscii(s: string, max: number): string {
  const t = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return t.length > 0 ? t : '-';
}

const sdEscape = (s: string): string => s.replace(/[\\"\]]/g, (c) => '\\' + c);

function severity(outcome: string): number {
  return outcome === 'success' ? 6 : outcome === 'denied' ? 4 : 5;
}

/** One RFC 5424 message for an entry. The MSG part is the canonical entry JSON, UTF-8 with BOM. */
export function formatSyslog(e: StoredEntry, f: SyslogFormat = {}): string {
  const pri = (f.facility ?? 13) * 8 + severity(e.outcome);
  const host = printAscii(f.hostname ?? osHostname(), 255);
  const app = printAscii(f.appName ?? 'rampart', 48);
  const msgid = printAscii(e.action, 32);
  const sd = `[${SD_ID} index="${e.index}" leafHash="${Buffer.from(e.leafHash).toString('hex')}" outcome="${sdEscape(e.outcome)}"]`;
  return `<${pri}>1 ${e.time} ${host} ${app} - ${msgid} ${sd} \ufeff${e.entry}`;
}

/**
 * A signed checkpoint as one RFC 5424 message: MSGID "checkpoint", structured
 * data with the size and root, and the signed note (newlines kept) as MSG.
 */
export function formatCheckpointSyslog(cp: { size: number; rootHash: Uint8Array; note: string; createdAt: string }, f: SyslogFormat = {}): string {
  const pri = (f.facility ?? 13) * 8 + 5;
  const host = printAscii(f.hostname ?? osHostname(), 255);
  const app = printAscii(f.appName ?? 'rampart', 48);
  const sd = `[${SD_ID} size="${cp.size}" rootHash="${Buffer.from(cp.rootHash).toString('hex')}"]`;
  return `<${pri}>1 ${cp.createdAt} ${host} ${app} - checkpoint ${sd} \ufeff${cp.note}`;
}

/** RFC 5425 / RFC 6587 octet counting: "<octets> <message>". */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/** Parse octet-counted frames from a buffer; returns messages and the unconsumed rest. */
export function parseOctetFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let off = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0 || sp - off > 10) break;
    const len = Number(buf.subarray(off, sp).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= 0) throw new Error('bad syslog frame');
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    off = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(off) };
}

export interface SyslogTlsOptions extends SyslogFormat {
  host: string;
  port: number;
  /** CA certificates (PEM) to trust for the collector; the system store otherwise. */
  ca?: string | Buffer;
  /** Client certificate and key for mutual TLS, if the collector wants it. */
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  connectTimeoutMs?: number;
}

export class SyslogTlsTransport implements SiemTransport {
  readonly name: string;
  readonly #o: SyslogTlsOptions;
  #sock: TLSSocket | null = null;

  constructor(opts: SyslogTlsOptions) {
    this.#o = opts;
    this.name = `syslog-tls:${opts.host}:${opts.port}`;
  }

  #connect(): Promise<TLSSocket> {
    if (this.#sock && !this.#sock.destroyed && this.#sock.writable) return Promise.resolve(this.#sock);
    const o = this.#o;
    return new Promise((resolve, reject) => {
      const s = connect({
        host: o.host,
        port: o.port,
        servername: o.servername ?? (/^[\d.:]+$/.test(o.host) ? undefined : o.host),
        ...(o.ca !== undefined ? { ca: o.ca } : {}),
        ...(o.cert !== undefined ? { cert: o.cert } : {}),
        ...(o.key !== undefined ? { key: o.key } : {}),
        minVersion: 'TLSv1.2',
      });
      const timer = setTimeout(() => s.destroy(new Error('syslog connect timed out')), o.connectTimeoutMs ?? 5000);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.on('error', () => s.destroy());
        this.#sock = s;
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  async send(entries: readonly StoredEntry[]): Promise<void> {
    await this.sendMessages(entries.map((e) => formatSyslog(e, this.#o)));
  }

  /** Send already formatted RFC 5424 messages, octet-counted, in order. */
  async sendMessages(messages: readonly string[]): Promise<void> {
    const s = await this.#connect();
    const data = Buffer.concat(messages.map(octetFrame));
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new Error('syslog connection closed'));
      s.once('close', onClose);
      s.write(data, (err) => {
        s.off('close', onClose);
        if (err) {
          s.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const s = this.#sock;
    this.#sock = null;
    if (s && !s.destroyed) await new Promise<void>((r) => s.end(() => r()));
  }
}

// ---------------------------------------------------------------- webhook

export interface WebhookTransportOptions {
  url: string;
  /** HMAC-SHA256 key shared with the receiver. */
  secret: string | Buffer;
  ca?: string | Buffer;
  timeoutMs?: number;
  now?: () => number;
}

export const SIGNATURE_HEADER = 'x-rampart-signature';

export function webhookSignature(secret: string | Buffer, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Body: {"entries":[{"index","leafHash","entry":{...}}]} */
export function webhookBody(entries: readonly StoredEntry[]): string {
  return `{"entries":[${entries.map((e) => `{"index":${e.index},"leafHash":"${Buffer.from(e.leafHash).toString('hex')}","entry":${e.entry}}`).join(',')}]}`;
}

export class WebhookTransport implements SiemTransport {
  readonly name: string;
  readonly #o: WebhookTransportOptions;

  constructor(opts: WebhookTransportOptions) {
    if (new URL(opts.url).protocol !== 'https:') throw new Error('webhook URL must be https');
    this.#o = opts;
    this.name = `webhook:${new URL(opts.url).host}`;
  }

  async send(entries: readonly StoredEntry[]): Promise<void> {
    const body = webhookBody(entries);
    const t = Math.floor((this.#o.now ?? Date.now)() / 1000);
    await httpsPost(this.#o.url, body, { 'content-type': 'application/json', [SIGNATURE_HEADER]: webhookSignature(this.#o.secret, t, body) }, this.#o);
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------- forwarder

export interface ForwarderOptions {
  store: AuditStore;
  transport: SiemTransport;
  /** Cursor name in audit_cursor; one per destination. */
  name: string;
  batchSize?: number;
  /** Poll for new entries this often when idle (default 1000 ms); kick() forwards sooner. */
  pollMs?: number;
  /** Retry back-off after a failed send: min, doubling up to max (default 250 ms .. 30 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  onError?: (err: unknown) => void;
}

export class SiemForwarder {
  readonly #o: ForwarderOptions;
  #running = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Index of the next entry to deliver (mirrors the stored cursor). */
  next = 0;

  constructor(opts: ForwarderOptions) {
    this.#o = opts;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Forward new entries now instead of at the next poll. */
  kick(): void {
    const w = this.#wake;
    this.#wake = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    w?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      this.#wake = r;
      this.#timer = setTimeout(() => this.kick(), ms);
    });
  }

  /** Deliver everything currently in the store once; returns entries delivered. Throws on sink failure. */
  async forwardOnce(): Promise<number> {
    const { store, transport, name } = this.#o;
    const batchSize = this.#o.batchSize ?? 500;
    this.next = await store.getCursor(name);
    let sent = 0;
    for (;;) {
      const batch: StoredEntry[] = [];
      for await (const e of store.readEntries(this.next, this.next + batchSize)) batch.push(e);
      if (batch.length === 0) return sent;
      await transport.send(batch);
      this.next = (batch[batch.length - 1] as StoredEntry).index + 1;
      await store.setCursor(name, this.next);
      sent += batch.length;
      if (!this.#running && this.#loop) return sent;
    }
  }

  async #run(): Promise<void> {
    const min = this.#o.retryMinMs ?? 250;
    const max = this.#o.retryMaxMs ?? 30_000;
    let delay = min;
    while (this.#running) {
      try {
        await this.forwardOnce();
        delay = min;
        if (this.#running) await this.#sleep(this.#o.pollMs ?? 1000);
      } catch (err) {
        this.#o.onError?.(err);
        if (this.#running) await this.#sleep(delay);
        delay = Math.min(delay * 2, max);
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.kick();
    await this.#loop;
    this.#loop = null;
    await this.#o.transport.close();
  }
}
