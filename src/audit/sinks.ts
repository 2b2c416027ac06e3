// Checkpoint sinks: every signed tree head the log produces is pushed off the
// machine, so an attacker who later owns the database cannot rewrite history
// without contradicting a checkpoint held elsewhere.

import { open } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { StoredCheckpoint } from './store.ts';
import { formatCheckpointSyslog, SyslogTlsTransport } from './siem.ts';
import type { SyslogTlsOptions } from './siem.ts';

export interface CheckpointSink {
  readonly name: string;
  /** Deliver one signed checkpoint; resolves once the receiver has it (durably, for the file sink). */
  publish(cp: StoredCheckpoint): Promise<void>;
}

/**
 * Appends each checkpoint as one JSON line {"size","note","createdAt"} to a file
 * (meant to be on another mount or a write-only share) and fsyncs it.
 */
export class FileCheckpointSink implements CheckpointSink {
  readonly name: string;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
    this.name = `file:${path}`;
  }

  async publish(cp: StoredCheckpoint): Promise<void> {
    const fh = await open(this.#path, 'a', 0o600);
    try {
      await fh.write(JSON.stringify({ size: cp.size, note: cp.note, createdAt: cp.createdAt }) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** Checkpoint notes from a FileCheckpointSink file, in file order. Malformed lines are skipped. */
export function readCheckpointFile(path: string): { size: number; note: string; createdAt: string }[] {
  const out: { size: number; note: string; createdAt: string }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const v = JSON.parse(line) as { size?: unknown; note?: unknown; createdAt?: unknown };
      if (typeof v.size === 'number' && typeof v.note === 'string') out.push({ size: v.size, note: v.note, createdAt: String(v.createdAt ?? '') });
    } catch {
      /* a torn last line after a crash */
    }
  }
  return out;
}

export interface WebhookSinkOptions {
  url: string;
  /** Extra CA certificates (PEM) to trust, e.g. a private witness. */
  ca?: string | Buffer;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** POST body over HTTPS; resolves on a 2xx, rejects otherwise. Shared with the SIEM webhook. */
export function httpsPost(url: string, body: string | Buffer, headers: Record<string, string>, opts: { ca?: string | Buffer; timeoutMs?: number }): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== 'https:') return Promise.reject(new Error('webhook URL must be https'));
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const s = res.statusCode ?? 0;
          if (s >= 200 && s < 300) resolve();
          else reject(new Error(`webhook answered ${s}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('webhook timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs each checkpoint note (text/plain, the signed note verbatim) to an HTTPS endpoint, e.g. a witness. */
export class WebhookCheckpointSink implements CheckpointSink {
  readonly name: string;
  readonly #opts: WebhookSinkOptions;

  constructor(opts: WebhookSinkOptions) {
    if (new URL(opts.url).protocol !== 'https:') throw new Error('webhook URL must be https');
    this.#opts = opts;
    this.name = `webhook:${new URL(opts.url).host}`;
  }

  async publish(cp: StoredCheckpoint): Promise<void> {
    await httpsPost(this.#opts.url, cp.note, { 'content-type': 'text/plain; charset=utf-8', ...this.#opts.headers }, this.#opts);
  }
}

/** Sends each checkpoint as an RFC 5424 message over TLS (RFC 5425) to a syslog collector. */
export class SyslogCheckpointSink implements CheckpointSink {
  readonly name: string;
  readonly #t: SyslogTlsTransport;
  readonly #o: SyslogTlsOptions;

  constructor(opts: SyslogTlsOptions) {
    this.#o = opts;
    this.#t = new SyslogTlsTransport(opts);
    this.name = `syslog:${opts.host}:${opts.port}`;
  }

  async publish(cp: StoredCheckpoint): Promise<void> {
    await this.#t.sendMessages([formatCheckpointSyslog(cp, this.#o)]);
  }

  close(): Promise<void> {
    return this.#t.close();
  }
}
