// Verification of CMS SignedData: the detached Apple `Mdm-Signature` and
// attached (enveloped-content) signatures such as signed .mobileconfig files.
//
// Pure: no I/O; time comes in as an argument. All cryptography is synchronous
// node:crypto. The chain check (signer certificate issued by a trust anchor)
// is cached per certificate hash in a bounded LRU: a device signs every
// request with the same identity certificate. Only certificates that passed
// the chain check are cached; validity dates are re-checked on every call.

import { createPublicKey, hash, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { RampartError, badRequest, isRampartError, unauthorized } from '../../lib/errors.ts';
import {
  ACCEPTED_CURVES, CERT_SIGNATURE_HASHES, DIGEST_OIDS, MIN_RSA_BITS, OID, SIGNATURE_OIDS,
} from './algorithms.ts';
import type { KeyKind } from './algorithms.ts';
import { KU, parseCertificate } from './certificate.ts';
import type { ParsedCertificate } from './certificate.ts';
import {
  DerError, TAG, bytesEqual, children, content, expect, expectKids, octets, oid, parse, raw, smallInt, toDefinite,
} from './der.ts';
import type { Node } from './der.ts';

export type VerifiedSigner = {
  certDer: Uint8Array;
  /** SHA-256 of the certificate DER, lower-case hex. */
  certSha256: string;
  subject: string;
  serialHex: string;
  notAfter: Date;
};

export type VerifyOptions = {
  /** CA certificates (DER) that may issue signer certificates directly. */
  trustAnchors: Uint8Array[];
  now: Date;
  /** Largest accepted SignedData encoding; default 64 KiB. */
  maxSignatureBytes?: number;
};

export type CmsVerifier = {
  verifyDetached(signature: Uint8Array, content: Uint8Array, opts: { now: Date; maxSignatureBytes?: number }): VerifiedSigner;
  verifyAttached(der: Uint8Array, opts: { now: Date; maxBytes?: number }): { content: Uint8Array; signer: VerifiedSigner };
  /**
   * Checks a certificate on its own (a TLS client certificate forwarded by a
   * trusted proxy, RFC 9440): issued by a trust anchor, valid at `now`.
   */
  verifyCertificate(certDer: Uint8Array, opts: { now: Date }): VerifiedSigner;
};

export const DEFAULT_MAX_SIGNATURE_BYTES = 64 * 1024;
export const DEFAULT_MAX_ATTACHED_BYTES = 16 * 1024 * 1024;
const MAX_CERTIFICATES = 16;
const DEFAULT_CACHE_SIZE = 10_000;

// Fixed, input-free messages. `detail` is for operator logs and is also fixed.
const INVALID = 'invalid signature';
const MALFORMED = 'malformed signature';
const refuse = (detail: string): RampartError => unauthorized(INVALID, detail);

/**
 * A CA that may issue signer certificates: a trust anchor, or an intermediate
 * CA checked to chain to one when the verifier is built. `path` is the CA and
 * every certificate above it up to the anchor; all must be valid at `now`.
 */
type Anchor = { cert: ParsedCertificate; key: KeyObject; path: ParsedCertificate[] };

const MAX_INTERMEDIATE_DEPTH = 4;

type CertEntry = {
  cert: ParsedCertificate;
  sha256: string;
  key: KeyObject;
  keyKind: KeyKind;
  anchor: Anchor;
};

function keyKindOf(key: KeyObject): KeyKind | undefined {
  const t = key.asymmetricKeyType;
  if (t === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS ? 'rsa' : undefined;
  }
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    return ACCEPTED_CURVES.has(curve) ? 'ec' : undefined;
  }
  return undefined;
}

