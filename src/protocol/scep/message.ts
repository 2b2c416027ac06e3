// SCEP pkiMessage (RFC 8894 section 3): the signed request a client sends in
// a PKIOperation and the CertRep the server answers with. Parsing here is for
// the core (which holds the RA key); building requests and reading CertReps
// is for the simulator and tests. Pure: node:crypto only, no I/O.
import { createPublicKey, hash, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { DIGEST_OIDS, DIGEST_OID_BY_NAME, OID, SIGNATURE_OIDS, type HashName } from '../cms/algorithms.ts';
import { parseCertificate, type ParsedCertificate } from '../cms/certificate.ts';
import {
  DerError, TAG, bytesEqual, children, content, derNull, encodeOid, encodeSmallInt, encodeTime, expect, expectKids,
  explicit, octetString, octets, oid, parse, raw, seq, setOf, smallInt, tlv, toDefinite,
} from '../cms/der.ts';
import type { Node } from '../cms/der.ts';
import { decryptEnvelope, encryptEnvelope, type Recipient } from './envelope.ts';
import {
  FAIL_INFO, MAX_PKI_MESSAGE_BYTES, MESSAGE_TYPE, PKI_STATUS, SCEP_OID, ScepFailure, ScepMalformed,
  type CipherName, type FailInfo, type PkiStatus,
} from './oids.ts';

/** What identifies a request well enough to answer it with a CertRep. */
export type ScepHeader = {
  messageType: number;
  transactionId: string;
  senderNonce: Uint8Array;
  /** The certificate that signed the request (self-signed for PKCSReq, the current identity for RenewalReq). */
  signerCertDer: Uint8Array;
};

export type PkiMessage = ScepHeader & {
  signerCert: ParsedCertificate;
  /** The signed content: a ContentInfo(EnvelopedData), still encrypted. */
  envelope: Uint8Array;
  digest: HashName;
};

/** A request we could read the header of but must refuse: answered with CertRep FAILURE. */
export class ScepRequestFailure extends ScepFailure {
  readonly header: ScepHeader;
  constructor(failInfo: FailInfo, detail: string, header: ScepHeader) {
    super(failInfo, detail);
    this.name = 'ScepRequestFailure';
    this.header = header;
  }
}

const MAX_CERTS = 8;
const TRANSACTION_ID_RE = /^[\x20-\x7e]{1,128}$/;
const ACCEPTED_DIGESTS: ReadonlySet<HashName> = new Set(['sha256', 'sha384', 'sha512']);

type SignedParts = {
  content: Uint8Array | undefined;
  certs: Uint8Array[];
  signerCert: ParsedCertificate;
  digest: HashName | undefined;
  attrs: Map<string, Node>;
  /** Checks messageDigest and the signature; returns a failure reason or undefined. */
  check(): string | undefined;
};

function printable(n: Node | undefined): string {
  if (!n || (n.tag !== TAG.PrintableString && n.tag !== TAG.UTF8String && n.tag !== TAG.IA5String)) throw new DerError('bad string');
  const c = content(n);
  if (c.length > 256 || c.some((b) => b < 0x20 || b > 0x7e)) throw new DerError('bad string');
  return String.fromCharCode(...c);
}

function findSigner(certs: Node[], sid: Node, siVersion: number): ParsedCertificate {
  for (const c of certs) {
    const pc = parseCertificate(Uint8Array.from(raw(c)));
    if (siVersion === 1 && sid.tag === TAG.SEQUENCE) {
      const [iss, ser] = expectKids(sid, TAG.SEQUENCE, 2, 2);
      if (bytesEqual(raw(iss as Node), pc.issuerRaw) && bytesEqual(content(expect(ser, TAG.INTEGER)), pc.serialRaw)) return pc;
    } else if (siVersion === 3 && sid.tag === 0x80) {
      if (pc.subjectKeyId && bytesEqual(content(sid), pc.subjectKeyId)) return pc;
    } else {
      throw new DerError('bad signer identifier');
    }
  }
  throw new DerError('signer certificate missing');
}

function parseSigned(der: Uint8Array): SignedParts {
  const [ct, wrapped] = expectKids(parse(der), TAG.SEQUENCE, 2, 2);
  if (oid(ct) !== OID.signedData) throw new DerError('not signed data');
  const [sd] = expectKids(wrapped, 0xa0, 1, 1);
  const k = expectKids(sd, TAG.SEQUENCE, 4, 6);
  const version = smallInt(k[0]);
  if (version < 1 || version > 5) throw new DerError('bad version');
  expect(k[1], TAG.SET);
  const encap = expectKids(k[2], TAG.SEQUENCE, 1, 2);
  if (oid(encap[0]) !== OID.data) throw new DerError('content is not data');
  const signedContent = encap[1] ? octets(expectKids(encap[1], 0xa0, 1, 1)[0]) : undefined;
  let i = 3;
  let certNodes: Node[] = [];
  if (k[i]?.tag === 0xa0) certNodes = children(k[i++] as Node);
  if (k[i]?.tag === 0xa1) i++;
  const sis = expectKids(k[i++], TAG.SET, 1, 1);
  if (i !== k.length) throw new DerError('unexpected element');
  if (certNodes.length === 0 || certNodes.length > MAX_CERTS) throw new DerError('certificate count');
  const si = expectKids(sis[0], TAG.SEQUENCE, 6, 7);
  const siVersion = smallInt(si[0]);
  const signerCert = findSigner(certNodes, si[1] as Node, siVersion);
  const digest = DIGEST_OIDS[oid(expectKids(si[2], TAG.SEQUENCE, 1, 2)[0])];
  const signedAttrs = expect(si[3], 0xa0);
  const sigAlg = SIGNATURE_OIDS[oid(expectKids(si[4], TAG.SEQUENCE, 1, 2)[0])];
  const signature = content(expect(si[5], TAG.OCTET_STRING));
  if (si[6] !== undefined) expect(si[6], 0xa1);
  const attrs = new Map<string, Node>();
  const list = children(signedAttrs);
  if (list.length === 0 || list.length > 32) throw new DerError('bad attributes');
  for (const a of list) {
    const [t, vals] = expectKids(a, TAG.SEQUENCE, 2, 2);
    const type = oid(t);
    if (attrs.has(type)) throw new DerError('duplicate attribute');
    const [v] = expectKids(vals, TAG.SET, 1, 1);
    attrs.set(type, v as Node);
  }
  return {
    content: signedContent,
    certs: certNodes.map((c) => Uint8Array.from(raw(c))),
    signerCert,
    digest,
    attrs,
    check(): string | undefined {
      if (!digest || !sigAlg) return 'algorithm';
      if (sigAlg.hash !== undefined && sigAlg.hash !== digest) return 'algorithm';
      const ctype = attrs.get(OID.contentType);
      if (!ctype || oid(ctype) !== OID.data) return 'content type';
      const md = attrs.get(OID.messageDigest);
      if (!md) return 'message digest';
      const want = content(expect(md, TAG.OCTET_STRING));
      const got = hash(digest, signedContent ?? new Uint8Array(0), 'buffer');
      if (want.length !== got.length || !timingSafeEqual(want, got)) return 'message digest';
      let key: KeyObject;
      try {
        key = createPublicKey({ key: Buffer.from(signerCert.spki), format: 'der', type: 'spki' });
      } catch {
        return 'signer key';
      }
      if (key.asymmetricKeyType !== sigAlg.key) return 'signer key';
      const toVerify = toDefinite(signedAttrs, TAG.SET);
      try {
        return cryptoVerify(digest, toVerify, key, signature) ? undefined : 'signature';
      } catch {
        return 'signature';
      }
    },
  };
}

/**
 * Parses a PKIOperation body and verifies its signature with the signer
 * certificate it carries. Throws ScepMalformed when it is not a readable
 * pkiMessage at all, ScepRequestFailure (with the header) when the request
 * can be answered with a CertRep FAILURE.
 */
export function parsePkiMessage(der: Uint8Array): PkiMessage {
  if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_PKI_MESSAGE_BYTES) throw new ScepMalformed('size');
  let parts: SignedParts;
  let header: ScepHeader;
  try {
    parts = parseSigned(der);
    const mt = parts.attrs.get(SCEP_OID.messageType);
    const tid = parts.attrs.get(SCEP_OID.transactionId);
    const nonce = parts.attrs.get(SCEP_OID.senderNonce);
    if (!mt || !tid || !nonce) throw new DerError('missing SCEP attribute');
    const mtText = printable(mt);
    if (!/^[0-9]{1,3}$/.test(mtText)) throw new DerError('bad message type');
    const transactionId = printable(tid);
    if (!TRANSACTION_ID_RE.test(transactionId)) throw new DerError('bad transaction id');
    const senderNonce = Uint8Array.from(content(expect(nonce, TAG.OCTET_STRING)));
    if (senderNonce.length < 8 || senderNonce.length > 64) throw new DerError('bad nonce');
    header = { messageType: Number(mtText), transactionId, senderNonce, signerCertDer: Uint8Array.from(parts.signerCert.der) };
  } catch (e) {
    if (e instanceof ScepFailure) throw e;
    throw new ScepMalformed(e instanceof DerError ? e.message : 'structure');
  }
  const reason = parts.check();
  if (reason === 'algorithm') throw new ScepRequestFailure('badAlg', reason, header);
  if (reason !== undefined) throw new ScepRequestFailure('badMessageCheck', reason, header);
  if (!parts.digest || !ACCEPTED_DIGESTS.has(parts.digest)) throw new ScepRequestFailure('badAlg', 'digest', header);
  if (parts.content === undefined || parts.content.length === 0) throw new ScepRequestFailure('badRequest', 'no content', header);
  return { ...header, signerCert: parts.signerCert, envelope: Uint8Array.from(parts.content), digest: parts.digest };
}

