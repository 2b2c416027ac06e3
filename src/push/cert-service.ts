// The push certificate as administrators manage it: upload (validated, key
// sealed at rest with the core's sealer), show, and the state the APNs client
// and the health check rely on. Permission "push.manage"; every upload,
// refused upload and read goes on record.
import type { AuditRecorder, JsonValue } from '../audit/types.ts';
import { authorize } from '../services/command-policy.ts';
import type { Sealer } from '../services/checkin.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Actor } from '../services/types.ts';
import type { SettingsStore } from '../storage/types.ts';
import { conflict, isRampartError, notFound } from '../lib/errors.ts';
import { certState, parsePushCertificate, parsePushCertificateP12, type CertState, type PushCertificate } from './certificate.ts';

export const PUSH_MANAGE = 'push.manage';
/** Settings key of the stored certificate record (JSON). */
export const CERT_SETTING = 'push.certificate';
/** Settings key the check-in service compares device topics against. */
export const TOPIC_SETTING = 'push.topic';
const KEY_AAD = 'push-certificate-key';

interface StoredCert {
  v: 1;
  certPem: string;
  keySealed: string;
  topic: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
  issuer: string;
  uploadedAt: string;
  uploadedBy: string;
}

export interface PushCertView {
  topic: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
  issuer: string;
  uploadedAt: string;
  uploadedBy: string;
  state: CertState;
  daysLeft: number;
}

/** PEM certificate + key, or a PKCS#12 (.p12) file with its password. */
export type PushCertUpload = (PemUpload | P12Upload) & {
  /** Needed to replace a certificate with one of another topic (enrolled devices would stop answering pushes). */
  allowTopicChange?: boolean;
};

export interface PemUpload {
  certPem: string;
  keyPem: string;
  keyPassphrase?: string;
}

export interface P12Upload {
  p12: Uint8Array;
  p12Password: string;
}

export interface PushCertServiceDeps {
  settings: SettingsStore;
  sealer: Sealer;
  audit: AuditRecorder;
  now: () => Date;
  /** Warn this many days before expiry (default 30). */
  warnDays?: number;
  /** How long a loaded certificate is reused before the settings are read again (ms; other nodes may upload). */
  cacheMs?: number;
  /**
   * Four-eyes gate (src/authz): an uploaded certificate is staged (key sealed)
   * and takes effect when a second administrator approves "push.certificate";
   * the approval names the certificate's SHA-256, topic and expiry, never the key.
   */
  gate?: ApprovalGuard;
}

/** Settings key of a staged (uploaded, not yet approved) certificate. */
const stagedKey = (sha256: string): string => `push.certificate.staged.${sha256}`;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface UsablePushCertificate {
  cert: PushCertificate;
  state: CertState;
}

