// The core's side of enrollment requests from the gateway. The envelope was
// validated against the IPC schema already (supervisor); here the fields are
// checked again per operation and handed to the enrollment service, which
// does all parsing, decryption and signing. Errors leave with fixed bodies.
import type { EnrollRequest, ResponseMessage } from '../ipc/messages.ts';
import { isRampartError } from '../lib/errors.ts';
import type { DeviceEnrollmentService, EnrollReply } from '../enroll/device-enrollment.ts';
import { isToken } from '../enroll/invitations.ts';
import { MAX_PKI_MESSAGE_BYTES } from '../protocol/scep/oids.ts';
import { fixed } from './gateway-link.ts';


const CA_ID_RE = /^[0-9a-f]{32}$/;

export function createEnrollLink(deps: {
  enrollment: DeviceEnrollmentService;
  /** CRLs by CA id (src/enroll/revocation.ts). */
  crl?: (caId: string) => Promise<Uint8Array | undefined>;
  log: { error(obj: object, msg: string): void };
}) {
  return {
    async handleEnroll(m: EnrollRequest): Promise<ResponseMessage> {
      const ctx = { source: m.source, requestId: m.requestId };
      let r: EnrollReply;
      try {
        if (m.op === 'crl') {
          if (typeof m.caId !== 'string' || !CA_ID_RE.test(m.caId) || m.body !== undefined || m.token !== undefined) return fixed(m.id, 400);
          const der = deps.crl ? await deps.crl(m.caId) : undefined;
          if (!der) return fixed(m.id, 404);
          r = { status: 200, contentType: 'application/pkix-crl', body: der };
        } else if (m.op === 'profile') {
          if (!isToken(m.token) || m.body !== undefined || m.caId !== undefined) return fixed(m.id, 400);
          r = await deps.enrollment.profile(m.token, ctx);
        } else if (m.op === 'PKIOperation') {
          if (m.body === undefined || m.token !== undefined || m.caId !== undefined) return fixed(m.id, 400);
          const body = new Uint8Array(Buffer.from(m.body, 'base64'));
          if (body.length === 0 || body.length > MAX_PKI_MESSAGE_BYTES) return fixed(m.id, 400);
          r = await deps.enrollment.scep('PKIOperation', body, ctx);
        } else {
          if (m.body !== undefined || m.token !== undefined || m.caId !== undefined) return fixed(m.id, 400);
          r = await deps.enrollment.scep(m.op, undefined, ctx);
        }
      } catch (e) {
        if (isRampartError(e) && e.status < 500) return fixed(m.id, e.status);
        deps.log.error({ requestId: m.requestId, op: m.op, err: e instanceof Error ? e.name : 'unknown' }, 'enrollment request failed');
        return fixed(m.id, 500);
      }
      const out: ResponseMessage = { t: 'response', id: m.id, status: r.status };
      if (r.contentType) out.contentType = r.contentType;
      if (r.body && r.body.length > 0) out.body = Buffer.from(r.body).toString('base64');
      return out;
    },
  };
}

export type EnrollLink = ReturnType<typeof createEnrollLink>;
