// Enrollment exactly as an Apple device does it: download the profile from an
// invitation URL, check its CMS signature, read the SCEP and MDM payloads,
// ask the SCEP server for its capabilities and RA/CA certificates, send a
// PKCSReq with the profile's one-time challenge (CSR encrypted to the RA,
// signed with a self-signed certificate over the new key), and read the
// identity out of the CertRep. Also identity renewal (RenewalReq signed with
// the current identity).
import https from 'node:https';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { parseCertificate, KU } from '../protocol/cms/certificate.ts';
import { createCmsVerifier } from '../protocol/cms/verify.ts';
import { isPlistDict, parsePlistDict, type PlistDict } from '../protocol/plist/index.ts';
import {
  buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, parseCertRep, parseDegenerateCertificates, type CipherName,
} from '../protocol/scep/index.ts';
import type { SimIdentity } from './device.ts';

export type HttpResult = { status: number; contentType: string; body: Uint8Array };

export function httpsRequest(url: string, opts: { method: 'GET' | 'POST'; body?: Uint8Array; contentType?: string; tlsCa: string | undefined; agent?: https.Agent }): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (opts.body) {
    headers['Content-Type'] = opts.contentType ?? 'application/octet-stream';
    headers['Content-Length'] = String(opts.body.length);
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method, headers, ...(opts.agent ? { agent: opts.agent } : { ca: opts.tlsCa }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export type EnrollmentProfile = {
  scep: { url: string; challenge: string; subjectCn: string; keySize: number };
  mdm: { serverUrl: string; checkInUrl: string; topic: string; signMessage: boolean; accessRights: number };
  caCertDer: Uint8Array | undefined;
  /** Intermediate CA certificates the profile installs (com.apple.security.pkcs1). */
  intermediateCertsDer: Uint8Array[];
  /** Subject of the certificate that signed the profile. */
  signer: string;
};

export class EnrollmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollmentError';
  }
}

function str(d: PlistDict, k: string): string {
  const v = d[k];
  if (typeof v !== 'string') throw new EnrollmentError(`profile: ${k} missing`);
  return v;
}

/**
 * Verifies a signed .mobileconfig and reads it. The signer must chain to
 * `trustedCaDer` when given; otherwise to the CA certificate the profile
 * itself carries (what a person accepts when installing an unverified profile).
 */
export function readSignedProfile(der: Uint8Array, opts: { trustedCaDer?: Uint8Array; now?: Date } = {}): EnrollmentProfile {
  const now = opts.now ?? new Date();
  const cas = parseDegenerateCertificates(der).filter((c) => parseCertificate(c).isCa);
  // Roots (self-signed) are anchors; other CA certificates (an intermediate) must chain to one.
  const roots = cas.filter(selfIssued);
  let anchors: Uint8Array[];
  if (opts.trustedCaDer) anchors = [opts.trustedCaDer];
  else {
    anchors = roots.length > 0 ? roots : cas;
    if (anchors.length === 0) throw new EnrollmentError('profile: no CA certificate to check the signature with');
  }
  const intermediates = cas.filter((c) => !anchors.some((a) => Buffer.from(a).equals(Buffer.from(c))));
  const { content, signer } = createCmsVerifier({ trustAnchors: anchors, intermediates }).verifyAttached(der, { now });
  const root = parsePlistDict(content);
  if (root.PayloadType !== 'Configuration' || !Array.isArray(root.PayloadContent)) throw new EnrollmentError('profile: not a configuration profile');
  const payloads = root.PayloadContent.filter(isPlistDict);
  const scepP = payloads.find((p) => p.PayloadType === 'com.apple.security.scep');
  const mdmP = payloads.find((p) => p.PayloadType === 'com.apple.mdm');
  const caP = payloads.find((p) => p.PayloadType === 'com.apple.security.root');
  const intermediateCertsDer = payloads
    .filter((p) => p.PayloadType === 'com.apple.security.pkcs1' && p.PayloadContent instanceof Uint8Array)
    .map((p) => p.PayloadContent as Uint8Array);
  if (!scepP || !mdmP || !isPlistDict(scepP.PayloadContent)) throw new EnrollmentError('profile: SCEP or MDM payload missing');
  if (mdmP.IdentityCertificateUUID !== scepP.PayloadUUID) throw new EnrollmentError('profile: MDM identity is not the SCEP payload');
  const sc = scepP.PayloadContent;
  const subject = sc.Subject;
  let cn = 'device';
  if (Array.isArray(subject)) {
    for (const rdn of subject) {
      if (Array.isArray(rdn) && Array.isArray(rdn[0]) && rdn[0][0] === 'CN' && typeof rdn[0][1] === 'string') cn = rdn[0][1];
    }
  }
  const caCertDer = caP && caP.PayloadContent instanceof Uint8Array ? caP.PayloadContent : undefined;
  if (!opts.trustedCaDer && caCertDer && !anchors.some((a) => Buffer.from(a).equals(Buffer.from(caCertDer)))) {
    throw new EnrollmentError('profile: signed under a CA other than the one it installs');
  }
  return {
    scep: { url: str(sc, 'URL'), challenge: str(sc, 'Challenge'), subjectCn: cn, keySize: typeof sc.Keysize === 'number' ? sc.Keysize : 2048 },
    mdm: {
      serverUrl: str(mdmP, 'ServerURL'),
      checkInUrl: str(mdmP, 'CheckInURL'),
      topic: str(mdmP, 'Topic'),
      signMessage: mdmP.SignMessage === true,
      accessRights: typeof mdmP.AccessRights === 'number' ? mdmP.AccessRights : 0,
    },
    caCertDer,
    intermediateCertsDer,
    signer: signer.subject,
  };
}