function publicKeyOf(spki: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

function validAt(c: ParsedCertificate, now: Date): boolean {
  const t = now.getTime();
  return c.notBefore.getTime() <= t && t <= c.notAfter.getTime();
}

function sha256hex(b: Uint8Array): string {
  return hash('sha256', b, 'hex');
}

/** Verifies `cert`'s own signature with `issuerKey` (certificate signatures: SHA-2 only). */
function certSignedBy(cert: ParsedCertificate, issuerKey: KeyObject): boolean {
  const alg = SIGNATURE_OIDS[cert.signatureAlgorithm];
  if (!alg || !alg.hash || !CERT_SIGNATURE_HASHES.has(alg.hash)) return false;
  if (keyKindOf(issuerKey) !== alg.key) return false;
  try {
    return cryptoVerify(alg.hash, cert.tbs, issuerKey, cert.signature);
  } catch {
    return false;
  }
}

class Verifier implements CmsVerifier {
  readonly #anchors: Anchor[];
  readonly #cache = new Map<string, CertEntry>();
  readonly #cacheSize: number;

  constructor(trustAnchors: Uint8Array[], cacheSize: number, intermediates: Uint8Array[] = []) {
    this.#cacheSize = cacheSize;
    const load = (der: Uint8Array, what: string): { cert: ParsedCertificate; key: KeyObject } => {
      try {
        const cert = parseCertificate(Uint8Array.from(der));
        const key = publicKeyOf(cert.spki);
        if (!key || !keyKindOf(key)) throw new DerError('bad anchor key');
        return { cert, key };
      } catch (e) {
        if (isRampartError(e)) throw e;
        throw new RampartError('internal', `invalid ${what}`);
      }
    };
    this.#anchors = trustAnchors.map((der) => {
      const a = load(der, 'trust anchor');
      return { ...a, path: [a.cert] };
    });
    if (this.#anchors.length === 0) throw new RampartError('internal', 'no trust anchors');
    // Intermediate CAs: each must be a CA allowed to sign certificates, issued
    // by an anchor or by an intermediate accepted before it. Those that do not
    // chain are left out (they can then issue nothing that verifies).
    let pending = intermediates.map((der) => load(der, 'intermediate CA'));
    for (let depth = 0; depth < MAX_INTERMEDIATE_DEPTH && pending.length > 0; depth++) {
      const next: typeof pending = [];
      for (const c of pending) {
        const ok = c.cert.isCa && !c.cert.hasUnknownCritical && c.cert.keyUsage !== undefined && (c.cert.keyUsage & KU.keyCertSign) !== 0;
        const issuer = ok ? this.#issuerOf(c.cert) : undefined;
        if (issuer) this.#anchors.push({ ...c, path: [c.cert, ...issuer.path] });
        else if (ok) next.push(c);
      }
      if (next.length === pending.length) break;
      pending = next;
    }
  }

  /** The anchor or accepted intermediate that issued `cert` (name, key usage and signature checked). */
  #issuerOf(cert: ParsedCertificate): Anchor | undefined {
    for (const a of this.#anchors) {
      if (!bytesEqual(a.cert.subjectRaw, cert.issuerRaw)) continue;
      if (a.cert.keyUsage !== undefined && (a.cert.keyUsage & KU.keyCertSign) === 0) continue;
      if (a.path.some((p) => bytesEqual(p.der, cert.der))) continue;
      if (certSignedBy(cert, a.key)) return a;
    }
    return undefined;
  }

  #lookup(certDer: Uint8Array): { sha256: string; entry: CertEntry | undefined } {
    const sha256 = sha256hex(certDer);
    const entry = this.#cache.get(sha256);
    if (entry) {
      // LRU: move to the back.
      this.#cache.delete(sha256);
      this.#cache.set(sha256, entry);
    }
    return { sha256, entry };
  }

  /** Full chain check of a signer certificate; returns undefined when not trusted. */
  #establish(cert: ParsedCertificate, sha256: string): CertEntry {
    if (cert.isCa) throw refuse('signer certificate is a CA');
    if (cert.hasUnknownCritical) throw refuse('unknown critical extension');
    if (cert.keyUsage !== undefined && (cert.keyUsage & KU.digitalSignature) === 0) throw refuse('key usage');
    const key = publicKeyOf(cert.spki);
    const keyKind = key ? keyKindOf(key) : undefined;
    if (!key || !keyKind) throw refuse('unsupported signer key');
    const anchor = this.#issuerOf(cert);
    if (!anchor) throw refuse('certificate not issued by a trust anchor');
    const entry: CertEntry = { cert: { ...cert, der: Uint8Array.from(cert.der) }, sha256, key, keyKind, anchor };
    if (this.#cache.size >= this.#cacheSize) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(sha256, entry);
    return entry;
  }

  #verify(der: Uint8Array, detachedContent: Uint8Array | undefined, maxBytes: number, now: Date): { content: Uint8Array; signer: VerifiedSigner } {
    if (!(der instanceof Uint8Array) || der.length === 0) throw badRequest(MALFORMED, 'empty');
    if (der.length > maxBytes) throw new RampartError('payload_too_large', 'signature too large');
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new RampartError('internal', 'invalid clock');
    try {
      return this.#verifyParsed(der, detachedContent, now);
    } catch (e) {
      if (isRampartError(e)) throw e;
      if (e instanceof DerError) throw badRequest(MALFORMED, e.message);
      // Anything else (a TypeError from a hostile structure, a crypto error) is
      // still the input's fault and must not leak as a 500 with a stack.
      throw badRequest(MALFORMED, 'unexpected structure');
    }
  }

  #verifyParsed(der: Uint8Array, detachedContent: Uint8Array | undefined, now: Date): { content: Uint8Array; signer: VerifiedSigner } {
    // ContentInfo
    const [ctype, wrapped] = expectKids(parse(der), TAG.SEQUENCE, 2, 2);
    if (oid(ctype) !== OID.signedData) throw refuse('not signed data');
    const [sd] = expectKids(wrapped, 0xa0, 1, 1);
    const sdKids = expectKids(sd, TAG.SEQUENCE, 4, 6);
    const version = smallInt(sdKids[0]);
    if (version < 1 || version > 5) throw new DerError('bad version');
    expect(sdKids[1], TAG.SET); // digestAlgorithms: informational, the SignerInfo's is what counts
    const encap = expectKids(sdKids[2], TAG.SEQUENCE, 1, 2);
    if (oid(encap[0]) !== OID.data) throw refuse('content type is not data');
    let signedContent: Uint8Array;
    if (detachedContent !== undefined) {
      if (encap.length !== 1) throw refuse('expected a detached signature');
      signedContent = detachedContent;
    } else {
      if (encap.length !== 2) throw refuse('expected encapsulated content');
      const [inner] = expectKids(encap[1], 0xa0, 1, 1);
      signedContent = octets(inner);
    }
    let idx = 3;
    let certs: Node[] = [];
    if (sdKids[idx]?.tag === 0xa0) certs = children(sdKids[idx++] as Node);
    if (sdKids[idx]?.tag === 0xa1) idx++; // CRLs: ignored
    const signerInfos = expectKids(sdKids[idx++], TAG.SET, 0, 64);
    if (idx !== sdKids.length) throw new DerError('unexpected element');
    if (signerInfos.length !== 1) throw refuse('exactly one signer required');
    if (certs.length > MAX_CERTIFICATES) throw refuse('too many certificates');

    // SignerInfo
    const si = expectKids(signerInfos[0], TAG.SEQUENCE, 5, 7);
    const siVersion = smallInt(si[0]);
    const sid = si[1] as Node;
    if (!((siVersion === 1 && sid.tag === TAG.SEQUENCE) || (siVersion === 3 && sid.tag === 0x80))) {
      throw new DerError('bad signer identifier');
    }
    const digestOid = oid(expectKids(si[2], TAG.SEQUENCE, 1, 2)[0]);
    let j = 3;
    let signedAttrs: Node | undefined;
    if (si[j]?.tag === 0xa0) signedAttrs = si[j++];
    const sigAlgOid = oid(expectKids(si[j++], TAG.SEQUENCE, 1, 2)[0]);
    const signatureValue = content(expect(si[j++], TAG.OCTET_STRING));
    if (si[j]?.tag === 0xa1) j++; // unsigned attributes: ignored
    if (j !== si.length) throw new DerError('unexpected element');

    const digest = DIGEST_OIDS[digestOid];
    if (!digest) throw refuse('unsupported digest algorithm');
    const sigAlg = SIGNATURE_OIDS[sigAlgOid];
    if (!sigAlg) throw refuse('unsupported signature algorithm');
    if (sigAlg.hash !== undefined && sigAlg.hash !== digest) throw refuse('digest and signature algorithm disagree');

    // Signer certificate: fast path through the cache, otherwise parse and check the chain.
    const entry = this.#findSigner(certs, sid);
    if (!validAt(entry.cert, now)) throw refuse('certificate not valid at this time');
    if (!entry.anchor.path.every((c) => validAt(c, now))) throw refuse('trust anchor not valid at this time');
    if (entry.keyKind !== sigAlg.key) throw refuse('key type does not match signature algorithm');

    let toVerify: Uint8Array;
    if (signedAttrs) {
      const md = checkSignedAttributes(signedAttrs);
      const actual = hash(digest, signedContent, 'buffer');
      if (md.length !== actual.length || !timingSafeEqual(md, actual)) throw refuse('message digest mismatch');
      // The signature covers the DER of the attributes with a SET tag.
      if (signedAttrs.indefinite || children(signedAttrs).some((k) => k.indefinite)) {
        toVerify = toDefinite(signedAttrs, TAG.SET);
      } else {
        toVerify = Uint8Array.from(raw(signedAttrs));
        toVerify[0] = TAG.SET;
      }
    } else {
      toVerify = signedContent;
    }
    let ok = false;
    try {
      ok = cryptoVerify(digest, toVerify, entry.key, signatureValue);
    } catch {
      ok = false;
    }
    if (!ok) throw refuse('signature does not verify');
    const c = entry.cert;
    return {
      content: detachedContent === undefined ? Uint8Array.from(signedContent) : signedContent,
      signer: {
        certDer: Uint8Array.from(c.der),
        certSha256: entry.sha256,
        subject: c.subject,
        serialHex: c.serialHex,
        notAfter: new Date(c.notAfter.getTime()),
      },
    };
  }

  #findSigner(certs: Node[], sid: Node): CertEntry {
    let matchesSid: (c: ParsedCertificate) => boolean;
    if (sid.tag === 0x80) {
      const ski = content(sid);
      matchesSid = (c) => c.subjectKeyId !== undefined && bytesEqual(c.subjectKeyId, ski);
    } else {
      const [issuer, serial] = expectKids(sid, TAG.SEQUENCE, 2, 2);
      const issuerRaw = raw(expect(issuer, TAG.SEQUENCE));
      const serialRaw = content(expect(serial, TAG.INTEGER));
      matchesSid = (c) => bytesEqual(c.issuerRaw, issuerRaw) && bytesEqual(c.serialRaw, serialRaw);
    }
    const misses: { der: Uint8Array; sha256: string }[] = [];
    for (const n of certs) {
      if (n.tag !== TAG.SEQUENCE) continue; // other CertificateChoices are never signers
      const certDer = raw(n);
      const { sha256, entry } = this.#lookup(certDer);
      if (entry) {
        if (matchesSid(entry.cert)) return entry;
      } else {
        misses.push({ der: certDer, sha256 });
      }
    }
    for (const m of misses) {
      let cert: ParsedCertificate;
      try {
        cert = parseCertificate(m.der);
      } catch (e) {
        if (e instanceof DerError) throw refuse('malformed certificate');
        throw e;
      }
      if (matchesSid(cert)) return this.#establish(cert, m.sha256);
    }
    throw refuse('signer certificate not present');
  }

  verifyDetached(signature: Uint8Array, content: Uint8Array, opts: { now: Date; maxSignatureBytes?: number }): VerifiedSigner {
    if (!(content instanceof Uint8Array)) throw badRequest(MALFORMED, 'content');
    return this.#verify(signature, content, opts.maxSignatureBytes ?? DEFAULT_MAX_SIGNATURE_BYTES, opts.now).signer;
  }

  verifyAttached(der: Uint8Array, opts: { now: Date; maxBytes?: number }): { content: Uint8Array; signer: VerifiedSigner } {
    return this.#verify(der, undefined, opts.maxBytes ?? DEFAULT_MAX_ATTACHED_BYTES, opts.now);
  }

  verifyCertificate(certDer: Uint8Array, opts: { now: Date }): VerifiedSigner {
    if (!(certDer instanceof Uint8Array) || certDer.length === 0 || certDer.length > DEFAULT_MAX_SIGNATURE_BYTES) {
      throw badRequest(MALFORMED, 'certificate size');
    }
    const { sha256, entry: cached } = this.#lookup(certDer);
    let entry = cached;
    if (!entry) {
      let cert: ParsedCertificate;
      try {
        cert = parseCertificate(certDer);
      } catch (e) {
        if (isRampartError(e)) throw e;
        throw refuse('malformed certificate');
      }
      entry = this.#establish(cert, sha256);
    }
    const c = entry.cert;
    if (!validAt(c, opts.now)) throw refuse('certificate not valid now');
    if (!entry.anchor.path.every((a) => validAt(a, opts.now))) throw refuse('trust anchor not valid now');
    return {
      certDer: Uint8Array.from(c.der),
      certSha256: entry.sha256,
      subject: c.subject,
      serialHex: c.serialHex,
      notAfter: new Date(c.notAfter.getTime()),
    };
  }
}

