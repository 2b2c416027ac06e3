// The gateway's half of enrollment: size and shape checks only. It holds no
// CA or RA key, so it cannot decrypt or sign: PKIOperation bytes go to the
// core as they came, after a cheap check that they are one DER SignedData.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EnrollRequest, Rejection, ResponseMessage } from '../ipc/messages.ts';
import { OID } from '../protocol/cms/algorithms.ts';
import { expectKids, oid, parse, TAG } from '../protocol/cms/der.ts';
import { MAX_PKI_MESSAGE_BYTES } from '../protocol/scep/oids.ts';
import type { EnrollmentRoute } from './enroll-routes.ts';

export interface EnrollmentDeps {
  forwardEnroll(req: Omit<EnrollRequest, 'id' | 't'>): Promise<ResponseMessage>;
  reject(r: Omit<Rejection, 't'>): void;
}

export class EnrollRefusal extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}

/** True when `der` is a single ContentInfo whose content type is SignedData. */
export function looksLikeSignedData(der: Uint8Array): boolean {
  try {
    const [ct] = expectKids(parse(der), TAG.SEQUENCE, 2, 2);
    return oid(ct) === OID.signedData;
  } catch {
    return false;
  }
}

/** The GET form's message parameter: percent-decoded, then strict base64. */
export function decodeMessageParam(v: string): Uint8Array | undefined {
  let s: string;
  try {
    s = decodeURIComponent(v.replace(/\+/g, '%2B'));
  } catch {
    return undefined;
  }
  s = s.replace(/[\r\n]/g, '');
  if (s.length === 0 || s.length % 4 !== 0 || s.length > Math.ceil(MAX_PKI_MESSAGE_BYTES / 3) * 4) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** Builds the IPC request for an enrollment route, or throws EnrollRefusal. */
export function enrollmentRequest(route: EnrollmentRoute, body: Uint8Array): Pick<EnrollRequest, 'op' | 'body' | 'token' | 'caId'> {
  if (route.kind === 'crl') {
    if (body.length !== 0) throw new EnrollRefusal(400, 'unexpected_body');
    return { op: 'crl', caId: route.caId };
  }
  if (route.kind === 'profile') {
    if (body.length !== 0) throw new EnrollRefusal(400, 'unexpected_body');
    return { op: 'profile', token: route.token };
  }
  if (route.op !== 'PKIOperation') {
    if (body.length !== 0) throw new EnrollRefusal(400, 'unexpected_body');
    return { op: route.op };
  }
  let der: Uint8Array | undefined;
  if (route.method === 'POST') der = body;
  else {
    if (body.length !== 0) throw new EnrollRefusal(400, 'unexpected_body');
    der = route.message === undefined ? undefined : decodeMessageParam(route.message);
  }
  if (!der || der.length === 0) throw new EnrollRefusal(400, 'bad_scep_message');
  if (der.length > MAX_PKI_MESSAGE_BYTES) throw new EnrollRefusal(413, 'body_too_large');
  if (!looksLikeSignedData(der)) throw new EnrollRefusal(400, 'bad_scep_message');
  return { op: 'PKIOperation', body: Buffer.from(der).toString('base64') };
}

export { MAX_PKI_MESSAGE_BYTES };
export type { IncomingMessage, ServerResponse };