export type ScepServerInfo = { caps: string[]; raCertDer: Uint8Array; caCertDer: Uint8Array };

export async function scepServerInfo(scepUrl: string, http: { tlsCa: string | undefined; agent?: https.Agent }): Promise<ScepServerInfo> {
  const caps = await httpsRequest(`${scepUrl}?operation=GetCACaps`, { method: 'GET', ...http });
  if (caps.status !== 200) throw new EnrollmentError(`GetCACaps answered ${caps.status}`);
  const cert = await httpsRequest(`${scepUrl}?operation=GetCACert`, { method: 'GET', ...http });
  if (cert.status !== 200 || cert.contentType !== 'application/x-x509-ca-ra-cert') throw new EnrollmentError(`GetCACert answered ${cert.status}`);
  const certs = parseDegenerateCertificates(cert.body);
  const parsed = certs.map((c) => ({ der: c, p: parseCertificate(c) }));
  const ra = parsed.find((c) => !c.p.isCa && c.p.keyUsage !== undefined && (c.p.keyUsage & KU.keyEncipherment) !== 0);
  const ca = ra && parsed.find((c) => c.p.isCa && Buffer.from(c.p.subjectRaw).equals(Buffer.from(ra.p.issuerRaw)));
  if (!ca || !ra) throw new EnrollmentError('GetCACert: no RA/CA pair');
  // The RA must be issued by the CA, and the CA chain to a root in the answer (an intermediate CA).
  const cas = parsed.filter((c) => c.p.isCa).map((c) => c.der);
  const roots = cas.filter(selfIssued);
  createCmsVerifier({ trustAnchors: roots.length > 0 ? roots : [ca.der], intermediates: cas.filter((c) => !selfIssued(c)) }).verifyCertificate(ra.der, { now: new Date() });
  return { caps: new TextDecoder().decode(caps.body).split(/\r?\n/).filter(Boolean), raCertDer: ra.der, caCertDer: ca.der };
}

