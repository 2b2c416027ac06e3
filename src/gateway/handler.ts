// The device plane's request handling, independent of the HTTP server so it
// can be tested and fuzzed directly. Order matters: the identity proof is
// checked before the body is parsed, so bytes from anyone without a
// certificate issued by the enrollment CA never reach the plist parser.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { DeviceIdentityProof, MdmRequest, Rejection, ResponseMessage } from '../ipc/messages.ts';
import { statusText } from '../lib/status-text.ts';
import { decodeSignatureHeader } from '../protocol/cms/verify.ts';
import { matchDeviceRoute, type DeviceRouteName } from './routes.ts';
import { matchEnrollmentRoute, type EnrollmentRoute } from './enroll-routes.ts';
import { EnrollRefusal, enrollmentRequest, MAX_PKI_MESSAGE_BYTES, type EnrollmentDeps } from './enroll-handler.ts';

/** The pure protocol operations the gateway needs (wired in main.ts). */
export interface GatewayProtocol {
  /** Verifies a detached CMS signature over body; throws on any failure. */
  verifySignature(signature: Uint8Array, body: Uint8Array): void;
  /** Verifies a client certificate from a trusted proxy; throws on any failure. */
  verifyClientCertificate(certDer: Uint8Array): void;
  /** Parses and validates the body for the endpoint; returns its JSON form. Throws on failure. */
  parseMessage(endpoint: DeviceRouteName, body: Uint8Array): unknown;
}

export interface GatewayOptions {
  maxBodyBytes: number;
  /** RFC 9440 header name, lower case, or null. */
  proxyClientCertHeader: string | null;
  trustedProxies: ReadonlySet<string>;
}

export interface GatewayDeps {
  protocol: GatewayProtocol;
  forward(req: Omit<MdmRequest, 'id' | 't'>): Promise<ResponseMessage>;
  reject(r: Omit<Rejection, 't'>): void;
  /** Enrollment (SCEP, profile download) forwarding; the routes answer 404 without it. */
  forwardEnroll?: EnrollmentDeps['forwardEnroll'];
}


class Refusal extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}


/** Writes the core's answer (status, content type, base64 body) with the common headers. */
function writeAnswer(res: ServerResponse, requestId: string, answer: { status: number; contentType?: string | undefined; body?: string | undefined }): void {
  setCommonHeaders(res);
  res.setHeader('X-Request-Id', requestId);
  const out = answer.body ? Buffer.from(answer.body, 'base64') : Buffer.alloc(0);
  const headers: Record<string, string | number> = { 'Content-Length': out.length };
  if (answer.contentType) headers['Content-Type'] = answer.contentType;
  res.writeHead(answer.status, headers);
  res.end(out);
}
// Request ids come from a pool of random bytes refilled 256 ids at a time: one
// randomBytes() call per request was ~3% of the gateway's CPU per check-in.
const ID_BYTES = 12;
let idPool = Buffer.alloc(0);
let idOffset = 0;
export function newRequestId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * 256);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "default-src 'none'");
}

