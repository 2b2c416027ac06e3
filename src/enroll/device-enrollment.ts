// Enrollment, the device's side (core only: the CA and RA keys are here, never
// in the gateway). Serves an invitation's signed profile once, answers SCEP
// (GetCACaps, GetCACert, PKIOperation with PKCSReq and RenewalReq), and tells
// the check-in service whether a new identity may replace a device's bound one
// (renewal, or re-enrollment of an erased device with the same UDID).
//
// Exactly-once records across kill -9: the profile download is put on record
// before the invitation is claimed (a retry after a crash in between finds the
// entry through AuditLookup and claims without writing it again); a challenge
// is consumed atomically first and its record written with a lookup guard, so
// the client's SCEP resend of the same transaction (which RFC 8894 clients do
// when a reply is lost) writes any missing record and gets the same answer.
import { createPublicKey, hash, randomBytes, randomUUID } from 'node:crypto';
import type { AuditEvent, AuditLookup, AuditRecorder } from '../audit/types.ts';
import { issueDeviceIdentity } from '../core/ca.ts';
import { certInfo } from '../pki/info.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import { createCmsVerifier } from '../protocol/cms/verify.ts';
import { signAttached } from '../protocol/cms/sign.ts';
import { buildEnrollmentProfile } from '../protocol/mobileconfig/enrollment.ts';
import {
  buildCertRep, caCapsText, caCertAnswer, MESSAGE_TYPE, openPkiEnvelope, parseCsr, parsePkiMessage, ScepMalformed,
  ScepRequestFailure, type FailInfo, type PkiMessage, type ScepOperation, type ParsedCsr, type CipherName,
} from '../protocol/scep/index.ts';
import { statusText } from '../lib/status-text.ts';
import type { CertificateStore } from '../storage/types.ts';
import type { IdentityRebinder } from '../services/device-identity.ts';
import type { EnrollmentPki } from './live-pki.ts';
import type { RevocationService } from './revocation.ts';
import { isToken, tokenHash } from './invitations.ts';
import type { EnrollmentStore, Invitation } from './store.ts';

export type EnrollReply = { status: number; contentType?: string; body?: Uint8Array };
export type EnrollContext = { source: string; requestId: string };

export type { EnrollmentPki } from './live-pki.ts';

export interface DeviceEnrollmentDeps {
  store: EnrollmentStore;
  certificates: CertificateStore;
  audit: AuditRecorder;
  lookup: AuditLookup;
  pki: () => EnrollmentPki;
  /** Public base URL of the device plane. */
  baseUrl: () => string;
  topic: () => string;
  now: () => Date;
  organization: string;
  /** PayloadIdentifier base, reverse DNS. */
  identifier: string;
  challengeTtlMinutes: number;
  identityValidityDays: number;
  /** Summarises floods of refusals (audit writes per source and reason). */
  rejections?: { allow(key: string): boolean };
  log?: { warn(obj: object, msg: string): void };
  /**
   * Whether an EraseDevice was delivered to the device after it last
   * enrolled: only then may a new invitation's identity take over its UDID
   * (otherwise anyone holding an invitation could claim an enrolled device).
   */
  erasedSinceEnrollment: (deviceId: string) => Promise<boolean>;
  /** Revocation and CRLs (src/enroll/revocation.ts): CRL URL in new identities, superseded identities revoked. */
  revocation?: Pick<RevocationService, 'revokeForDevice' | 'currentCrlUrl'>;
}

export type RebindKind = 'renewal' | 're-enrollment';

export interface DeviceEnrollmentService extends IdentityRebinder {
  profile(token: string, ctx: EnrollContext): Promise<EnrollReply>;
  scep(op: ScepOperation, message: Uint8Array | undefined, ctx: EnrollContext): Promise<EnrollReply>;
}

const PROFILE_TYPE = 'application/x-apple-aspen-config';
const CERTREP_TYPE = 'application/x-pki-message';