export function createPushCertService(deps: PushCertServiceDeps) {
  const warnDays = deps.warnDays ?? 30;
  const cacheMs = deps.cacheMs ?? 30_000;
  let cache: { at: number; raw: string | undefined; cert: PushCertificate | undefined } | undefined;

  async function loadStored(): Promise<StoredCert | undefined> {
    const raw = await deps.settings.get(CERT_SETTING);
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredCert);
  }

  function view(s: StoredCert): PushCertView {
    const now = deps.now();
    return {
      topic: s.topic,
      notBefore: s.notBefore,
      notAfter: s.notAfter,
      sha256: s.sha256,
      issuer: s.issuer,
      uploadedAt: s.uploadedAt,
      uploadedBy: s.uploadedBy,
      state: certState(s, now, warnDays),
      daysLeft: Math.floor((Date.parse(s.notAfter) - now.getTime()) / 86_400_000),
    };
  }

  function event(actor: Actor, action: string, outcome: 'success' | 'failure', details: { [k: string]: JsonValue }) {
    return {
      action,
      actor: { type: actor.type, id: actor.id },
      ...(actor.source !== undefined ? { source: actor.source } : {}),
      ...(actor.requestId !== undefined ? { requestId: actor.requestId } : {}),
      target: { type: 'push_certificate', id: 'apns' },
      outcome,
      details,
    };
  }


  async function install(actor: Actor, action: string, stored: StoredCert): Promise<PushCertView> {
    const details = { sha256: stored.sha256, topic: stored.topic, notAfter: stored.notAfter };
    // On record before the change; a retry records a second upload attempt, which is what it is.
    await deps.audit.record(event(actor, action, 'success', details));
    const nowIso = deps.now().toISOString();
    await deps.settings.set(CERT_SETTING, JSON.stringify(stored), nowIso);
    await deps.settings.set(TOPIC_SETTING, stored.topic, nowIso);
    cache = undefined;
    return view(stored);
  }
  return {
    async upload(actor: Actor, input: PushCertUpload): Promise<PushCertView> {
      const action = 'push.certificate.upload';
      await authorize(deps.audit, actor, PUSH_MANAGE, { action, target: { type: 'push_certificate', id: 'apns' } });
      let parsed: PushCertificate;
      try {
        parsed = 'p12' in input
          ? parsePushCertificateP12(input.p12, input.p12Password)
          : parsePushCertificate(input.certPem, input.keyPem, input.keyPassphrase !== undefined ? { keyPassphrase: input.keyPassphrase } : {});
        const now = deps.now();
        const state = certState(parsed, now, warnDays);
        if (state === 'expired') throw conflict('certificate has expired');
        if (state === 'not_yet_valid') throw conflict('certificate is not yet valid');
        const existing = await loadStored();
        if (existing && existing.topic !== parsed.topic && input.allowTopicChange !== true) {
          throw conflict('certificate topic differs from the current one', 'renew the push certificate with the same Apple ID, or pass allowTopicChange');
        }
      } catch (e) {
        await deps.audit.record(event(actor, action, 'failure', { reason: isRampartError(e) ? e.message : 'internal' }));
        throw e;
      }
      const nowIso = deps.now().toISOString();
      const stored: StoredCert = {
        v: 1,
        certPem: parsed.certPem,
        keySealed: Buffer.from(deps.sealer.seal(new TextEncoder().encode(parsed.keyPem), KEY_AAD)).toString('base64'),
        topic: parsed.topic,
        notBefore: parsed.notBefore,
        notAfter: parsed.notAfter,
        sha256: parsed.sha256,
        issuer: parsed.issuer,
        uploadedAt: nowIso,
        uploadedBy: actor.id,
      };
      if (deps.gate) {
        // Staged with its key sealed; it takes effect only through activate().
        await deps.settings.set(stagedKey(parsed.sha256), JSON.stringify(stored), nowIso);
        return this.activate(actor, parsed.sha256);
      }
      return install(actor, action, stored);
    },

    /** Makes a staged certificate current: at once, or as the approved action "push.certificate". */
    async activate(actor: Actor, sha256: string): Promise<PushCertView> {
      const action = 'push.certificate.upload';
      await authorize(deps.audit, actor, PUSH_MANAGE, { action, target: { type: 'push_certificate', id: 'apns' } });
      const raw = SHA256_HEX.test(sha256) ? await deps.settings.get(stagedKey(sha256)) : undefined;
      if (raw === undefined || raw === '') throw notFound('no staged push certificate with that SHA-256');
      const stored = JSON.parse(raw) as StoredCert;
      if (Date.parse(stored.notAfter) <= deps.now().getTime()) throw conflict('certificate has expired');
      await deps.gate?.guard(actor, {
        action: 'push.certificate',
        params: { sha256: stored.sha256, topic: stored.topic, notAfter: stored.notAfter },
        summary: `install the APNs push certificate ${stored.sha256.slice(0, 16)}… for ${stored.topic}, valid until ${stored.notAfter}`,
        target: { type: 'push_certificate', id: 'apns' },
        approverPermission: PUSH_MANAGE,
      });
      const v = await install(actor, action, { ...stored, uploadedBy: actor.id });
      await deps.settings.set(stagedKey(sha256), '', deps.now().toISOString());
      return v;
    },

    async show(actor: Actor): Promise<PushCertView> {
      const action = 'push.certificate.read';
      await authorize(deps.audit, actor, PUSH_MANAGE, { action, target: { type: 'push_certificate', id: 'apns' } });
      const s = await loadStored();
      await deps.audit.record(event(actor, action, s ? 'success' : 'failure', s ? { sha256: s.sha256 } : { reason: 'not_found' }));
      if (!s) throw notFound('no push certificate');
      return view(s);
    },

    /** For the APNs client: the certificate with its key, or undefined when none is uploaded. */
    async current(): Promise<UsablePushCertificate | undefined> {
      const t = Date.now();
      if (!cache || t - cache.at > cacheMs) {
        const raw = await deps.settings.get(CERT_SETTING);
        if (!cache || raw !== cache.raw) {
          let cert: PushCertificate | undefined;
          if (raw !== undefined) {
            const s = JSON.parse(raw) as StoredCert;
            const keyPem = new TextDecoder().decode(deps.sealer.open(new Uint8Array(Buffer.from(s.keySealed, 'base64')), KEY_AAD));
            cert = { certPem: s.certPem, keyPem, topic: s.topic, notBefore: s.notBefore, notAfter: s.notAfter, sha256: s.sha256, issuer: s.issuer };
          }
          cache = { at: t, raw, cert };
        } else {
          cache.at = t;
        }
      }
      if (!cache.cert) return undefined;
      return { cert: cache.cert, state: certState(cache.cert, deps.now(), warnDays) };
    },

    /** For health and metrics; no permission (no secret in it). */
    async status(): Promise<{ state: CertState | 'missing'; notAfter: string | null; daysLeft: number | null }> {
      const s = await loadStored();
      if (!s) return { state: 'missing', notAfter: null, daysLeft: null };
      const v = view(s);
      return { state: v.state, notAfter: v.notAfter, daysLeft: v.daysLeft };
    },
  };
}

export type PushCertService = ReturnType<typeof createPushCertService>;

/** The approved "push.certificate" installs the staged certificate it names, once, as the requester. */
export function registerPushExecutors(
  gate: { register(action: string, run: (p: { [k: string]: JsonValue }, ctx: { actor: Actor }) => Promise<JsonValue>): void },
  certs: Pick<PushCertService, 'activate'>,
): void {
  gate.register('push.certificate', async (p, ctx) => {
    const v = await certs.activate(ctx.actor, typeof p.sha256 === 'string' ? p.sha256 : '');
    return { sha256: v.sha256, topic: v.topic };
  });
}
