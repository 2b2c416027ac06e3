// The enrollment PKI the core works with, swappable while it runs: the
// issuing CA (generated, imported, or an intermediate under an external root)
// with its chain, the SCEP RA it issued, and the trust set for device
// identities (the current CA and rotated-out ones, whose devices keep working
// until their identities expire or renew).
//
// A CA change is written to settings (src/enroll/ca-admin.ts) and then
// `reload()` swaps the snapshot in one assignment and tells the listeners (the
// core's verifier and, over IPC, the gateway's). Other nodes pick the change
// up with their periodic `reload()`; a node that finds the new CA before its
// RA exists keeps the old snapshot until the next reload.
import { hash } from 'node:crypto';
import { decodeList, loadCa } from '../core/ca.ts';
import type { CaMaterial } from '../pki/authority.ts';
import type { Sealer } from '../services/checkin.ts';
import type { SettingsStore } from '../storage/types.ts';
import { loadOrCreateRa, loadRa, type RaMaterial } from './ra.ts';

export const CA_KEYS = {
  cert: 'ca.cert',
  sealedKey: 'ca.key.sealed',
  chain: 'ca.chain',
  previous: 'ca.previous',
  pending: 'ca.rotation.pending',
  csr: 'ca.csr.pending',
  staged: 'ca.import.staged',
} as const;
export const CA_KEY_AAD = 'ca-key';

/**
 * An issuing CA certificate and the certificates above it (issuer first, up
 * to the root); for a rotated-out CA also its key, sealed, so it can still
 * sign CRLs for the identities it issued (absent for CAs rotated out before
 * CRLs were published).
 */
export type IssuingCert = { cert: Uint8Array; chain: Uint8Array[]; sealedKey?: string };

/** Public material only: what the verifiers (core and gateway) need. */
export type TrustSet = { anchors: Uint8Array[]; intermediates: Uint8Array[] };

export interface EnrollmentPki {
  ca: CaMaterial;
  /** Certificates above the issuing CA (empty for a self-signed CA). */
  chain: Uint8Array[];
  ra: RaMaterial;
  /** Issuing CA certificates whose identities are trusted (the current one first, then rotated-out ones). */
  trustedCas: Uint8Array[];
  /** The rotated-out CAs with their chains (and sealed keys, for CRLs). */
  previous: IssuingCert[];
  trust: TrustSet;
  /** Changes whenever the trust set or the issuing CA changes. */
  version: string;
}

const b64 = (d: Uint8Array): string => Buffer.from(d).toString('base64');
const sha = (d: Uint8Array): string => hash('sha256', d, 'hex');

/**
 * Anchors: the top of each issuing CA's chain (the CA itself when it has no
 * chain, e.g. an imported CA given without one); everything below is an
 * intermediate the verifier checks against them.
 */
export function trustOf(issuers: IssuingCert[]): TrustSet {
  const anchors = new Map<string, Uint8Array>();
  const intermediates = new Map<string, Uint8Array>();
  for (const i of issuers) {
    const path = [i.cert, ...i.chain];
    const top = path[path.length - 1]!;
    anchors.set(sha(top), top);
    for (const c of path.slice(0, -1)) intermediates.set(sha(c), c);
  }
  for (const k of anchors.keys()) intermediates.delete(k);
  return { anchors: [...anchors.values()], intermediates: [...intermediates.values()] };
}

/** The rotated-out CAs (`ca.previous`: base64 certificates, or {cert, chain} for intermediates). */
export async function previousIssuers(settings: SettingsStore): Promise<IssuingCert[]> {
  const raw = await settings.get(CA_KEYS.previous);
  if (!raw) return [];
  const list = JSON.parse(raw) as unknown;
  if (!Array.isArray(list)) return [];
  const out: IssuingCert[] = [];
  for (const e of list) {
    if (typeof e === 'string') out.push({ cert: new Uint8Array(Buffer.from(e, 'base64')), chain: [] });
    else if (e && typeof e === 'object' && typeof (e as { cert?: unknown }).cert === 'string') {
      const o = e as { cert: string; chain?: unknown; sealedKey?: unknown };
      out.push({
        cert: new Uint8Array(Buffer.from(o.cert, 'base64')),
        chain: decodeList(JSON.stringify(o.chain ?? [])),
        ...(typeof o.sealedKey === 'string' ? { sealedKey: o.sealedKey } : {}),
      });
    }
  }
  return out;
}