const fixed = (status: number): EnrollReply => ({ status, contentType: 'text/plain; charset=utf-8', body: new TextEncoder().encode(statusText(status)) });
const sha256 = (b: Uint8Array | string): string => hash('sha256', b, 'hex');

function commonNameOf(subject: string): string {
  const m = /(?:^|,)CN=([^,+]{1,64})/.exec(subject);
  return m?.[1]?.replace(/\\/g, '') || 'Rampart device';
}

export function createDeviceEnrollmentService(deps: DeviceEnrollmentDeps): DeviceEnrollmentService {
  const { store, audit, lookup } = deps;
  const claiming = new Map<string, Promise<EnrollReply>>();
  let verifierFor: { key: string; v: ReturnType<typeof createCmsVerifier> } | undefined;

  function renewalVerifier(pki: EnrollmentPki) {
    if (!verifierFor || verifierFor.key !== pki.version) verifierFor = { key: pki.version, v: createCmsVerifier({ trustAnchors: pki.trust.anchors, intermediates: pki.trust.intermediates }) };
    return verifierFor.v;
  }

  async function refusal(e: AuditEvent, rateKey: string): Promise<void> {
    if (deps.rejections && !deps.rejections.allow(rateKey)) return;
    await audit.record(e);
  }

  const anon = (ctx: EnrollContext, id: string) => ({ actor: { type: 'anonymous' as const, id }, source: ctx.source, requestId: ctx.requestId });

  async function recordOnce(e: AuditEvent): Promise<void> {
    const q = { action: e.action, actorId: e.actor.id, outcome: e.outcome, ...(e.target ? { targetId: e.target.id } : {}) };
    if (await lookup.has(q)) return;
    await audit.record(e);
  }

  // ---- profile download ----------------------------------------------------

  async function serveProfile(inv: Invitation, th: string, ctx: EnrollContext): Promise<EnrollReply> {
    const { ca, ra, chain } = deps.pki();
    // The root goes in as a root payload; an intermediate CA (and any CA between it and the root) as certificate payloads.
    const path = [ca.certDer, ...chain];
    const intermediates = path.slice(0, -1);
    const now = deps.now();
    const challenge = randomBytes(32).toString('base64url');
    const base = deps.baseUrl();
    const plist = buildEnrollmentProfile({
      identifier: deps.identifier,
      organization: deps.organization,
      displayName: `${deps.organization} device management`,
      uuids: {
        profile: randomUUID().toUpperCase(), scep: randomUUID().toUpperCase(), mdm: randomUUID().toUpperCase(), ca: randomUUID().toUpperCase(),
        intermediates: intermediates.map(() => randomUUID().toUpperCase()),
      },
      scep: { url: `${base}/scep`, challenge, subjectCommonName: `Rampart device ${inv.id.slice(0, 8)}`, keySize: 2048 },
      mdm: { serverUrl: `${base}/mdm/connect`, checkInUrl: `${base}/mdm/checkin`, topic: deps.topic() },
      caCertDer: path[path.length - 1]!,
      intermediateCertsDer: intermediates,
    });
    const signed = signAttached(plist, ra, { now, includeChain: path });
    const event: AuditEvent = {
      ...anon(ctx, `invitation:${inv.id}`),
      action: 'enroll.profile.download',
      target: { type: 'invitation', id: inv.id },
      outcome: 'success',
      details: { staffId: inv.staffId, groupId: inv.groupId },
    };
    await recordOnce(event);
    const claim = await store.claimProfile(th, sha256(challenge), new Date(now.getTime() + deps.challengeTtlMinutes * 60_000).toISOString(), now.toISOString());
    if (!claim.ok) {
      await audit.record({ ...anon(ctx, `invitation:${inv.id}`), action: 'enroll.profile.denied', target: { type: 'invitation', id: inv.id }, outcome: 'denied', details: { reason: claim.reason } });
      return fixed(410);
    }
    return { status: 200, contentType: PROFILE_TYPE, body: signed };
  }

  async function profile(token: string, ctx: EnrollContext): Promise<EnrollReply> {
    if (!isToken(token)) return fixed(404);
    const th = tokenHash(token);
    const inv = await store.findByTokenHash(th);
    const nowIso = deps.now().toISOString();
    if (!inv) {
      await refusal({ ...anon(ctx, ctx.source), action: 'enroll.profile.denied', outcome: 'denied', details: { reason: 'unknown' } }, `${ctx.source}|profile_unknown`);
      return fixed(404);
    }
    if (inv.status !== 'open' || inv.expiresAt <= nowIso) {
      const reason = inv.status === 'open' ? 'expired' : inv.status === 'revoked' ? 'revoked' : 'used';
      await refusal({ ...anon(ctx, `invitation:${inv.id}`), action: 'enroll.profile.denied', target: { type: 'invitation', id: inv.id }, outcome: 'denied', details: { reason } }, `${inv.id}|${reason}`);
      return fixed(410);
    }
    // One claim per invitation at a time in this process; the store's
    // conditional update decides between processes.
    const running = claiming.get(inv.id);
    if (running) {
      await running.catch(() => undefined);
      return profile(token, ctx);
    }
    const p = serveProfile(inv, th, ctx);
    claiming.set(inv.id, p);
    try {
      return await p;
    } finally {
      claiming.delete(inv.id);
    }
  }

  // ---- SCEP ----------------------------------------------------------------

  function certRep(msg: Pick<PkiMessage, 'transactionId' | 'senderNonce' | 'signerCertDer'>, r: { status: 'SUCCESS'; certificates: Uint8Array[]; cipher: CipherName } | { status: 'FAILURE'; failInfo: FailInfo }): EnrollReply {
    const { ca, ra, chain } = deps.pki();
    const body = buildCertRep({
      ...r,
      signer: ra,
      chain: [ca.certDer, ...chain],
      request: msg,
      senderNonce: new Uint8Array(randomBytes(16)),
      now: deps.now(),
      random: (n) => new Uint8Array(randomBytes(n)),
    });
    return { status: 200, contentType: CERTREP_TYPE, body };
  }

  async function failure(msg: Pick<PkiMessage, 'transactionId' | 'senderNonce' | 'signerCertDer'>, failInfo: FailInfo, reason: string, ctx: EnrollContext, extra: Record<string, string | null> = {}): Promise<EnrollReply> {
    await refusal({ ...anon(ctx, ctx.source), action: 'enroll.scep.refused', outcome: 'denied', details: { reason, failInfo, ...extra } }, `${ctx.source}|scep_${reason}`);
    return certRep(msg, { status: 'FAILURE', failInfo });
  }

  async function issue(csr: ParsedCsr, opts: { deviceId?: string; invitationId: string | null; renewalOf: string | null; validityDays: number }): Promise<Uint8Array> {
    const { ca } = deps.pki();
    const der = await issueDeviceIdentity(
      { ca, certificates: deps.certificates, now: deps.now },
      {
        publicKey: csr.spki, commonName: commonNameOf(csr.subject), validityDays: opts.validityDays,
        ...(opts.deviceId ? { deviceId: opts.deviceId } : {}),
        ...(deps.revocation ? { crlUrl: deps.revocation.currentCrlUrl() } : {}),
      },
    );
    const info = certInfo(der);
    await store.recordIssued({ certSha256: info.sha256, serial: info.serialHex, invitationId: opts.invitationId, renewalOf: opts.renewalOf, createdAt: deps.now().toISOString() });
    return der;
  }

  async function pkcsReq(msg: PkiMessage, csr: ParsedCsr, cipher: CipherName, ctx: EnrollContext): Promise<EnrollReply> {
    if (csr.challengePassword === undefined) return failure(msg, 'badRequest', 'challenge_missing', ctx);
    // RFC 8894 3.3.1: the request is signed with the key being certified.
    if (sha256(msg.signerCert.spki) !== sha256(csr.spki)) return failure(msg, 'badMessageCheck', 'signer_key_mismatch', ctx);
    const spkiSha256 = sha256(csr.spki);
    const used = await store.consumeChallenge(sha256(csr.challengePassword), { transactionId: msg.transactionId, spkiSha256 }, deps.now().toISOString());
    if (!used.ok) {
      // Refused challenges are always recorded (per invitation, or per source when unknown).
      const e: AuditEvent = {
        ...anon(ctx, used.invitationId ? `invitation:${used.invitationId}` : ctx.source),
        action: 'enroll.challenge.denied',
        outcome: 'denied',
        details: { reason: used.reason, transactionId: msg.transactionId },
        ...(used.invitationId ? { target: { type: 'invitation', id: used.invitationId } } : {}),
      };
      await refusal(e, `${ctx.source}|challenge_${used.reason}|${used.invitationId ?? ''}`);
      return certRep(msg, { status: 'FAILURE', failInfo: 'badRequest' });
    }
    const inv = used.invitation;
    const actorId = `invitation:${inv.id}`;
    await recordOnce({ ...anon(ctx, actorId), action: 'enroll.challenge.use', target: { type: 'invitation', id: inv.id }, outcome: 'success', details: { transactionId: msg.transactionId } });
    // A resend of a transaction that already has its certificate gets the same certificate.
    if (used.replay && inv.certSerial) {
      const prior = await deps.certificates.getBySerial(inv.certSerial);
      if (prior) return certRep(msg, { status: 'SUCCESS', certificates: [prior.der], cipher });
    }
    const der = await issue(csr, { invitationId: inv.id, renewalOf: null, validityDays: deps.identityValidityDays });
    const info = certInfo(der);
    await recordOnce({
      ...anon(ctx, actorId),
      action: 'enroll.certificate.issue',
      target: { type: 'invitation', id: inv.id },
      outcome: 'success',
      details: { serial: info.serialHex, certSha256: info.sha256, notAfter: info.notAfter.toISOString(), staffId: inv.staffId, groupId: inv.groupId },
    });
    await store.setCertSerial(inv.id, info.serialHex);
    return certRep(msg, { status: 'SUCCESS', certificates: [der], cipher });
  }

  async function renewalReq(msg: PkiMessage, csr: ParsedCsr, cipher: CipherName, ctx: EnrollContext): Promise<EnrollReply> {
    const now = deps.now();
    const signerSha = sha256(msg.signerCertDer);
    const current = parseCertificate(msg.signerCertDer);
    if (current.notAfter.getTime() < now.getTime() || current.notBefore.getTime() > now.getTime()) return failure(msg, 'badTime', 'renewal_identity_expired', ctx);
    try {
      renewalVerifier(deps.pki()).verifyCertificate(msg.signerCertDer, { now });
    } catch {
      return failure(msg, 'badCertId', 'renewal_identity_untrusted', ctx);
    }
    const issued = await store.getIssued(signerSha);
    const known = await deps.certificates.getBySha256(signerSha);
    const deviceId = issued?.boundDeviceId ?? known?.deviceId ?? null;
    if (!deviceId || known?.revokedAt) return failure(msg, 'badCertId', 'renewal_identity_unbound', ctx);
    if (sha256(current.spki) === sha256(csr.spki)) return failure(msg, 'badRequest', 'renewal_same_key', ctx);
    const der = await issue(csr, { deviceId, invitationId: null, renewalOf: deviceId, validityDays: deps.identityValidityDays });
    const info = certInfo(der);
    await audit.record({
      actor: { type: 'device', id: deviceId },
      source: ctx.source,
      requestId: ctx.requestId,
      action: 'enroll.certificate.renew',
      target: { type: 'device', id: deviceId },
      outcome: 'success',
      details: { serial: info.serialHex, certSha256: info.sha256, previousCertSha256: signerSha, transactionId: msg.transactionId },
    });
    return certRep(msg, { status: 'SUCCESS', certificates: [der], cipher });
  }

  async function pkiOperation(body: Uint8Array | undefined, ctx: EnrollContext): Promise<EnrollReply> {
    if (!body) return fixed(400);
    let msg: PkiMessage;
    try {
      msg = parsePkiMessage(body);
    } catch (e) {
      if (e instanceof ScepRequestFailure) return failure(e.header, e.failInfo, 'request_check', ctx);
      if (!(e instanceof ScepMalformed)) deps.log?.warn({ requestId: ctx.requestId }, 'unexpected SCEP parse failure');
      await refusal({ ...anon(ctx, ctx.source), action: 'enroll.scep.refused', outcome: 'denied', details: { reason: 'malformed' } }, `${ctx.source}|scep_malformed`);
      return fixed(400);
    }
    if (msg.messageType !== MESSAGE_TYPE.PKCSReq && msg.messageType !== MESSAGE_TYPE.RenewalReq) {
      // We never leave a request pending, so there is nothing to poll for.
      return failure(msg, msg.messageType === MESSAGE_TYPE.CertPoll ? 'badCertId' : 'badRequest', 'unsupported_message_type', ctx);
    }
    let opened: { content: Uint8Array; cipher: CipherName };
    let csr: ParsedCsr;
    try {
      opened = openPkiEnvelope(msg, [deps.pki().ra]);
      csr = parseCsr(opened.content);
    } catch (e) {
      if (e instanceof ScepRequestFailure) return failure(msg, e.failInfo, 'envelope', ctx);
      return failure(msg, 'badRequest', 'csr', ctx);
    }
    if (!signerIsRsa(msg)) return failure(msg, 'badAlg', 'signer_not_rsa', ctx);
    return msg.messageType === MESSAGE_TYPE.PKCSReq ? pkcsReq(msg, csr, opened.cipher, ctx) : renewalReq(msg, csr, opened.cipher, ctx);
  }

  return {
    profile,
    async scep(op, message, ctx) {
      const { ca, ra, chain } = deps.pki();
      if (op === 'GetCACaps') return { status: 200, contentType: 'text/plain; charset=utf-8', body: new TextEncoder().encode(caCapsText()) };
      if (op === 'GetCACert') return caCertAnswer(ra.certDer, [ca.certDer, ...chain]);
      return pkiOperation(message, ctx);
    },
    async mayRebind(deviceId, certSha256) {
      const issued = await store.getIssued(certSha256);
      if (!issued) return undefined;
      if (issued.renewalOf === deviceId) return 'renewal';
      if (issued.invitationId === null) return undefined;
      if (issued.boundDeviceId === deviceId) return 're-enrollment';
      if (issued.boundDeviceId === null && (await deps.erasedSinceEnrollment(deviceId))) return 're-enrollment';
      return undefined;
    },
    async recordRenewed(deviceId, certSha256, previousCertSha256, ctx) {
      await recordOnce({
        actor: { type: 'device', id: deviceId },
        source: ctx.source,
        requestId: ctx.requestId,
        action: 'device.identity.renewed',
        target: { type: 'certificate', id: certSha256 },
        outcome: 'success',
        details: { previousCertSha256 },
      });
    },
    async bound(deviceId, certSha256, ctx) {
      await store.bindIssued(certSha256, deviceId);
      // The identity it replaces (renewal, re-enrollment after an erase) is revoked.
      await deps.revocation?.revokeForDevice(deviceId, certSha256, 'superseded', ctx ?? {});
    },
    async checkedOut(deviceId, ctx) {
      await deps.revocation?.revokeForDevice(deviceId, null, 'cessationOfOperation', ctx);
    },
  };
}

/** The reply is encrypted to the signer certificate's key: it must be RSA. */
function signerIsRsa(msg: PkiMessage): boolean {
  try {
    return createPublicKey({ key: Buffer.from(msg.signerCert.spki), format: 'der', type: 'spki' }).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}