export function sendFixed(res: ServerResponse, status: number, requestId?: string): void {
  const body = statusText(status);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  setCommonHeaders(res);
  if (requestId) res.setHeader('X-Request-Id', requestId);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Strict base64 (RFC 4648, padding required for the final group); undefined when invalid. */
export function decodeBase64Strict(s: string, maxBytes: number): Uint8Array | undefined {
  const t = s.trim();
  if (t.length === 0 || t.length % 4 !== 0 || t.length > Math.ceil(maxBytes / 3) * 4) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  const buf = Buffer.from(t, 'base64');
  return buf.toString('base64') === t ? new Uint8Array(buf) : undefined;
}

/** RFC 9440: the Client-Cert header is a structured-field byte sequence, ":base64:". */
export function parseClientCertHeader(value: string): Uint8Array | undefined {
  const m = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(value.trim());
  return m ? decodeBase64Strict(m[1]!, 64 * 1024) : undefined;
}

function identityProof(req: IncomingMessage, opts: GatewayOptions): { proof: DeviceIdentityProof; bytes: Uint8Array; kind: 'signature' | 'client-cert' } {
  const source = req.socket.remoteAddress ?? '';
  if (opts.proxyClientCertHeader !== null && opts.trustedProxies.has(source)) {
    const v = req.headers[opts.proxyClientCertHeader];
    if (typeof v === 'string') {
      const der = parseClientCertHeader(v);
      if (!der) throw new Refusal(401, 'bad_client_cert');
      return { proof: { kind: 'client-cert', certDer: Buffer.from(der).toString('base64') }, bytes: der, kind: 'client-cert' };
    }
  }
  const sig = req.headers['mdm-signature'];
  if (typeof sig !== 'string') throw new Refusal(401, 'missing_signature');
  let bytes: Uint8Array;
  try {
    bytes = decodeSignatureHeader(sig);
  } catch {
    throw new Refusal(401, 'bad_signature_encoding');
  }
  return { proof: { kind: 'signature', signature: Buffer.from(bytes).toString('base64') }, bytes, kind: 'signature' };
}

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (!/^\d{1,12}$/.test(declared)) return reject(new Refusal(400, 'bad_content_length'));
      if (Number(declared) > maxBytes) return reject(new Refusal(413, 'body_too_large'));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > maxBytes) {
        done = true;
        req.resume();
        reject(new Refusal(413, 'body_too_large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(new Uint8Array(Buffer.concat(chunks, size)));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      reject(new Refusal(400, 'read_error'));
    });
    req.on('aborted', () => {
      if (done) return;
      done = true;
      reject(new Refusal(400, 'aborted'));
    });
  });
}

export function createRequestHandler(deps: GatewayDeps, opts: GatewayOptions) {
  async function handleEnrollment(route: EnrollmentRoute, req: IncomingMessage, res: ServerResponse, requestId: string, source: string): Promise<void> {
    const endpoint = route.kind === 'profile' ? 'enroll' : route.kind === 'crl' ? 'crl' : 'scep';
    try {
      const body = await readBody(req, MAX_PKI_MESSAGE_BYTES);
      let fields;
      try {
        fields = enrollmentRequest(route, body);
      } catch (e) {
        throw e instanceof EnrollRefusal ? new Refusal(e.status, e.reason) : new Refusal(400, 'bad_request');
      }
      const answer = await deps.forwardEnroll!({ requestId, source, ...fields });
      writeAnswer(res, requestId, answer);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(503, 'core_unavailable');
      deps.reject({ endpoint, reason: r.reason, status: r.status, source, requestId });
      if (!req.complete) req.resume();
      sendFixed(res, r.status, requestId);
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    const source = req.socket.remoteAddress ?? 'unknown';
    const route = matchDeviceRoute(req.method, req.url);
    const enrollRoute = route || !deps.forwardEnroll ? undefined : matchEnrollmentRoute(req.method, req.url);
    if (enrollRoute) return handleEnrollment(enrollRoute, req, res, requestId, source);
    if (!route) {
      req.resume();
      sendFixed(res, 404, requestId);
      return;
    }
    try {
      const identity = identityProof(req, opts);
      const body = await readBody(req, opts.maxBodyBytes);
      if (body.length === 0) throw new Refusal(400, 'empty_body');
      try {
        if (identity.kind === 'signature') deps.protocol.verifySignature(identity.bytes, body);
        else deps.protocol.verifyClientCertificate(identity.bytes);
      } catch {
        throw new Refusal(401, 'bad_signature');
      }
      let message: unknown;
      try {
        message = deps.protocol.parseMessage(route.name, body);
      } catch {
        throw new Refusal(400, 'bad_message');
      }
      const answer = await deps.forward({
        endpoint: route.name,
        requestId,
        source,
        body: Buffer.from(body).toString('base64'),
        identity: identity.proof,
        message,
      });
      writeAnswer(res, requestId, answer);
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal(503, 'core_unavailable');
      deps.reject({ endpoint: route.name, reason: r.reason, status: r.status, source, requestId });
      if (!req.complete) req.resume();
      sendFixed(res, r.status, requestId);
    }
  };
}