/** Decrypts the request's envelope with the RA key(s); ScepRequestFailure on any problem. */
export function openPkiEnvelope(msg: PkiMessage, recipients: readonly Recipient[]): { content: Uint8Array; cipher: CipherName } {
  try {
    return decryptEnvelope(msg.envelope, recipients);
  } catch (e) {
    if (e instanceof ScepFailure) throw new ScepRequestFailure(e.failInfo, e.message, msg);
    throw new ScepRequestFailure('badRequest', 'envelope structure', msg);
  }
}

// ---- signing with SCEP attributes ------------------------------------------

type Signer = { certDer: Uint8Array; privateKey: KeyObject };

function printableString(s: string): Uint8Array {
  return tlv(TAG.PrintableString, new TextEncoder().encode(s));
}

function attr(type: string, value: Uint8Array): Uint8Array {
  return seq(encodeOid(type), setOf([value]));
}

function signWith(content: Uint8Array | undefined, signer: Signer, scepAttrs: Uint8Array[], now: Date, extraCerts: Uint8Array[] = []): Uint8Array {
  const cert = parseCertificate(signer.certDer);
  const digestAlg = seq(encodeOid(DIGEST_OID_BY_NAME.sha256), derNull());
  const md = hash('sha256', content ?? new Uint8Array(0), 'buffer');
  const attrsSet = setOf([
    attr(OID.contentType, encodeOid(OID.data)),
    attr(OID.signingTime, encodeTime(now)),
    attr(OID.messageDigest, octetString(md)),
    ...scepAttrs,
  ]);
  let sigAlg: Uint8Array;
  if (signer.privateKey.asymmetricKeyType === 'rsa') sigAlg = seq(encodeOid(OID.rsaEncryption), derNull());
  else throw new DerError('SCEP signer must be RSA');
  const signature = cryptoSign('sha256', attrsSet, signer.privateKey);
  const signedAttrs = Uint8Array.from(attrsSet);
  signedAttrs[0] = 0xa0;
  const signerInfo = seq(
    encodeSmallInt(1),
    seq(cert.issuerRaw, tlv(TAG.INTEGER, cert.serialRaw)),
    digestAlg,
    signedAttrs,
    sigAlg,
    octetString(signature),
  );
  const encap = content === undefined ? seq(encodeOid(OID.data)) : seq(encodeOid(OID.data), explicit(0, octetString(content)));
  const sd = seq(
    encodeSmallInt(1),
    setOf([digestAlg]),
    encap,
    tlv(0xa0, Buffer.concat([signer.certDer, ...extraCerts])),
    setOf([signerInfo]),
  );
  return seq(encodeOid(OID.signedData), explicit(0, sd));
}