/** Checks the signed attributes and returns the messageDigest value. */
function checkSignedAttributes(attrs: Node): Uint8Array {
  const list = children(attrs);
  if (list.length === 0 || list.length > 32) throw refuse('bad signed attributes');
  const seen = new Set<string>();
  let md: Uint8Array | undefined;
  let contentTypeOk = false;
  for (const a of list) {
    const [typeN, valuesN] = expectKids(a, TAG.SEQUENCE, 2, 2);
    const type = oid(typeN);
    if (seen.has(type)) throw refuse('duplicate signed attribute');
    seen.add(type);
    if (type === OID.messageDigest) {
      const [v] = expectKids(valuesN, TAG.SET, 1, 1);
      md = content(expect(v, TAG.OCTET_STRING));
    } else if (type === OID.contentType) {
      const [v] = expectKids(valuesN, TAG.SET, 1, 1);
      contentTypeOk = oid(v) === OID.data;
    } else {
      expect(valuesN, TAG.SET);
    }
  }
  // RFC 5652 5.3: both are required whenever signed attributes are present.
  if (!contentTypeOk) throw refuse('content type attribute missing or wrong');
  if (!md) throw refuse('message digest attribute missing');
  return md;
}

/**
 * A verifier bound to a set of trust anchors, with its own certificate cache.
 * `intermediates`: CA certificates that chain to an anchor (an intermediate
 * enrollment CA under an external root); signers they issue are accepted.
 */
