// APNs provider client over HTTP/2 with the MDM push certificate as the TLS
// client certificate. A small pool of sessions (each multiplexes many
// streams), a bound on pushes in flight, retries with exponential back-off
// and jitter on 429, 5xx and connection loss; 410 and 400 BadDeviceToken
// report the token as invalid. The base URL is configurable: production is
// https://api.push.apple.com, and the tests point it at a local HTTP/2 TLS
// server (node:http2 createSecureServer with a test CA) in place of Apple.
import http2, { type ClientHttp2Session } from 'node:http2';

export const APPLE_APNS_URL = 'https://api.push.apple.com';

export interface ApnsCredentials {
  certPem: string;
  keyPem: string;
  topic: string;
  /** Identifies the pair; sessions are rebuilt when it changes. */
  sha256: string;
}

export type PushOutcome =
  | { status: 'sent'; attempts: number }
  | { status: 'invalid_token'; reason: string; attempts: number }
  | { status: 'failed'; reason: string; httpStatus: number | null; attempts: number };

export interface ApnsClientOptions {
  baseUrl: string;
  /** Extra trust anchors (PEM) for the APNs server: tests only. */
  ca?: string;
  /** Sessions in the pool (default 2). */
  sessions?: number;
  /** Most pushes in flight at once (default 1000). */
  concurrency?: number;
  /** Attempts per push, the first included (default 5). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout (default 10 s). */
  requestTimeoutMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface Attempt {
  kind: 'done' | 'retry';
  outcome?: PushOutcome;
  reason: string;
  httpStatus: number | null;
}

/** Delay before retry n (1-based): exponential, capped, with jitter in [50%, 100%]. */
export function backoffMs(n: number, base: number, max: number, random: () => number): number {
  const exp = Math.min(max, base * 2 ** (n - 1));
  return Math.round(exp * (0.5 + random() * 0.5));
}

const TOKEN_RE = /^[0-9a-fA-F]{16,200}$/;

export function createApnsClient(opts: ApnsClientOptions) {
  const url = new URL(opts.baseUrl);
  if (url.protocol !== 'https:') throw new Error('APNs URL must be https');
  const origin = url.origin;
  const poolSize = Math.max(1, opts.sessions ?? 2);
  const maxInFlight = Math.max(1, opts.concurrency ?? 1000);
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  const baseDelay = opts.baseDelayMs ?? 250;
  const maxDelay = opts.maxDelayMs ?? 30_000;
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));

  const pool: (ClientHttp2Session | undefined)[] = new Array<ClientHttp2Session | undefined>(poolSize).fill(undefined);
  let poolKey: string | undefined;
  let next = 0;
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  let closed = false;
  const stats = { sent: 0, invalidToken: 0, failed: 0, retries: 0 };

  /** A slot for one request: undefined at once when one is free, else a promise of the next one released. */
  function acquire(): Promise<void> | undefined {
    if (inFlight < maxInFlight) {
      inFlight++;
      return undefined;
    }
    return new Promise<void>((r) => waiters.push(r));
  }
  function release(): void {
    const w = waiters.shift();
    if (w) w();
    else inFlight--;
  }

  function session(creds: ApnsCredentials): ClientHttp2Session {
    if (poolKey !== creds.sha256) {
      for (const s of pool) s?.close();
      pool.fill(undefined);
      poolKey = creds.sha256;
    }
    const i = next++ % poolSize;
    const existing = pool[i];
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const s = http2.connect(origin, {
      cert: creds.certPem,
      key: creds.keyPem,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      minVersion: 'TLSv1.2',
    });
    const drop = (): void => {
      if (pool[i] === s) pool[i] = undefined;
    };
    s.on('error', drop);
    s.on('close', drop);
    s.on('goaway', drop);
    // Idle sessions must not keep the process alive.
    s.unref();
    pool[i] = s;
    return s;
  }

  function once(creds: ApnsCredentials, token: string, body: string): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      const done = (a: Attempt): void => {
        if (!settled) {
          settled = true;
          resolve(a);
        }
      };
      let s: ClientHttp2Session;
      try {
        s = session(creds);
      } catch (e) {
        done({ kind: 'retry', reason: e instanceof Error ? e.message : 'connect failed', httpStatus: null });
        return;
      }
      const req = s.request({
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        'apns-topic': creds.topic,
        'apns-push-type': 'mdm',
        'apns-priority': '10',
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      });
      req.setTimeout(timeout, () => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        done({ kind: 'retry', reason: 'timeout', httpStatus: null });
      });
      let status = 0;
      const chunks: Buffer[] = [];
      req.on('response', (h) => {
        status = Number(h[':status'] ?? 0);
      });
      req.on('data', (c: Buffer) => {
        if (chunks.length < 16) chunks.push(c);
      });
      req.on('error', (e) => done({ kind: 'retry', reason: e.message || 'stream error', httpStatus: null }));
      req.on('close', () => {
        if (status === 0) {
          done({ kind: 'retry', reason: 'connection lost', httpStatus: null });
          return;
        }
        let reason = '';
        // A 200 has no body: parse only what arrived (a thrown SyntaxError per
        // successful push was a measurable share of the push path's CPU).
        if (chunks.length > 0) {
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reason?: unknown };
            if (typeof parsed.reason === 'string') reason = parsed.reason.slice(0, 64);
          } catch {
            // not JSON: the status decides
          }
        }
        if (status === 200) done({ kind: 'done', outcome: { status: 'sent', attempts: 0 }, reason: '', httpStatus: 200 });
        else if (status === 410 || (status === 400 && (reason === 'BadDeviceToken' || reason === 'DeviceTokenNotForTopic'))) {
          done({ kind: 'done', outcome: { status: 'invalid_token', reason: reason || 'Unregistered', attempts: 0 }, reason, httpStatus: status });
        } else if (status === 429 || status >= 500) done({ kind: 'retry', reason: reason || `http ${status}`, httpStatus: status });
        else done({ kind: 'done', outcome: { status: 'failed', reason: reason || `http ${status}`, httpStatus: status, attempts: 0 }, reason, httpStatus: status });
      });
      req.end(body);
    });
  }

  return {
    /** Sends one MDM push ({"mdm": pushMagic}) to a device token. Never throws. */
    async push(creds: ApnsCredentials, token: string, pushMagic: string): Promise<PushOutcome> {
      if (!TOKEN_RE.test(token)) {
        stats.invalidToken++;
        return { status: 'invalid_token', reason: 'BadDeviceToken', attempts: 0 };
      }
      const body = JSON.stringify({ mdm: pushMagic });
      let last: Attempt = { kind: 'retry', reason: 'not attempted', httpStatus: null };
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        if (closed) break;
        if (attempt > 1) {
          stats.retries++;
          await sleep(backoffMs(attempt - 1, baseDelay, maxDelay, random));
        }
        const wait = acquire();
        if (wait) await wait;
        try {
          last = await once(creds, token.toLowerCase(), body);
        } finally {
          release();
        }
        if (last.kind === 'done' && last.outcome) {
          const out = { ...last.outcome, attempts: attempt };
          if (out.status === 'sent') stats.sent++;
          else if (out.status === 'invalid_token') stats.invalidToken++;
          else stats.failed++;
          return out;
        }
      }
      stats.failed++;
      return { status: 'failed', reason: last.reason, httpStatus: last.httpStatus, attempts: maxAttempts };
    },
    stats(): Readonly<typeof stats> {
      return { ...stats };
    },
    close(): void {
      closed = true;
      for (const s of pool) s?.close();
      pool.fill(undefined);
    },
  };
}

export type ApnsClient = ReturnType<typeof createApnsClient>;