async function scepRequest(
  scepUrl: string,
  info: ScepServerInfo,
  r: { type: 'PKCSReq' | 'RenewalReq'; newKey: KeyObject; subjectCn: string; challenge?: string; signer?: SimIdentity; transactionId?: string },
  http: { tlsCa: string | undefined; agent?: https.Agent },
): Promise<{ certDer: Uint8Array; transactionId: string }> {
  const name = encodeName(r.subjectCn);
  const csrDer = buildCsr({ privateKey: r.newKey, name, ...(r.challenge !== undefined ? { challengePassword: r.challenge } : {}) });
  const now = new Date();
  const signer = r.signer ?? {
    certDer: buildSelfSignedCert({ privateKey: r.newKey, name, serial: new Uint8Array(randomBytes(16)), notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 3_600_000) }),
    privateKey: r.newKey,
  };
  const cipher: CipherName = info.caps.includes('AES') || info.caps.includes('SCEPStandard') ? 'aes-256-cbc' : 'des-ede3-cbc';
  const transactionId = r.transactionId ?? randomBytes(20).toString('hex');
  const body = buildPkiMessage({
    messageType: r.type, transactionId, senderNonce: new Uint8Array(randomBytes(16)), signer, recipientCertDer: info.raCertDer,
    csrDer, cipher, now, random: (n) => new Uint8Array(randomBytes(n)),
  });
  const res = await httpsRequest(`${scepUrl}?operation=PKIOperation`, { method: 'POST', body, contentType: 'application/x-pki-message', ...http });
  if (res.status !== 200) throw new EnrollmentError(`PKIOperation answered ${res.status}`);
  const rep = parseCertRep(res.body, { trustedSigners: [info.raCertDer], requester: signer });
  if (rep.transactionId !== transactionId) throw new EnrollmentError('CertRep for another transaction');
  if (rep.status !== 'SUCCESS') throw new EnrollmentError(`SCEP ${rep.status}${rep.failInfo ? ` (${rep.failInfo})` : ''}`);
  const mine = rep.certificates.find((c) => Buffer.from(parseCertificate(c).spki).equals(Buffer.from(spkiOf(r.newKey))));
  if (!mine) throw new EnrollmentError('CertRep without a certificate for the new key');
  return { certDer: mine, transactionId };
}

function selfIssued(der: Uint8Array): boolean {
  const c = parseCertificate(der);
  return Buffer.from(c.subjectRaw).equals(Buffer.from(c.issuerRaw));
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
}

export type EnrolledDevice = { identity: SimIdentity; profile: EnrollmentProfile; scep: ScepServerInfo; transactionId: string };

/** The whole device-side enrollment from an invitation URL. */
export async function enrollFromInvitation(invitationUrl: string, opts: { tlsCa: string | undefined; trustedCaDer?: Uint8Array; agent?: https.Agent }): Promise<EnrolledDevice> {
  const http = { tlsCa: opts.tlsCa, ...(opts.agent ? { agent: opts.agent } : {}) };
  const res = await httpsRequest(invitationUrl, { method: 'GET', ...http });
  if (res.status !== 200) throw new EnrollmentError(`profile download answered ${res.status}`);
  if (res.contentType !== 'application/x-apple-aspen-config') throw new EnrollmentError('profile: wrong content type');
  const profile = readSignedProfile(res.body, opts.trustedCaDer ? { trustedCaDer: opts.trustedCaDer } : {});
  const info = await scepServerInfo(profile.scep.url, http);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: profile.scep.keySize === 4096 ? 4096 : 2048 });
  const { certDer, transactionId } = await scepRequest(profile.scep.url, info, { type: 'PKCSReq', newKey: privateKey, subjectCn: profile.scep.subjectCn, challenge: profile.scep.challenge }, http);
  return { identity: { certDer, privateKey }, profile, scep: info, transactionId };
}

/** RenewalReq: a new key, signed with the current identity. */
export async function renewIdentity(scepUrl: string, current: SimIdentity, opts: { tlsCa: string | undefined; agent?: https.Agent }): Promise<SimIdentity> {
  const http = { tlsCa: opts.tlsCa, ...(opts.agent ? { agent: opts.agent } : {}) };
  const info = await scepServerInfo(scepUrl, http);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cn = /CN=([^,]+)/.exec(parseCertificate(current.certDer).subject)?.[1] ?? 'device';
  const { certDer } = await scepRequest(scepUrl, info, { type: 'RenewalReq', newKey: privateKey, subjectCn: cn, signer: current }, http);
  return { certDer, privateKey };
}