export function createCmsVerifier(opts: { trustAnchors: Uint8Array[]; intermediates?: Uint8Array[]; cacheSize?: number }): CmsVerifier {
  return new Verifier(opts.trustAnchors, Math.max(1, opts.cacheSize ?? DEFAULT_CACHE_SIZE), opts.intermediates ?? []);
}

// verifyDetachedSignature keeps one verifier per distinct anchor set, keyed by
// the anchors' hashes (so mutating the caller's array is harmless).
const verifiers = new Map<string, Verifier>();
const MAX_VERIFIERS = 8;

function verifierFor(trustAnchors: Uint8Array[]): Verifier {
  if (!Array.isArray(trustAnchors) || trustAnchors.length === 0 || trustAnchors.length > 64) {
    throw new RampartError('internal', 'no trust anchors');
  }
  const key = trustAnchors.map((a) => sha256hex(a)).join(',');
  let v = verifiers.get(key);
  if (!v) {
    v = new Verifier(trustAnchors, DEFAULT_CACHE_SIZE);
    if (verifiers.size >= MAX_VERIFIERS) {
      const oldest = verifiers.keys().next();
      if (!oldest.done) verifiers.delete(oldest.value);
    }
    verifiers.set(key, v);
  }
  return v;
}

/**
 * Verifies a detached CMS SignedData (the decoded `Mdm-Signature` header) over
 * `content` (the HTTP body). Throws RampartError: bad_request for malformed
 * DER, payload_too_large above `maxSignatureBytes`, unauthorized otherwise.
 */
