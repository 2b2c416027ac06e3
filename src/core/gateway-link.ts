// The core's side of the IPC link. Everything the gateway says is treated as
// untrusted: the envelope is validated against a strict schema, the identity
// proof is verified again over the raw body, the body is parsed again with the
// same pure modules, and the result must equal what the gateway claimed.
import type { AuditRecorder } from '../audit/types.ts';
import type { MdmRequest, Rejection, ResponseMessage } from '../ipc/messages.ts';
import { isRampartError } from '../lib/errors.ts';
import { statusText } from '../lib/status-text.ts';
import { parseDeviceMessage, type DeviceMessage } from '../protocol/device-message.ts';
import type { CheckinService } from '../services/checkin.ts';
import type { ConnectService } from '../services/connect.ts';
import type { MdmReply, RequestContext } from '../services/device-identity.ts';
import { toCheckinInput, toConnectInput } from './device-input.ts';
import type { DeviceOutcome, Metrics } from './metrics.ts';

export interface IdentityVerifier {
  /** Verifies a detached signature over body; returns the signer certificate's SHA-256 (hex). Throws on failure. */
  signature(signature: Uint8Array, body: Uint8Array): string;
  /** Verifies a client certificate presented through a trusted proxy; returns its SHA-256. Throws on failure. */
  clientCertificate(certDer: Uint8Array): string;
}

export interface GatewayLinkDeps {
  verifier: IdentityVerifier;
  checkin: CheckinService;
  connect: ConnectService;
  audit: AuditRecorder;
  limits: { maxBodyBytes: number; maxPlistDepth: number };
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Counts each request by message type and outcome, and device results (src/core/metrics.ts). */
  metrics?: Pick<Metrics, 'device' | 'commands'>;
  /** Whether an identity (SHA-256) was revoked (src/enroll/revocation.ts): refused and recorded. */
  revoked?: (certSha256: string) => boolean;
  /** Summarises floods of refusals (audit writes per key). */
  rejections?: { allow(key: string): boolean };
}

/** An error answer with the fixed body for its status. */
export const fixed = (id: number, status: number): ResponseMessage => ({
  t: 'response',
  id,
  status,
  contentType: 'text/plain; charset=utf-8',
  body: Buffer.from(statusText(status)).toString('base64'),
});

export function createGatewayLink(deps: GatewayLinkDeps) {
  const { audit, log } = deps;

  const metrics = deps.metrics;
  const outcomeOf = (status: number): DeviceOutcome => (status < 400 ? 'ok' : status < 500 ? 'refused' : 'error');

  async function integrityViolation(req: MdmRequest, reason: string): Promise<ResponseMessage> {
    metrics?.device(req.endpoint === 'checkin' ? 'checkin' : 'connect', 'other', 'integrity_violation');
    log.error({ requestId: req.requestId, reason }, 'gateway integrity violation');
    await audit.record({
      action: 'gateway.integrity_violation',
      actor: { type: 'gateway', id: 'device-gateway' },
      source: req.source,
      requestId: req.requestId,
      outcome: 'denied',
      details: { reason, endpoint: req.endpoint },
    });
    return fixed(req.id, 400);
  }

  function count(parsed: DeviceMessage, status: number): void {
    const outcome = outcomeOf(status);
    if (parsed.kind === 'checkin') {
      metrics!.device('checkin', parsed.messageType, outcome);
      return;
    }
    metrics!.device('connect', parsed.status, outcome);
    if (outcome !== 'ok') return;
    if (parsed.status === 'Acknowledged') metrics!.commands('acknowledged');
    else if (parsed.status === 'NotNow') metrics!.commands('notnow');
    else if (parsed.status === 'Error' || parsed.status === 'CommandFormatError') metrics!.commands('error');
  }

  function reply(id: number, r: MdmReply): ResponseMessage {
    const out: ResponseMessage = { t: 'response', id, status: r.status };
    if (r.contentType) out.contentType = r.contentType;
    if (r.body && r.body.length > 0) out.body = Buffer.from(r.body).toString('base64');
    return out;
  }

  return {
    async handleMdm(req: MdmRequest): Promise<ResponseMessage> {
      const body = new Uint8Array(Buffer.from(req.body, 'base64'));
      if (body.length === 0 || body.length > deps.limits.maxBodyBytes) return integrityViolation(req, 'body_size');
      let certSha256: string;
      try {
        certSha256 =
          req.identity.kind === 'signature'
            ? deps.verifier.signature(new Uint8Array(Buffer.from(req.identity.signature, 'base64')), body)
            : deps.verifier.clientCertificate(new Uint8Array(Buffer.from(req.identity.certDer, 'base64')));
      } catch {
        return integrityViolation(req, 'identity_not_verified');
      }
      if (deps.revoked?.(certSha256)) {
        // A revoked identity with a valid signature: a security event (summarised when one keeps trying).
        if (!deps.rejections || deps.rejections.allow(`revoked|${certSha256}`)) {
          await audit.record({
            action: 'device.identity.revoked_used',
            actor: { type: 'anonymous', id: req.source },
            source: req.source,
            requestId: req.requestId,
            target: { type: 'certificate', id: certSha256 },
            outcome: 'denied',
            details: { endpoint: req.endpoint },
          });
        }
        return fixed(req.id, 401);
      }
      let parsed: DeviceMessage;
      try {
        parsed = parseDeviceMessage(req.endpoint, body, { maxBytes: deps.limits.maxBodyBytes, maxDepth: deps.limits.maxPlistDepth });
      } catch {
        return integrityViolation(req, 'body_not_parsed');
      }
      if (JSON.stringify(parsed.json) !== JSON.stringify(req.message)) return integrityViolation(req, 'message_mismatch');
      const ctx: RequestContext = { certSha256, source: req.source, requestId: req.requestId };
      try {
        const r =
          parsed.kind === 'checkin'
            ? await deps.checkin.handle(toCheckinInput(parsed), ctx)
            : await deps.connect.handle(toConnectInput(parsed, body), ctx);
        if (metrics) count(parsed, r.status);
        return reply(req.id, r);
      } catch (e) {
        if (metrics) count(parsed, isRampartError(e) ? e.status : 500);
        if (isRampartError(e)) {
          if (e.status >= 500) log.error({ requestId: req.requestId, code: e.code, detail: e.detail }, 'device request failed');
          return fixed(req.id, e.status);
        }
        log.error({ requestId: req.requestId, err: e instanceof Error ? e.message : 'unknown' }, 'device request failed');
        return fixed(req.id, 500);
      }
    },

    async handleRejection(r: Rejection, counter: { allow(key: string): boolean }): Promise<void> {
      // Refusals are recorded, but a flood from one source is summarised rather than written per request.
      if (!counter.allow(`${r.source}|${r.reason}`)) return;
      await audit.record({
        action: 'device_plane.rejected',
        actor: { type: 'anonymous', id: r.source },
        source: r.source,
        requestId: r.requestId,
        outcome: 'denied',
        details: { endpoint: r.endpoint, reason: r.reason, status: r.status },
      });
    },
  };
}

export type GatewayLink = ReturnType<typeof createGatewayLink>;
