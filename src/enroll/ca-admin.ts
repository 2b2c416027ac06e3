// The enrollment CA for administrators: show it (ca.read); rotate it, import
// an existing CA, or make a CSR for an intermediate under an external root
// (ca.manage; rotation and import are four-eyes actions "ca.rotate" and
// "ca.import"). A change is staged in ONE settings value and applied at once
// (applyPendingRotation, then the live PKI reloads and hands the new trust
// anchors to the gateway): the old CA certificate moves to the list of
// previous CAs, which stay trusted for the identities they issued until those
// expire or renew. Staging in one value makes the change atomic; applying it is
// idempotent and also runs at start, so kill -9 at any point leaves either the
// old or the new CA, never a mixed pair.
import { createPrivateKey, hash, type KeyObject } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { badRequest, conflict, isRampartError, notFound } from '../lib/errors.ts';
import { createCertificateAuthority } from '../pki/authority.ts';
import { checkCaWithChain, createCaRequest, keyMatches, parsePrivateKeyPem } from '../pki/ca-import.ts';
import { certInfo } from '../pki/info.ts';
import { spkiDer } from '../pki/crypto-keys.ts';
import { toPem } from '../pki/pem.ts';
import { authorize } from '../services/command-policy.ts';
import type { Sealer } from '../services/checkin.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Actor } from '../services/types.ts';
import type { SettingsStore } from '../storage/types.ts';
import { CA_KEY_AAD, CA_KEYS, encodeIssuer, previousIssuers, type LivePki } from './live-pki.ts';

const { cert: CERT_KEY, sealedKey: SEALED_KEY, chain: CHAIN_KEY, previous: PREVIOUS, pending: PENDING, csr: CSR, staged: STAGED } = CA_KEYS;
const KEY_AAD = CA_KEY_AAD;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export type CaCertView = { subject: string; serial: string; notBefore: string; notAfter: string; sha256: string; pem: string };
export type CaView = { current: CaCertView; chain: CaCertView[]; ra: CaCertView; previous: CaCertView[]; rotationPending: boolean; csrPending: boolean };
export type CaImportInput = { certPem: string; keyPem?: string; chainPem?: string };

export interface CaService {
  show(actor: Actor): Promise<CaView>;
  /** A new self-signed CA, in effect at once (four-eyes "ca.rotate"). */
  rotate(actor: Actor, opts?: { validityDays?: number }): Promise<{ current: CaCertView }>;
  /** A new CA key (sealed, kept here) and a CSR for an external root to sign. */
  createCsr(actor: Actor, opts?: { commonName?: string; organization?: string }): Promise<{ csrPem: string; publicKeySha256: string }>;
  /** Checks and stages an imported CA (with its key, or the key of the pending CSR), then activates it. */
  importCa(actor: Actor, input: CaImportInput): Promise<{ current: CaCertView }>;
  /** Makes a staged import current: at once, or as the approved action "ca.import". */
  activateImport(actor: Actor, sha256: string): Promise<{ current: CaCertView }>;
}

function view(der: Uint8Array): CaCertView {
  const i = certInfo(der);
  return { subject: i.subject, serial: i.serialHex, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), sha256: i.sha256, pem: toPem('CERTIFICATE', der) };
}

const b64 = (d: Uint8Array): string => Buffer.from(d).toString('base64');

export async function previousCas(settings: SettingsStore): Promise<Uint8Array[]> {
  return (await previousIssuers(settings)).map((p) => p.cert);
}

type Pending = { cert: string; sealedKey: string; chain?: string[] };

/**
 * Applies a staged CA change, if any (at start, before the CA is loaded, and
 * right after a change is staged). Idempotent. `inMemory`: the CA in use when
 * it is not stored in settings (tests), so it still becomes a previous CA.
 */
export async function applyPendingRotation(settings: SettingsStore, now: () => Date, inMemory?: { cert: Uint8Array; chain: Uint8Array[]; sealedKey?: string }): Promise<boolean> {
  const pending = await settings.get(PENDING);
  if (!pending) return false;
  const p = JSON.parse(pending) as Pending;
  const t = now().toISOString();
  const stored = await settings.get(CERT_KEY);
  const current = stored ?? (inMemory ? b64(inMemory.cert) : undefined);
  if (current && current !== p.cert) {
    const chain = stored ? JSON.parse((await settings.get(CHAIN_KEY)) || '[]') as string[] : (inMemory?.chain ?? []).map(b64);
    // The old key stays (sealed) so the old CA can still sign CRLs for the identities it issued.
    const oldKey = stored ? await settings.get(SEALED_KEY) : inMemory?.sealedKey;
    const prev = await previousIssuers(settings);
    if (!prev.some((x) => b64(x.cert) === current)) {
      const entry = encodeIssuer({
        cert: new Uint8Array(Buffer.from(current, 'base64')),
        chain: chain.map((c) => new Uint8Array(Buffer.from(c, 'base64'))),
        ...(oldKey ? { sealedKey: oldKey } : {}),
      });
      await settings.set(PREVIOUS, JSON.stringify([entry, ...prev.map(encodeIssuer)]), t);
    }
  }
  await settings.set(SEALED_KEY, p.sealedKey, t);
  await settings.set(CHAIN_KEY, JSON.stringify(p.chain ?? []), t);
  await settings.set(CERT_KEY, p.cert, t);
  await settings.set(PENDING, '', t);
  return true;
}

