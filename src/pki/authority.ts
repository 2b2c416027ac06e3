// The certificate authority: a self-signed CA and the certificates it issues
// (device identities through SCEP, TLS servers, the SCEP RA).

import { isIP } from 'node:net';
import type { KeyObject } from 'node:crypto';
import * as x509 from './x509.ts';
import { badRequest } from '../lib/errors.ts';
import { parseCertificate } from '../protocol/cms/certificate.ts';
import {
  generateKey, randomSerialHex, signingAlgorithm, spkiDer, toSigningCryptoKey, webCrypto,
} from './crypto-keys.ts';
import type { KeyAlgorithm } from './crypto-keys.ts';

export type CaMaterial = { certDer: Uint8Array; privateKey: KeyObject };

export type CertificateProfile = 'device-identity' | 'tls-server' | 'scep-ra';

export type IssueRequest = {
  /** e.g. "CN=...,O=..." (RFC 4514 string, encoded in the order written). */
  subject: string;
  publicKey: KeyObject | Uint8Array;
  validityDays: number;
  now: Date;
  /** Positive serial; default 16 random bytes. */
  serial?: Uint8Array;
  profile: CertificateProfile;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** device-identity: CRL distribution point URLs (http or https). */
  crlDistributionPoints?: string[];
};

/** Certificates start slightly in the past so a device with a late clock accepts them. */
export const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_VALIDITY_DAYS = 36_500;
const HOSTNAME_RE = /^(?=.{1,253}$)(?:\*\.)?(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

function checkValidity(days: number, now: Date): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) throw badRequest('invalid validity period');
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw badRequest('invalid time');
}

function bufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export async function createCertificateAuthority(opts: {
  commonName: string;
  organization?: string;
  validityDays: number;
  now: Date;
  keyAlgorithm?: KeyAlgorithm;
}): Promise<CaMaterial> {
  checkValidity(opts.validityDays, opts.now);
  if (typeof opts.commonName !== 'string' || opts.commonName.length === 0 || opts.commonName.length > 64) {
    throw badRequest('invalid common name');
  }
  if (opts.organization !== undefined && (opts.organization.length === 0 || opts.organization.length > 64)) {
    throw badRequest('invalid organization');
  }
  const { privateKey, publicKey } = await generateKey(opts.keyAlgorithm ?? 'rsa-3072');
  const spki = spkiDer(publicKey);
  const jsonName: x509.JsonName = [{ CN: [opts.commonName] }];
  if (opts.organization !== undefined) jsonName.push({ O: [opts.organization] });
  const name = new x509.Name(jsonName);
  const ski = await x509.SubjectKeyIdentifierExtension.create(bufferOf(spki), false, webCrypto);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: name,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter: new Date(opts.now.getTime() + opts.validityDays * DAY_MS),
    signingAlgorithm: signingAlgorithm(privateKey),
    publicKey: bufferOf(spki),
    signingKey: toSigningCryptoKey(privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId, false),
    ],
  }, webCrypto);
  return { certDer: new Uint8Array(cert.rawData), privateKey };
}

function caContext(ca: CaMaterial): { subject: x509.Name; ski: string; notAfter: Date } {
  const parsed = parseCertificate(ca.certDer);
  if (!parsed.isCa) throw badRequest('not a CA certificate');
  const subject = new x509.Name(bufferOf(parsed.subjectRaw));
  const ski = parsed.subjectKeyId ? Buffer.from(parsed.subjectKeyId).toString('hex') : '';
  return { subject, ski, notAfter: parsed.notAfter };
}

function serialHexFrom(serial: Uint8Array | undefined): string {
  if (serial === undefined) return randomSerialHex();
  if (serial.length === 0 || serial.length > 20 || serial.every((b) => b === 0)) throw badRequest('invalid serial');
  return Buffer.from(serial).toString('hex');
}

export async function issueCertificate(ca: CaMaterial, req: IssueRequest): Promise<Uint8Array> {
  checkValidity(req.validityDays, req.now);
  if (typeof req.subject !== 'string' || req.subject.length === 0 || req.subject.length > 1024) {
    throw badRequest('invalid subject');
  }
  let subject: x509.Name;
  try {
    subject = new x509.Name(req.subject);
  } catch {
    throw badRequest('invalid subject');
  }
  let spki: Uint8Array;
  try {
    spki = spkiDer(req.publicKey);
  } catch {
    throw badRequest('invalid public key');
  }
  const { subject: issuer, ski: caSki, notAfter: caNotAfter } = caContext(ca);
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  const K = x509.KeyUsageFlags;
  switch (req.profile) {
    case 'device-identity':
      extensions.push(
        new x509.KeyUsagesExtension(K.digitalSignature | K.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      );
      if (req.crlDistributionPoints && req.crlDistributionPoints.length > 0) {
        for (const u of req.crlDistributionPoints) {
          let url: URL;
          try {
            url = new URL(u);
          } catch {
            throw badRequest('invalid CRL URL');
          }
          if ((url.protocol !== 'https:' && url.protocol !== 'http:') || u.length > 2048) throw badRequest('invalid CRL URL');
        }
        extensions.push(new x509.CRLDistributionPointsExtension(req.crlDistributionPoints, false));
      }
      break;
    case 'tls-server': {
      const names: x509.JsonGeneralName[] = [];
      for (const d of req.dnsNames ?? []) {
        if (!HOSTNAME_RE.test(d)) throw badRequest('invalid DNS name');
        names.push({ type: 'dns', value: d });
      }
      for (const ip of req.ipAddresses ?? []) {
        if (isIP(ip) === 0) throw badRequest('invalid IP address');
        names.push({ type: 'ip', value: ip });
      }
      if (names.length === 0) throw badRequest('a TLS certificate needs a DNS name or IP address');
      extensions.push(
        new x509.KeyUsagesExtension(K.digitalSignature | K.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
      );
      break;
    }
    case 'scep-ra':
      extensions.push(new x509.KeyUsagesExtension(K.digitalSignature | K.keyEncipherment, true));
      break;
    default:
      throw badRequest('unknown certificate profile');
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(bufferOf(spki), false, webCrypto));
  if (caSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHexFrom(req.serial),
    subject,
    issuer,
    notBefore: new Date(req.now.getTime() - BACKDATE_MS),
    // Never beyond the CA (an imported or intermediate CA may expire sooner than the requested validity).
    notAfter: new Date(Math.min(req.now.getTime() + req.validityDays * DAY_MS, caNotAfter.getTime())),
    signingAlgorithm: signingAlgorithm(ca.privateKey),
    publicKey: bufferOf(spki),
    signingKey: toSigningCryptoKey(ca.privateKey),
    extensions,
  }, webCrypto);
  return new Uint8Array(cert.rawData);
}
