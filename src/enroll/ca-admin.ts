// The enrollment CA for administrators: show it (ca.read) and rotate it
// (ca.manage). Rotation makes a new CA and stages it in ONE settings value;
// the next start applies it (applyPendingRotation): the old CA certificate
// moves to the list of previous CAs, which stay trusted for the identities
// they issued until those devices renew under the new CA. Staging in one
// value makes the rotation atomic; applying it is idempotent, so kill -9 at
// any point leaves either the old or the new CA, never a mixed pair.
import { hash } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { conflict } from '../lib/errors.ts';
import { createCertificateAuthority, type CaMaterial } from '../pki/authority.ts';
import { certInfo } from '../pki/info.ts';
import { toPem } from '../pki/pem.ts';
import { authorize } from '../services/command-policy.ts';
import type { Sealer } from '../services/checkin.ts';
import type { ApprovalGuard } from '../authz/types.ts';
import type { Actor } from '../services/types.ts';
import type { SettingsStore } from '../storage/types.ts';
import type { RaMaterial } from './ra.ts';

// Keys of src/core/ca.ts.
const CERT_KEY = 'ca.cert';
const SEALED_KEY = 'ca.key.sealed';
const KEY_AAD = 'ca-key';
const PREVIOUS = 'ca.previous';
const PENDING = 'ca.rotation.pending';

export type CaCertView = { subject: string; serial: string; notBefore: string; notAfter: string; sha256: string; pem: string };
export type CaView = { current: CaCertView; ra: CaCertView; previous: CaCertView[]; rotationPending: boolean };

export interface CaService {
  show(actor: Actor): Promise<CaView>;
  rotate(actor: Actor, opts?: { validityDays?: number }): Promise<{ pending: CaCertView }>;
}

function view(der: Uint8Array): CaCertView {
  const i = certInfo(der);
  return { subject: i.subject, serial: i.serialHex, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), sha256: i.sha256, pem: toPem('CERTIFICATE', der) };
}

export async function previousCas(settings: SettingsStore): Promise<Uint8Array[]> {
  const raw = await settings.get(PREVIOUS);
  if (!raw) return [];
  const list = JSON.parse(raw) as unknown;
  if (!Array.isArray(list)) return [];
  return list.filter((s): s is string => typeof s === 'string').map((b) => new Uint8Array(Buffer.from(b, 'base64')));
}

/** Applies a staged rotation, if any (at start, before the CA is loaded). Idempotent. */
export async function applyPendingRotation(settings: SettingsStore, now: () => Date): Promise<boolean> {
  const pending = await settings.get(PENDING);
  if (!pending) return false;
  const p = JSON.parse(pending) as { cert: string; sealedKey: string };
  const t = now().toISOString();
  const current = await settings.get(CERT_KEY);
  if (current && current !== p.cert) {
    const prev = (await previousCas(settings)).map((d) => Buffer.from(d).toString('base64'));
    if (!prev.includes(current)) await settings.set(PREVIOUS, JSON.stringify([current, ...prev]), t);
  }
  await settings.set(SEALED_KEY, p.sealedKey, t);
  await settings.set(CERT_KEY, p.cert, t);
  await settings.set(PENDING, '', t);
  return true;
}

export function createCaService(deps: {
  settings: SettingsStore;
  sealer: Sealer;
  audit: AuditRecorder;
  now: () => Date;
  current: () => { ca: CaMaterial; ra: RaMaterial; trustedCas: Uint8Array[] };
  /** Four-eyes gate (src/authz): a CA rotation waits for a second administrator ("ca.rotate"). */
  gate?: ApprovalGuard;
}): CaService {
  const who = (a: Actor) => ({
    actor: { type: a.type, id: a.id },
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.requestId !== undefined ? { requestId: a.requestId } : {}),
  });
  return {
    async show(actor) {
      await authorize(deps.audit, actor, 'ca.read', { action: 'ca.show' });
      const { ca, ra, trustedCas } = deps.current();
      return {
        current: view(ca.certDer),
        ra: view(ra.certDer),
        previous: trustedCas.slice(1).map(view),
        rotationPending: Boolean(await deps.settings.get(PENDING)),
      };
    },
    async rotate(actor, opts = {}) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.rotate', target: { type: 'ca', id: 'enrollment' } });
      if (await deps.settings.get(PENDING)) throw conflict('a rotation is already pending; restart to apply it');
      if (deps.gate) {
        await deps.gate.guard(actor, {
          action: 'ca.rotate',
          params: { validityDays: opts.validityDays ?? 3650 },
          summary: 'rotate the enrollment CA (applied at the next start; the old CA stays trusted until identities renew)',
          target: { type: 'ca', id: 'enrollment' },
          approverPermission: 'ca.manage',
        });
      }
      const { ca } = deps.current();
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
        target: { type: 'ca', id: 'enrollment' },
        outcome: 'success',
        details: { previousSha256: hash('sha256', ca.certDer, 'hex'), nextSha256: info.sha256, appliesAt: 'restart' },
      });
      const sealedKey = Buffer.from(deps.sealer.seal(new Uint8Array(next.privateKey.export({ format: 'der', type: 'pkcs8' })), KEY_AAD)).toString('base64');
      await deps.settings.set(PENDING, JSON.stringify({ cert: Buffer.from(next.certDer).toString('base64'), sealedKey }), deps.now().toISOString());
      return { pending: info };
    },
  };
}
