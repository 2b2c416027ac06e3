// The device plane's enrollment routes, matched as strictly as the MDM ones
// (raw request target, no decoding of the path, case-sensitive):
//   GET  /scep?operation=GetCACaps            (optionally &message=<CA id>, ignored)
//   GET  /scep?operation=GetCACert            (optionally &message=<CA id>, ignored)
//   POST /scep?operation=PKIOperation         body: DER pkiMessage
//   GET  /scep?operation=PKIOperation&message=<base64, URL-encoded>
//   GET  /enroll/<43-character base64url token>
//   GET  /pki/crl/<32 lower-case hex>.crl    (the CRL of an enrollment CA, DER)
// Anything else, including repeated or unknown query parameters, is 404.
import type { ScepOperation } from '../protocol/scep/caps.ts';

export type EnrollmentRoute =
  | { kind: 'scep'; method: 'GET' | 'POST'; op: ScepOperation; message: string | undefined }
  | { kind: 'profile'; token: string }
  | { kind: 'crl'; caId: string };

export const ENROLLMENT_ROUTE_PATTERNS: readonly string[] = Object.freeze([
  'GET /scep?operation=GetCACaps',
  'GET /scep?operation=GetCACert',
  'POST /scep?operation=PKIOperation',
  'GET /scep?operation=PKIOperation&message=...',
  'GET /enroll/<token>',
  'GET /pki/crl/<ca id>.crl',
]);

const TOKEN_PATH_RE = /^\/enroll\/([A-Za-z0-9_-]{43})$/;
const CRL_PATH_RE = /^\/pki\/crl\/([0-9a-f]{32})\.crl$/;
/** Largest accepted request target for GET PKIOperation (64 KiB of DER, base64, percent-encoded). */
export const MAX_TARGET_CHARS = 300_000;

export function matchEnrollmentRoute(method: string | undefined, target: string | undefined): EnrollmentRoute | undefined {
  if (method === undefined || target === undefined || target.length > MAX_TARGET_CHARS) return undefined;
  const m = TOKEN_PATH_RE.exec(target);
  if (m) return method === 'GET' ? { kind: 'profile', token: m[1]! } : undefined;
  const crl = CRL_PATH_RE.exec(target);
  if (crl) return method === 'GET' ? { kind: 'crl', caId: crl[1]! } : undefined;
  if (!target.startsWith('/scep?')) return undefined;
  const params = new Map<string, string>();
  for (const part of target.slice('/scep?'.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const k = part.slice(0, eq);
    if ((k !== 'operation' && k !== 'message') || params.has(k)) return undefined;
    params.set(k, part.slice(eq + 1));
  }
  const op = params.get('operation');
  const message = params.get('message');
  if (op === 'GetCACaps' || op === 'GetCACert') return method === 'GET' ? { kind: 'scep', method, op, message } : undefined;
  if (op === 'PKIOperation') {
    if (method === 'POST' && message === undefined) return { kind: 'scep', method, op, message };
    if (method === 'GET' && message !== undefined) return { kind: 'scep', method, op, message };
  }
  return undefined;
}