type Staged = { sha256: string; cert: string; chain: string[]; sealedKey: string; fromCsr: boolean; stagedBy: string };

export function createCaService(deps: {
  settings: SettingsStore;
  sealer: Sealer;
  audit: AuditRecorder;
  now: () => Date;
  live: LivePki;
  /** Four-eyes gate (src/authz): rotation and import wait for a second administrator ("ca.rotate", "ca.import"). */
  gate?: ApprovalGuard;
}): CaService {
  const who = (a: Actor) => ({
    actor: { type: a.type, id: a.id },
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.requestId !== undefined ? { requestId: a.requestId } : {}),
  });
  const target = { type: 'ca', id: 'enrollment' };
  const seal = (k: KeyObject): string => b64(deps.sealer.seal(new Uint8Array(k.export({ format: 'der', type: 'pkcs8' })), KEY_AAD));

  /** Stages the new CA in one value, applies it and swaps the live PKI (new RA issued here). */
  async function apply(actor: Actor, action: string, p: Pending): Promise<{ current: CaCertView }> {
    const t = deps.now().toISOString();
    await deps.settings.set(PENDING, JSON.stringify(p), t);
    const { ca, chain } = deps.live.current();
    await applyPendingRotation(deps.settings, deps.now, { cert: ca.certDer, chain, sealedKey: seal(ca.privateKey) });
    const r = await deps.live.reload({ createRa: true });
    const now = deps.live.current();
    await deps.audit.record({
      ...who(actor),
      action: `${action}.applied`,
      target,
      outcome: 'success',
      details: { sha256: certInfo(now.ca.certDer).sha256, raReissued: r.raCreated, trustAnchors: now.trust.anchors.length, intermediates: now.trust.intermediates.length },
    });
    return { current: view(now.ca.certDer) };
  }

  async function failed(actor: Actor, action: string, e: unknown): Promise<never> {
    await deps.audit.record({ ...who(actor), action, target, outcome: 'failure', details: { reason: isRampartError(e) ? e.message : 'internal' } });
    throw e;
  }

  const service: CaService = {
    async show(actor) {
      await authorize(deps.audit, actor, 'ca.read', { action: 'ca.show' });
      const { ca, chain, ra, trustedCas } = deps.live.current();
      return {
        current: view(ca.certDer),
        chain: chain.map(view),
        ra: view(ra.certDer),
        previous: trustedCas.slice(1).map(view),
        rotationPending: Boolean(await deps.settings.get(PENDING)),
        csrPending: Boolean(await deps.settings.get(CSR)),
      };
    },

    async rotate(actor, opts = {}) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.rotate', target });
      if (await deps.settings.get(PENDING)) throw conflict('a CA change is already pending; restart to apply it');
      if (deps.gate) {
        await deps.gate.guard(actor, {
          action: 'ca.rotate',
          params: { validityDays: opts.validityDays ?? 3650 },
          summary: 'rotate the enrollment CA (in effect at once; the old CA stays trusted for existing identities until they expire or renew)',
          target,
          approverPermission: 'ca.manage',
        });
      }
      const { ca } = deps.live.current();
      const next = await createCertificateAuthority({
        commonName: `Rampart Enrollment CA ${deps.now().toISOString().slice(0, 10)}`,
        organization: 'Rampart',
        validityDays: opts.validityDays ?? 3650,
        now: deps.now(),
        keyAlgorithm: 'rsa-2048',
      });
      const info = view(next.certDer);
      await deps.audit.record({
        ...who(actor),
        action: 'ca.rotate',
        target,
        outcome: 'success',
        details: { previousSha256: hash('sha256', ca.certDer, 'hex'), nextSha256: info.sha256, appliesAt: 'now' },
      });
      return apply(actor, 'ca.rotate', { cert: b64(next.certDer), sealedKey: seal(next.privateKey), chain: [] });
    },

    async createCsr(actor, opts = {}) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.csr', target });
      const { csrDer, privateKey } = await createCaRequest({
        commonName: opts.commonName ?? `Rampart Enrollment CA ${deps.now().toISOString().slice(0, 10)}`,
        organization: opts.organization ?? 'Rampart',
        keyAlgorithm: 'rsa-3072',
      });
      const publicKeySha256 = hash('sha256', spkiDer(privateKey), 'hex');
      const replaced = Boolean(await deps.settings.get(CSR));
      await deps.audit.record({ ...who(actor), action: 'ca.csr', target, outcome: 'success', details: { publicKeySha256, replacedPending: replaced } });
      await deps.settings.set(CSR, JSON.stringify({ sealedKey: seal(privateKey), csr: b64(csrDer), createdAt: deps.now().toISOString() }), deps.now().toISOString());
      return { csrPem: toPem('CERTIFICATE REQUEST', csrDer), publicKeySha256 };
    },

    async importCa(actor, input) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.import', target });
      let staged: Staged;
      try {
        const checked = checkCaWithChain(input.certPem, input.chainPem, deps.now());
        const sha256 = certInfo(checked.certDer).sha256;
        if (sha256 === certInfo(deps.live.current().ca.certDer).sha256) throw conflict('this is the current CA already');
        let sealedKey: string;
        let fromCsr = false;
        if (input.keyPem !== undefined) {
          const key = parsePrivateKeyPem(input.keyPem);
          if (!keyMatches(checked.publicSpki, key)) throw badRequest('the private key does not match the certificate');
          sealedKey = seal(key);
        } else {
          const raw = await deps.settings.get(CSR);
          if (!raw) throw badRequest('no private key given and no pending CSR (run `rampart ca csr` first)');
          const csr = JSON.parse(raw) as { sealedKey: string };
          const key = createPrivateKey({ key: Buffer.from(deps.sealer.open(new Uint8Array(Buffer.from(csr.sealedKey, 'base64')), KEY_AAD)), format: 'der', type: 'pkcs8' });
          if (!keyMatches(checked.publicSpki, key)) throw badRequest('the certificate is not for the key of the pending CSR');
          sealedKey = csr.sealedKey;
          fromCsr = true;
        }
        staged = { sha256, cert: b64(checked.certDer), chain: checked.chain.map(b64), sealedKey, fromCsr, stagedBy: actor.id };
      } catch (e) {
        return failed(actor, 'ca.import', e);
      }
      // Staged with its key sealed; it takes effect only through activateImport().
      await deps.settings.set(STAGED, JSON.stringify(staged), deps.now().toISOString());
      return service.activateImport(actor, staged.sha256);
    },

    async activateImport(actor, sha256) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.import', target });
      const raw = SHA256_HEX.test(sha256) ? await deps.settings.get(STAGED) : undefined;
      const staged = raw ? (JSON.parse(raw) as Staged) : undefined;
      if (!staged || staged.sha256 !== sha256) throw notFound('no staged CA with that SHA-256');
      const der = new Uint8Array(Buffer.from(staged.cert, 'base64'));
      const info = certInfo(der);
      if (info.notAfter.getTime() <= deps.now().getTime()) throw conflict('the staged CA has expired');
      const chainSha = staged.chain.map((c) => hash('sha256', Buffer.from(c, 'base64'), 'hex'));
      if (deps.gate) {
        await deps.gate.guard(actor, {
          action: 'ca.import',
          params: { sha256, subject: info.subject, notAfter: info.notAfter.toISOString(), chain: chainSha, keyFromCsr: staged.fromCsr },
          summary: `make ${info.subject} (${sha256.slice(0, 16)}…) the enrollment CA${chainSha.length ? ` under ${chainSha.length} chain certificate(s)` : ''}; the old CA stays trusted for existing identities`,
          target,
          approverPermission: 'ca.manage',
        });
      }
      await deps.audit.record({
        ...who(actor),
        action: 'ca.import',
        target,
        outcome: 'success',
        details: { previousSha256: hash('sha256', deps.live.current().ca.certDer, 'hex'), nextSha256: sha256, subject: info.subject, chain: chainSha, keyFromCsr: staged.fromCsr },
      });
      const r = await apply(actor, 'ca.import', { cert: staged.cert, sealedKey: staged.sealedKey, chain: staged.chain });
      const t = deps.now().toISOString();
      await deps.settings.set(STAGED, '', t);
      if (staged.fromCsr) await deps.settings.set(CSR, '', t);
      return r;
    },
  };
  return service;
}
