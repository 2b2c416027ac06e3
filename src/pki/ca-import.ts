// Checks for an enrollment CA that comes from outside: an existing CA
// (certificate + key) or an intermediate signed by an external root from a
// CSR made here. The certificate must be a CA allowed to sign certificates,
// valid now, its key must match, and every chain certificate must be a CA
// that signed the one below it (path length constraints included).
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from './x509.ts';
import { badRequest } from '../lib/errors.ts';
import { KU, parseCertificate, type ParsedCertificate } from '../protocol/cms/certificate.ts';
import { fromPem } from './pem.ts';
import { generateKey, signingAlgorithm, spkiDer, webCrypto, type KeyAlgorithm } from './crypto-keys.ts';

export const MAX_CHAIN = 4;
/** Common name and organization of a CA made here. */
export const CA_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,63}$';
const CA_NAME_RE = new RegExp(CA_NAME_PATTERN);

export type CheckedCa = { certDer: Uint8Array; chain: Uint8Array[]; publicSpki: Uint8Array };

function one(pem: string, what: string): Uint8Array {
  const certs = fromPem(pem, 'CERTIFICATE');
  if (certs.length !== 1) throw badRequest(`${what}: exactly one PEM certificate expected`);
  return certs[0]!;
}

function parsed(der: Uint8Array, what: string): ParsedCertificate {
  try {
    return parseCertificate(der);
  } catch {
    throw badRequest(`${what}: not a readable X.509 certificate`);
  }
}

function pathLength(der: Uint8Array): number | undefined {
  const bc = new x509.X509Certificate(Buffer.from(der)).getExtension(x509.BasicConstraintsExtension);
  return bc?.pathLength;
}

function checkCaCert(c: ParsedCertificate, what: string, now: Date): void {
  if (!c.isCa) throw badRequest(`${what}: not a CA certificate (basicConstraints cA)`);
  if (c.keyUsage === undefined || (c.keyUsage & KU.keyCertSign) === 0) throw badRequest(`${what}: key usage lacks keyCertSign`);
  if (c.hasUnknownCritical) throw badRequest(`${what}: unknown critical extension`);
  if (c.notAfter.getTime() <= now.getTime()) throw badRequest(`${what}: expired`);
  if (c.notBefore.getTime() > now.getTime() + 5 * 60_000) throw badRequest(`${what}: not valid yet`);
}

/** Private key from PEM (PKCS#8, PKCS#1 or SEC1, unencrypted). */
export function parsePrivateKeyPem(pem: string): KeyObject {
  if (typeof pem !== 'string' || pem.length > 64 * 1024 || !/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(pem)) {
    throw badRequest('invalid private key (unencrypted PEM expected)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw badRequest('invalid private key (unencrypted PEM expected)');
  }
  try {
    signingAlgorithm(key);
  } catch {
    throw badRequest('unsupported key type (RSA or ECDSA P-256/384/521)');
  }
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw badRequest('RSA key shorter than 2048 bits');
  return key;
}

/**
 * Checks a CA certificate and its chain (issuing CA first, then upwards;
 * the last may be a self-signed root). Does not check the key.
 */
export function checkCaWithChain(certPem: string, chainPem: string | undefined, now: Date): CheckedCa {
  const certDer = one(certPem, 'certificate');
  const cert = parsed(certDer, 'certificate');
  checkCaCert(cert, 'certificate', now);
  const chain = chainPem === undefined ? [] : fromPem(chainPem, 'CERTIFICATE');
  if (chainPem !== undefined && chain.length === 0) throw badRequest('chain: no PEM certificate');
  if (chain.length > MAX_CHAIN) throw badRequest('chain: too many certificates');
  const all = [certDer, ...chain];
  for (let i = 1; i < all.length; i++) {
    const what = `chain certificate ${i}`;
    const issuer = parsed(all[i]!, what);
    checkCaCert(issuer, what, now);
    const below = new X509Certificate(Buffer.from(all[i - 1]!));
    const above = new X509Certificate(Buffer.from(all[i]!));
    if (!below.checkIssued(above) || !below.verify(above.publicKey)) throw badRequest(`${what} did not sign the certificate below it`);
    // i - 1 CA certificates lie between this one and the issuing CA's end-entity certificates.
    const max = pathLength(all[i]!);
    if (max !== undefined && max < i) throw badRequest(`${what}: path length constraint too small`);
  }
  const top = new X509Certificate(Buffer.from(all[all.length - 1]!));
  if (chain.length > 0 && top.checkIssued(top) && !top.verify(top.publicKey)) throw badRequest('chain: root signature does not verify');
  return { certDer, chain, publicSpki: cert.spki };
}

export function keyMatches(spki: Uint8Array, key: KeyObject): boolean {
  return Buffer.from(spkiDer(key)).equals(Buffer.from(spki));
}

/** A new CA key and a PKCS#10 request for it (basicConstraints cA, keyCertSign + cRLSign requested). */
export async function createCaRequest(opts: { commonName: string; organization?: string; keyAlgorithm?: KeyAlgorithm }): Promise<{ csrDer: Uint8Array; privateKey: KeyObject }> {
  if (typeof opts.commonName !== 'string' || !CA_NAME_RE.test(opts.commonName)) throw badRequest('invalid common name');
  if (opts.organization !== undefined && !CA_NAME_RE.test(opts.organization)) throw badRequest('invalid organization');
  const { privateKey, publicKey } = await generateKey(opts.keyAlgorithm ?? 'rsa-3072');
  const alg = signingAlgorithm(privateKey);
  const params = alg.name === 'ECDSA' ? { name: 'ECDSA', namedCurve: alg.namedCurve } : { name: alg.name, hash: alg.hash };
  const name = opts.organization !== undefined ? `CN=${opts.commonName},O=${opts.organization}` : `CN=${opts.commonName}`;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys: {
      privateKey: privateKey.toCryptoKey(params, false, ['sign']) as CryptoKey,
      publicKey: publicKey.toCryptoKey(params, true, ['verify']) as CryptoKey,
    },
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  }, webCrypto);
  return { csrDer: new Uint8Array(csr.rawData), privateKey };
}
