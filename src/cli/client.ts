// A small client for the admin API. Tokens travel only in the Authorization
// header, and only over https or to a loopback address.
import { isIP } from 'node:net';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9443';
const TIMEOUT_MS = 30_000;
/** Largest response the CLI reads, bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

export interface ApiClientOptions {
  url: string;
  token: string | undefined;
  fetch?: FetchLike;
}

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

/** Parses and checks the admin URL: http only to loopback, no credentials, no query. */
export function parseAdminUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError('invalid --url');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError('--url must be http(s)');
  if (u.username !== '' || u.password !== '') throw new CliError('--url must not contain credentials');
  if (u.search !== '' || u.hash !== '') throw new CliError('--url must not contain a query or fragment');
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    throw new CliError('refusing to send a token over plain http to a non-loopback address; use https');
  }
  return u;
}

export interface ApiClient {
  get<T>(path: string, query?: Record<string, string | undefined>): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  del<T>(path: string): Promise<T>;
  /** GET a streamed (non-JSON) response body, e.g. the audit export; errors as for get(). */
  getStream(path: string, query?: Record<string, string | undefined>): Promise<AsyncIterable<Uint8Array>>;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const base = parseAdminUrl(opts.url);
  const doFetch: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init));
  if (opts.token === undefined || opts.token === '') throw new CliError('no token: pass --token or set RAMPART_TOKEN');
  if (!/^[\x21-\x7e]{1,256}$/.test(opts.token)) throw new CliError('malformed token');
  const token = opts.token;

  async function call<T>(method: string, path: string, body?: unknown, query?: Record<string, string | undefined>, stream = false): Promise<T> {
    const url = new URL(base.pathname.replace(/\/$/, '') + path, base);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: stream ? '*/*' : 'application/json' };
    const init: Parameters<FetchLike>[1] = { method, headers };
    // A streamed export may run long; only the wait for its headers is bounded.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    init.signal = abort.signal;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await doFetch(url.toString(), init);
    } catch (e) {
      clearTimeout(timer);
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CliError(`cannot reach the admin API at ${base.origin}${cause ? ` (${cause})` : ''}`);
    }
    if (stream && res.ok && res.body) {
      clearTimeout(timer);
      return res.body as unknown as T;
    }
    let text: string;
    try {
      text = await readLimited(res);
    } finally {
      clearTimeout(timer);
    }
    let data: unknown;
    try {
      data = text === '' ? null : JSON.parse(text);
    } catch {
      throw new CliError(`unexpected response from the admin API (HTTP ${res.status})`);
    }
    if (!res.ok) {
      const err = data as { error?: unknown; message?: unknown; issues?: unknown } | null;
      const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`;
      const issues = Array.isArray(err?.issues) ? ` (${err.issues.filter((i) => typeof i === 'string').join(', ')})` : '';
      throw new CliError(`${sanitize(message)}${sanitize(issues)} [HTTP ${res.status}]`);
    }
    return data as T;
  }

  return {
    get: (path, query) => call('GET', path, undefined, query),
    post: (path, body) => call('POST', path, body),
    put: (path, body) => call('PUT', path, body),
    del: (path) => call('DELETE', path),
    getStream: (path, query) => call<AsyncIterable<Uint8Array>>('GET', path, undefined, query, true),
  };
}

async function readLimited(res: Response): Promise<string> {
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > MAX_RESPONSE_BYTES) throw new CliError('response too large');
  const buf = await res.arrayBuffer();
  if (buf.byteLength > MAX_RESPONSE_BYTES) throw new CliError('response too large');
  return new TextDecoder().decode(buf);
}

/** Removes control characters (terminal escapes) from text shown on a terminal. */
export function sanitize(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?');
}