export function encodeIssuer(i: IssuingCert): string | { cert: string; chain: string[]; sealedKey?: string } {
  if (i.chain.length === 0 && i.sealedKey === undefined) return b64(i.cert);
  return { cert: b64(i.cert), chain: i.chain.map(b64), ...(i.sealedKey !== undefined ? { sealedKey: i.sealedKey } : {}) };
}

export function snapshot(ca: CaMaterial, chain: Uint8Array[], ra: RaMaterial, previous: IssuingCert[]): EnrollmentPki {
  const current = sha(ca.certDer);
  const prev = previous.filter((p) => sha(p.cert) !== current);
  const issuers = [{ cert: ca.certDer, chain }, ...prev];
  const trust = trustOf(issuers);
  return {
    ca,
    chain,
    ra,
    trustedCas: issuers.map((i) => i.cert),
    previous: prev,
    trust,
    version: sha(new TextEncoder().encode([current, sha(ra.certDer), ...trust.anchors.map(sha), '|', ...trust.intermediates.map(sha)].join(','))),
  };
}

export interface LivePki {
  current(): EnrollmentPki;
  /**
   * Reads the CA from settings and swaps the snapshot when it changed.
   * `createRa`: issue the SCEP RA for a new CA here (the node that applied the
   * change); otherwise wait until that node has stored it.
   */
  reload(opts?: { createRa?: boolean }): Promise<{ changed: boolean; raCreated: boolean }>;
  onChange(listener: (p: EnrollmentPki) => void): void;
}

export async function openLivePki(
  deps: { settings: SettingsStore; sealer: Sealer; now: () => Date },
  initial: CaMaterial & { chain?: Uint8Array[] },
): Promise<{ live: LivePki; raCreated: boolean }> {
  const { ra, created } = await loadOrCreateRa(deps, initial);
  let state = snapshot(initial, initial.chain ?? [], ra, await previousIssuers(deps.settings));
  const listeners: ((p: EnrollmentPki) => void)[] = [];
  let running: Promise<{ changed: boolean; raCreated: boolean }> | undefined;

  async function reloadOnce(opts: { createRa?: boolean }): Promise<{ changed: boolean; raCreated: boolean }> {
    const ca = await loadCa(deps);
    // A CA given in memory only (tests) stays until one is stored.
    if (!ca) return { changed: false, raCreated: false };
    let raCreated = false;
    let r: RaMaterial | undefined;
    if (sha(ca.certDer) === sha(state.ca.certDer)) r = state.ra;
    else if (opts.createRa) {
      const made = await loadOrCreateRa(deps, ca);
      r = made.ra;
      raCreated = made.created;
    } else r = await loadRa(deps, ca);
    if (!r) return { changed: false, raCreated: false };
    const next = snapshot(ca, ca.chain, r, await previousIssuers(deps.settings));
    if (next.version === state.version) return { changed: false, raCreated };
    state = next;
    for (const l of listeners) l(next);
    return { changed: true, raCreated };
  }

  return {
    raCreated: created,
    live: {
      current: () => state,
      async reload(opts = {}) {
        // One reload at a time; a caller that applied a change waits for its own.
        while (running) await running.catch(() => undefined);
        running = reloadOnce(opts);
        try {
          return await running;
        } finally {
          running = undefined;
        }
      },
      onChange(listener) {
        listeners.push(listener);
      },
    },
  };
}
