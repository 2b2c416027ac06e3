// Revocation of device identity certificates and the CRLs that publish it.
//
// A certificate is revoked by an administrator (by serial or every identity
// of a device, permission ca.manage), or by the core when a device binds a
// new identity (renewal, re-enrollment: the old one is "superseded") or
// checks out. Revoked identities are refused at check-in and connect in the
// core (an in-memory set of their SHA-256, refreshed from the database, so
// several nodes agree within the refresh interval) and the attempt is
// recorded as a security event.
//
// Each issuing CA we hold a key for (the current one, rotated-out ones whose
// key was kept sealed) has a CRL, signed by that CA, stored in settings
// (`ca.crl.<ca id>`: number, thisUpdate, nextUpdate, DER) and regenerated on
// every revocation (in the background when a device's request caused it) and a
// day after it was made (valid for a week), so it is never stale. Entries of
// expired certificates are left out. The gateway serves it at GET /pki/crl/<ca id>.crl, asking the
// core over IPC; it holds no key. New identities carry that URL as their CRL
// distribution point.
import { X509Certificate, createPrivateKey, hash } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { badRequest, isRampartError, notFound } from '../lib/errors.ts';
import { createCrl, CRL_REASONS } from '../pki/crl.ts';
import type { CaMaterial } from '../pki/authority.ts';
import { authorize } from '../services/command-policy.ts';
import type { Sealer } from '../services/checkin.ts';
import type { Actor } from '../services/types.ts';
import type { CertificateStore, IssuedCertificate, SettingsStore } from '../storage/types.ts';
import { CA_KEY_AAD, type LivePki } from './live-pki.ts';
import type { EnrollmentStore } from './store.ts';

export const CA_ID_PATTERN = '^[0-9a-f]{32}$';
const CA_ID_RE = new RegExp(CA_ID_PATTERN);
export const SERIAL_PATTERN = '^[0-9a-fA-F]{1,40}$';
export const CRL_VALIDITY_HOURS = 7 * 24;
/** A CRL older than this is made again (well before its nextUpdate). */
export const CRL_REFRESH_HOURS = 24;
export const CRL_CONTENT_TYPE = 'application/pkix-crl';
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** The CA's id in CRL URLs: the first 128 bits of its certificate's SHA-256. */
export function caIdOf(certDer: Uint8Array): string {
  return hash('sha256', certDer, 'hex').slice(0, 32);
}

export function crlPath(caId: string): string {
  return `/pki/crl/${caId}.crl`;
}

type StoredCrl = { number: string; thisUpdate: string; nextUpdate: string; der: string };
const crlKey = (caId: string): string => `ca.crl.${caId}`;

export interface RevocationService {
  /** Revokes one certificate we issued (admin, ca.manage). */
  revokeSerial(actor: Actor, serial: string, reason?: RevocationReason): Promise<{ serial: string; revokedAt: string; alreadyRevoked: boolean }>;
  /** Revokes every identity bound to a device (admin, ca.manage). */
  revokeDevice(actor: Actor, deviceId: string, reason?: RevocationReason): Promise<{ serials: string[] }>;
  /** The core's own revocations: identities of `deviceId` other than `keepSha256` (null: all of them). */
  revokeForDevice(deviceId: string, keepSha256: string | null, reason: RevocationReason, ctx: { source?: string; requestId?: string }): Promise<string[]>;
  isRevoked(certSha256: string): boolean;
  /** The CRL (DER) of the CA with this id, made now if there is none yet. */
  crl(caId: string): Promise<Uint8Array | undefined>;
  /** Reloads the revoked set and (unless `publish` is false) remakes CRLs that are due (periodic job). */
  maintain(opts?: { publish?: boolean }): Promise<{ revoked: number; crlsMade: number }>;
  /** URL of the current CA's CRL, for new identities. */
  currentCrlUrl(): string;
  /** Waits for background CRL publication (tests, shutdown). */
  flush(): Promise<void>;
}

