// Test support (not a module of the server): a CA and RA made by our own PKI
// module, and SCEP requests built by independent implementations: the
// `openssl` command line (key, CSR with challengePassword, self-signed signer
// certificate, CMS EnvelopedData with PKCS#1 v1.5 key transport) and pkijs
// (the SignedData with SCEP's authenticated attributes, which the openssl
// command line cannot add).
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createCertificateAuthority, issueCertificate, type CaMaterial } from '../../pki/authority.ts';
import { toPem } from '../../pki/pem.ts';
import { SCEP_OID } from './oids.ts';

export type Pki = { ca: CaMaterial; ra: { certDer: Uint8Array; privateKey: KeyObject } };

export async function makePki(now = new Date()): Promise<Pki> {
  const ca = await createCertificateAuthority({ commonName: 'Test SCEP CA', validityDays: 30, now, keyAlgorithm: 'rsa-2048' });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certDer = await issueCertificate(ca, { subject: 'CN=Test SCEP RA', publicKey, validityDays: 30, now, profile: 'scep-ra' });
  return { ca, ra: { certDer, privateKey } };
}

export type OpensslRequest = { der: Uint8Array; keyPem: string; privateKey: KeyObject; signerCertDer: Uint8Array; transactionId: string; senderNonce: Uint8Array };

function pemToDer(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

/** A PKCSReq made by openssl (CSR, signer certificate, envelope) and pkijs (signature). */
export async function opensslPkcsReq(raCertDer: Uint8Array, opts: { challenge?: string; cipher?: string; messageType?: string; digest?: 'SHA-256' | 'SHA-1' } = {}): Promise<OpensslRequest> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-scep-'));
  try {
    const p = (n: string): string => join(dir, n);
    const run = (args: string[]): Buffer => execFileSync('openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    writeFileSync(p('req.cnf'), [
      '[req]', 'prompt = no', 'distinguished_name = dn', 'attributes = attrs',
      '[dn]', 'CN = openssl-device',
      '[attrs]', ...(opts.challenge !== undefined ? [`challengePassword = ${opts.challenge}`] : []), '',
    ].join('\n'));
    writeFileSync(p('ra.pem'), toPem('CERTIFICATE', raCertDer));
    run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'key.pem']);
    run(['req', '-new', '-key', 'key.pem', '-config', 'req.cnf', '-outform', 'DER', '-out', 'csr.der']);
    run(['req', '-x509', '-new', '-key', 'key.pem', '-subj', '/CN=openssl-device', '-days', '1', '-outform', 'DER', '-out', 'signer.der']);
    run(['cms', '-encrypt', '-binary', '-in', 'csr.der', '-outform', 'DER', '-out', 'env.der', `-${opts.cipher ?? 'aes256'}`,
      '-recip', 'ra.pem', '-keyopt', 'rsa_padding_mode:pkcs1']);
    const keyPem = readFileSync(p('key.pem'), 'utf8');
    const privateKey = createPrivateKey(keyPem);
    const signerCertDer = new Uint8Array(readFileSync(p('signer.der')));
    const env = new Uint8Array(readFileSync(p('env.der')));
    const transactionId = createHash('sha256').update(randomBytes(16)).digest('hex');
    const senderNonce = new Uint8Array(randomBytes(16));
    const der = await pkijsSign(env, signerCertDer, keyPem, {
      messageType: opts.messageType ?? '19', transactionId, senderNonce, digest: opts.digest ?? 'SHA-256',
    });
    return { der, keyPem, privateKey, signerCertDer, transactionId, senderNonce };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pkijsSign(content: Uint8Array, certDer: Uint8Array, keyPem: string, a: { messageType: string; transactionId: string; senderNonce: Uint8Array; digest: 'SHA-256' | 'SHA-1' }): Promise<Uint8Array> {
  const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto });
  pkijs.setEngine('node', engine);
  const cert = pkijs.Certificate.fromBER(certDer.slice().buffer);
  const key = await webcrypto.subtle.importKey('pkcs8', pemToDer(keyPem).slice().buffer, { name: 'RSASSA-PKCS1-v1_5', hash: a.digest }, false, ['sign']);
  const md = createHash(a.digest === 'SHA-1' ? 'sha1' : 'sha256').update(content).digest();
  const printable = (s: string): asn1js.PrintableString => new asn1js.PrintableString({ value: s });
  const attrs = [
    new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' })] }),
    new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: md })] }),
    new pkijs.Attribute({ type: SCEP_OID.messageType, values: [printable(a.messageType)] }),
    new pkijs.Attribute({ type: SCEP_OID.transactionId, values: [printable(a.transactionId)] }),
    new pkijs.Attribute({ type: SCEP_OID.senderNonce, values: [new asn1js.OctetString({ valueHex: a.senderNonce.slice().buffer })] }),
  ];
  const sd = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: '1.2.840.113549.1.7.1',
      eContent: new asn1js.OctetString({ valueHex: content.slice().buffer }),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: attrs }),
      }),
    ],
    certificates: [cert],
  });
  await sd.sign(key as unknown as CryptoKey, 0, a.digest, undefined, engine);
  const ci = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) });
  return new Uint8Array(ci.toSchema().toBER(false));
}

/** Runs openssl with files in a temporary directory; returns stdout. */
export function openssl(args: string[], files: Record<string, Uint8Array | string>): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-scep-'));
  try {
    for (const [n, d] of Object.entries(files)) writeFileSync(join(dir, n), d);
    return execFileSync('openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