/** A "degenerate" certificates-only SignedData (RFC 8894 section 3.4), as GetCACert and CertRep carry. */
export function degenerateCertificates(certs: readonly Uint8Array[]): Uint8Array {
  const sd = seq(encodeSmallInt(1), tlv(TAG.SET, new Uint8Array(0)), seq(encodeOid(OID.data)), tlv(0xa0, Buffer.concat(certs.map((c) => Buffer.from(c)))), tlv(TAG.SET, new Uint8Array(0)));
  return seq(encodeOid(OID.signedData), explicit(0, sd));
}

/** The certificates of a degenerate SignedData. */
export function parseDegenerateCertificates(der: Uint8Array): Uint8Array[] {
  const [ct, wrapped] = expectKids(parse(der), TAG.SEQUENCE, 2, 2);
  if (oid(ct) !== OID.signedData) throw new DerError('not signed data');
  const [sd] = expectKids(wrapped, 0xa0, 1, 1);
  const k = expectKids(sd, TAG.SEQUENCE, 4, 6);
  const certsN = k.find((n) => n.tag === 0xa0);
  if (!certsN) throw new DerError('no certificates');
  const out = children(certsN).map((c) => Uint8Array.from(raw(c)));
  if (out.length === 0 || out.length > MAX_CERTS) throw new DerError('certificate count');
  for (const c of out) parseCertificate(c);
  return out;
}