export function verifyDetachedSignature(signature: Uint8Array, content: Uint8Array, opts: VerifyOptions): VerifiedSigner {
  return verifierFor(opts.trustAnchors).verifyDetached(signature, content, opts);
}

/** Verifies an attached CMS SignedData and returns its content and signer. */
export function parseSignedAttached(der: Uint8Array, trustAnchors: Uint8Array[], now: Date): { content: Uint8Array; signer: VerifiedSigner } {
  return verifierFor(trustAnchors).verifyAttached(der, { now });
}

const WHITESPACE_RE = /\s/;

/**
 * Decodes an `Mdm-Signature` header value (base64, whitespace tolerated as
 * Apple folds long headers) with a size bound checked before decoding.
 */
export function decodeSignatureHeader(value: string | undefined, maxSignatureBytes = DEFAULT_MAX_SIGNATURE_BYTES): Uint8Array {
  if (typeof value !== 'string' || value.length === 0) throw unauthorized('missing signature');
  if (value.length > Math.ceil((maxSignatureBytes * 4) / 3) + 4096) {
    throw new RampartError('payload_too_large', 'signature too large');
  }
  const compact = WHITESPACE_RE.test(value) ? value.replace(/[\s]+/g, '') : value;
  if (compact.length % 4 !== 0) throw badRequest(MALFORMED, 'base64');
  const out = Buffer.from(compact, 'base64');
  // Node's decoder skips characters outside the alphabet: only canonical
  // base64 encodes back to the same text (cheaper than a regular expression
  // over the whole header, which was ~2% of the gateway's CPU per request).
  if (out.length === 0 || out.toString('base64') !== compact) throw badRequest(MALFORMED, 'base64');
  if (out.length > maxSignatureBytes) throw new RampartError('payload_too_large', 'signature too large');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