export function createRevocationService(deps: {
  certificates: CertificateStore;
  store: EnrollmentStore;
  settings: SettingsStore;
  sealer: Sealer;
  audit: AuditRecorder;
  live: LivePki;
  now: () => Date;
  baseUrl: () => string;
  log?: { error(obj: object, msg: string): void };
}): RevocationService {
  let revoked = new Set<string>();
  const target = (serial: string) => ({ type: 'certificate', id: serial });
  const who = (a: Actor) => ({
    actor: { type: a.type, id: a.id },
    ...(a.source !== undefined ? { source: a.source } : {}),
    ...(a.requestId !== undefined ? { requestId: a.requestId } : {}),
  });

  /** Every CA we can sign a CRL for, by id (keys opened once per PKI version, not per request). */
  let signerCache: { version: string; map: Map<string, CaMaterial> } | undefined;
  function signers(): Map<string, CaMaterial> {
    const p = deps.live.current();
    if (signerCache?.version === p.version) return signerCache.map;
    const out = new Map<string, CaMaterial>([[caIdOf(p.ca.certDer), p.ca]]);
    for (const prev of p.previous) {
      if (!prev.sealedKey) continue;
      const id = caIdOf(prev.cert);
      if (out.has(id)) continue;
      try {
        const pkcs8 = deps.sealer.open(new Uint8Array(Buffer.from(prev.sealedKey, 'base64')), CA_KEY_AAD);
        out.set(id, { certDer: prev.cert, privateKey: createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }) });
      } catch {
        deps.log?.error({ caId: id }, 'cannot open the key of a rotated-out CA; its CRL is not published');
      }
    }
    signerCache = { version: p.version, map: out };
    return out;
  }

  // Which CA issued a revoked certificate never changes: remembered (certificate SHA-256 + CA id → yes/no).
  const issuerMemo = new Map<string, boolean>();
  function issuedBy(c: IssuedCertificate, ca: X509Certificate, caId: string): boolean {
    const key = `${c.sha256}|${caId}`;
    const known = issuerMemo.get(key);
    if (known !== undefined) return known;
    let yes = false;
    try {
      const x = new X509Certificate(Buffer.from(c.der));
      yes = x.checkIssued(ca) && x.verify(ca.publicKey);
    } catch {
      yes = false;
    }
    if (issuerMemo.size > 200_000) issuerMemo.clear();
    issuerMemo.set(key, yes);
    return yes;
  }

  async function makeCrl(caId: string, ca: CaMaterial, all?: IssuedCertificate[]): Promise<Uint8Array> {
    const list = all ?? (await deps.certificates.listRevoked());
    const caX = new X509Certificate(Buffer.from(ca.certDer));
    const nowMs = deps.now().getTime();
    // Entries leave the CRL once their certificate has expired (RFC 5280 3.3): it is refused on its dates anyway.
    const entries = list
      .filter((c) => Date.parse(c.notAfter) > nowMs && issuedBy(c, caX, caId))
      .map((c) => ({
        serialHex: c.serial,
        revokedAt: new Date(c.revokedAt!),
        ...(c.revocationReason && c.revocationReason in CRL_REASONS ? { reason: c.revocationReason } : {}),
      }));
    const raw = await deps.settings.get(crlKey(caId));
    const prev = raw ? (JSON.parse(raw) as StoredCrl) : undefined;
    const number = prev ? BigInt(prev.number) + 1n : 1n;
    const now = deps.now();
    const der = await createCrl(ca, entries, { now, nextUpdateHours: CRL_VALIDITY_HOURS, crlNumber: number });
    const stored: StoredCrl = {
      number: number.toString(),
      thisUpdate: now.toISOString(),
      nextUpdate: new Date(now.getTime() + CRL_VALIDITY_HOURS * 3_600_000).toISOString(),
      der: Buffer.from(der).toString('base64'),
    };
    await deps.settings.set(crlKey(caId), JSON.stringify(stored), now.toISOString());
    return der;
  }

  /** Remakes every CA's CRL from the revoked certificates in the database. */
  async function republish(): Promise<number> {
    const all = await deps.certificates.listRevoked();
    revoked = new Set(all.map((c) => c.sha256));
    let n = 0;
    for (const [id, ca] of signers()) {
      await makeCrl(id, ca, all);
      n++;
    }
    return n;
  }

  // Revocations on a device's request path (renewal, re-enrollment, checkout) publish in the
  // background, coalesced: the request does not wait for the CRL; enforcement (the revoked set) is immediate.
  let background: Promise<void> | undefined;
  let again = false;
  function republishLater(): void {
    if (background) {
      again = true;
      return;
    }
    background = (async () => {
      do {
        again = false;
        try {
          await republish();
        } catch (e) {
          deps.log?.error({ err: e instanceof Error ? e.message : 'unknown' }, 'CRL publication failed; retried by the periodic job');
        }
      } while (again);
    })().finally(() => {
      background = undefined;
    });
  }

  async function revokeOne(c: IssuedCertificate, reason: RevocationReason, event: { actor: { type: string; id: string }; source?: string; requestId?: string }): Promise<boolean> {
    // On record first; revoking again changes nothing.
    if (c.revokedAt) return false;
    await deps.audit.record({
      ...event,
      action: 'ca.certificate.revoke',
      target: target(c.serial),
      outcome: 'success',
      details: { reason, certSha256: c.sha256, deviceId: c.deviceId },
    } as Parameters<AuditRecorder['record']>[0]);
    const changed = await deps.certificates.revoke(c.serial, reason, deps.now().toISOString());
    revoked.add(c.sha256);
    return changed;
  }

  async function identitiesOf(deviceId: string): Promise<IssuedCertificate[]> {
    const out = new Map<string, IssuedCertificate>();
    for (const i of await deps.store.issuedBoundTo(deviceId)) {
      const c = await deps.certificates.getBySha256(i.certSha256);
      if (c) out.set(c.serial, c);
    }
    return [...out.values()];
  }

  function checkReason(reason: string | undefined): RevocationReason {
    const r = reason ?? 'unspecified';
    if (!(REVOCATION_REASONS as readonly string[]).includes(r)) throw badRequest('invalid revocation reason');
    return r as RevocationReason;
  }

  return {
    async revokeSerial(actor, serial, reason) {
      const s = typeof serial === 'string' ? serial.toLowerCase().replace(/^(?:00)+(?=.)/, '') : '';
      const valid = new RegExp(SERIAL_PATTERN).test(s);
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.certificate.revoke', ...(valid ? { target: target(s) } : {}) });
      try {
        if (!valid) throw badRequest('invalid serial');
        const r = checkReason(reason);
        const c = await deps.certificates.getBySerial(s);
        if (!c) throw notFound('no certificate with that serial');
        const done = await revokeOne(c, r, who(actor));
        if (done) await republish();
        const after = await deps.certificates.getBySerial(s);
        return { serial: c.serial, revokedAt: after?.revokedAt ?? c.revokedAt ?? deps.now().toISOString(), alreadyRevoked: !done };
      } catch (e) {
        await deps.audit.record({ ...who(actor), action: 'ca.certificate.revoke', outcome: 'failure', ...(valid ? { target: target(s) } : {}), details: { reason: isRampartError(e) ? e.message : 'internal' } });
        throw e;
      }
    },

    async revokeDevice(actor, deviceId, reason) {
      await authorize(deps.audit, actor, 'ca.manage', { action: 'ca.certificate.revoke', target: { type: 'device', id: deviceId } });
      const r = checkReason(reason);
      const certs = (await identitiesOf(deviceId)).filter((c) => !c.revokedAt);
      if (certs.length === 0) {
        await deps.audit.record({ ...who(actor), action: 'ca.certificate.revoke', outcome: 'failure', target: { type: 'device', id: deviceId }, details: { reason: 'no identity to revoke' } });
        throw notFound('no unrevoked identity for that device');
      }
      for (const c of certs) await revokeOne(c, r, who(actor));
      await republish();
      return { serials: certs.map((c) => c.serial) };
    },

    async revokeForDevice(deviceId, keepSha256, reason, ctx) {
      const certs = (await identitiesOf(deviceId)).filter((c) => !c.revokedAt && c.sha256 !== keepSha256);
      for (const c of certs) {
        await revokeOne(c, reason, { actor: { type: 'system', id: 'rampart' }, ...(ctx.source ? { source: ctx.source } : {}), ...(ctx.requestId ? { requestId: ctx.requestId } : {}) });
      }
      if (certs.length > 0) republishLater();
      return certs.map((c) => c.serial);
    },

    isRevoked(certSha256) {
      return revoked.has(certSha256);
    },

    async flush() {
      while (background) await background;
    },

    async crl(caId) {
      if (!CA_ID_RE.test(caId)) return undefined;
      const raw = await deps.settings.get(crlKey(caId));
      if (raw) {
        const stored = JSON.parse(raw) as StoredCrl;
        if (Date.parse(stored.nextUpdate) > deps.now().getTime()) return new Uint8Array(Buffer.from(stored.der, 'base64'));
      }
      const ca = signers().get(caId);
      return ca ? makeCrl(caId, ca) : undefined;
    },

    async maintain(opts = {}) {
      const all = await deps.certificates.listRevoked();
      revoked = new Set(all.map((c) => c.sha256));
      let made = 0;
      if (opts.publish === false) return { revoked: revoked.size, crlsMade: 0 };
      const now = deps.now().getTime();
      for (const [id, ca] of signers()) {
        const raw = await deps.settings.get(crlKey(id));
        const stored = raw ? (JSON.parse(raw) as StoredCrl) : undefined;
        if (stored && now - Date.parse(stored.thisUpdate) < CRL_REFRESH_HOURS * 3_600_000) continue;
        await makeCrl(id, ca, all);
        made++;
      }
      return { revoked: revoked.size, crlsMade: made };
    },

    currentCrlUrl() {
      return `${deps.baseUrl()}${crlPath(caIdOf(deps.live.current().ca.certDer))}`;
    },
  };
}