export type CertRepInput = {
  /** The RA (or CA) certificate and key that sign the reply. */
  signer: Signer;
  /** Further certificates to include next to the signer's (e.g. the CA). */
  chain?: Uint8Array[];
  request: Pick<ScepHeader, 'transactionId' | 'senderNonce' | 'signerCertDer'>;
  /** A fresh nonce for this reply. */
  senderNonce: Uint8Array;
  now: Date;
  random: (n: number) => Uint8Array;
} & (
  | { status: 'SUCCESS'; certificates: Uint8Array[]; cipher: CipherName }
  | { status: 'FAILURE'; failInfo: FailInfo }
  | { status: 'PENDING' }
);

/** Builds a CertRep; SUCCESS encrypts the issued certificate(s) to the requester's signer certificate. */
export function buildCertRep(input: CertRepInput): Uint8Array {
  const attrs = [
    attr(SCEP_OID.messageType, printableString(String(MESSAGE_TYPE.CertRep))),
    attr(SCEP_OID.pkiStatus, printableString(String(PKI_STATUS[input.status]))),
    attr(SCEP_OID.transactionId, printableString(input.request.transactionId)),
    attr(SCEP_OID.senderNonce, octetString(input.senderNonce)),
    attr(SCEP_OID.recipientNonce, octetString(input.request.senderNonce)),
  ];
  let body: Uint8Array | undefined;
  if (input.status === 'FAILURE') attrs.push(attr(SCEP_OID.failInfo, printableString(String(FAIL_INFO[input.failInfo]))));
  if (input.status === 'SUCCESS') {
    body = encryptEnvelope(degenerateCertificates(input.certificates), input.request.signerCertDer, input.cipher, input.random);
  }
  return signWith(body, input.signer, attrs, input.now, input.chain ?? []);
}

// ---- client side (simulator, tests) ----------------------------------------

export type PkiRequestInput = {
  messageType: 'PKCSReq' | 'RenewalReq';
  transactionId: string;
  senderNonce: Uint8Array;
  /** Self-signed certificate (PKCSReq) or the current identity (RenewalReq), and its key. */
  signer: Signer;
  /** The RA certificate the CSR is encrypted to. */
  recipientCertDer: Uint8Array;
  csrDer: Uint8Array;
  cipher: CipherName;
  now: Date;
  random: (n: number) => Uint8Array;
};

export function buildPkiMessage(input: PkiRequestInput): Uint8Array {
  const envelope = encryptEnvelope(input.csrDer, input.recipientCertDer, input.cipher, input.random);
  const attrs = [
    attr(SCEP_OID.messageType, printableString(String(MESSAGE_TYPE[input.messageType]))),
    attr(SCEP_OID.transactionId, printableString(input.transactionId)),
    attr(SCEP_OID.senderNonce, octetString(input.senderNonce)),
  ];
  return signWith(envelope, input.signer, attrs, input.now);
}

export type CertRep = {
  status: PkiStatus;
  failInfo: FailInfo | undefined;
  transactionId: string;
  recipientNonce: Uint8Array;
  certificates: Uint8Array[];
};

/**
 * Reads a CertRep as a client: the signature must verify with a certificate
 * in the reply that is one of `trustedSigners` (the RA/CA from GetCACert).
 */
export function parseCertRep(der: Uint8Array, opts: { trustedSigners: Uint8Array[]; requester: Recipient }): CertRep {
  const parts = parseSigned(der);
  if (!opts.trustedSigners.some((t) => bytesEqual(t, parts.signerCert.der))) throw new DerError('reply not signed by the RA');
  const reason = parts.check();
  if (reason) throw new DerError(`reply ${reason}`);
  const s = (o: string): string => {
    const n = parts.attrs.get(o);
    if (!n) throw new DerError('missing attribute');
    return printable(n);
  };
  if (s(SCEP_OID.messageType) !== String(MESSAGE_TYPE.CertRep)) throw new DerError('not a CertRep');
  const statusCode = Number(s(SCEP_OID.pkiStatus));
  const status = (Object.keys(PKI_STATUS) as PkiStatus[]).find((k) => PKI_STATUS[k] === statusCode);
  if (!status) throw new DerError('bad status');
  let failInfo: FailInfo | undefined;
  if (status === 'FAILURE') {
    const code = Number(s(SCEP_OID.failInfo));
    failInfo = (Object.keys(FAIL_INFO) as FailInfo[]).find((k) => FAIL_INFO[k] === code);
  }
  const rn = parts.attrs.get(SCEP_OID.recipientNonce);
  const recipientNonce = rn ? Uint8Array.from(content(expect(rn, TAG.OCTET_STRING))) : new Uint8Array(0);
  let certificates: Uint8Array[] = [];
  if (status === 'SUCCESS') {
    if (!parts.content) throw new DerError('no content');
    certificates = parseDegenerateCertificates(decryptEnvelope(parts.content, [opts.requester]).content);
  }
  return { status, failInfo, transactionId: s(SCEP_OID.transactionId), recipientNonce, certificates };
}
