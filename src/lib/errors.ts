// Errors that may cross a trust boundary. The message is short, fixed and
// safe to show to an unauthenticated caller: it never echoes input, never names
// a file, a query or a stack frame. Details for operators go to the log only.

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'gone'
  | 'payload_too_large'
  | 'unsupported'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export class RampartError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Operator-only detail: logged, never sent to a client. */
  readonly detail: string | undefined;

  /** For rate_limited: whole seconds until a retry can succeed (sent as Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, detail?: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'RampartError';
    this.code = code;
    this.status = STATUS[code];
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 429 with the time until a retry can succeed (rounded up to whole seconds, at least 1). */
export const rateLimited = (message: string, retryAfterMs: number, detail?: string): RampartError =>
  new RampartError('rate_limited', message, detail, Math.max(1, Math.ceil(retryAfterMs / 1000)));

export const badRequest = (message: string, detail?: string): RampartError =>
  new RampartError('bad_request', message, detail);
export const unauthorized = (message = 'unauthorized', detail?: string): RampartError =>
  new RampartError('unauthorized', message, detail);
export const forbidden = (message = 'forbidden', detail?: string): RampartError =>
  new RampartError('forbidden', message, detail);
export const notFound = (message = 'not found', detail?: string): RampartError =>
  new RampartError('not_found', message, detail);
export const conflict = (message: string, detail?: string): RampartError =>
  new RampartError('conflict', message, detail);

export function isRampartError(e: unknown): e is RampartError {
  return e instanceof RampartError;
}
