// CMS EnvelopedData (RFC 5652 section 6) with RSA key transport, as SCEP uses
// it: the request's CSR is encrypted to the RA certificate, the reply's
// certificates to the requester's signer certificate.
//
// Key transport is RSAES-PKCS1-v1_5 because that is what Apple devices send.
// Node 24 (OpenSSL 3.2+) decrypts PKCS#1 v1.5 with implicit rejection: a
// malformed block yields a deterministic pseudo-random key instead of an error,
// so neither timing nor error type tells an attacker whether the padding was
// valid (the Marvin/Bleichenbacher oracle). We rely on that, check the key
// length afterwards, and answer every failure the same way (badMessageCheck).
// envelope.test.ts checks that this Node behaves so.
import { constants, createCipheriv, createPublicKey, createDecipheriv, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { OID } from '../cms/algorithms.ts';
import { parseCertificate } from '../cms/certificate.ts';
import {
  DerError, TAG, bytesEqual, children, content, derNull, encodeOid, encodeSmallInt, expect, expectKids, explicit,
  octetString, oid, parse, raw, seq, setOf, smallInt, tlv, concat,
} from '../cms/der.ts';
import type { Node } from '../cms/der.ts';
import { CIPHERS, CIPHER_OID_BY_NAME, SCEP_OID, ScepFailure, type CipherName } from './oids.ts';

export type Recipient = { certDer: Uint8Array; privateKey: KeyObject };

const MAX_RECIPIENTS = 8;

function encryptedContentBytes(n: Node): Uint8Array {
  if (n.tag === 0x80) return content(n);
  if (n.tag !== 0xa0) throw new DerError('bad encrypted content');
  const parts: Uint8Array[] = [];
  const walk = (x: Node): void => {
    for (const k of children(x)) {
      if (k.tag === TAG.OCTET_STRING) parts.push(content(k));
      else if (k.tag === (TAG.OCTET_STRING | 0x20)) walk(k);
      else throw new DerError('bad encrypted content chunk');
    }
  };
  walk(n);
  return concat(parts);
}

function ridMatches(rid: Node, version: number, cert: ReturnType<typeof parseCertificate>): boolean {
  if (version === 0 && rid.tag === TAG.SEQUENCE) {
    const [issuer, serial] = expectKids(rid, TAG.SEQUENCE, 2, 2);
    return bytesEqual(raw(issuer as Node), cert.issuerRaw) && bytesEqual(content(expect(serial, TAG.INTEGER)), cert.serialRaw);
  }
  if (version === 2 && rid.tag === 0x80) {
    return cert.subjectKeyId !== undefined && bytesEqual(content(rid), cert.subjectKeyId);
  }
  throw new DerError('bad recipient identifier');
}

/**
 * Decrypts a ContentInfo(EnvelopedData) for one of `recipients`. Structural
 * problems throw DerError; anything about keys, algorithms or decryption
 * throws ScepFailure (badAlg or badMessageCheck).
 */
export function decryptEnvelope(der: Uint8Array, recipients: readonly Recipient[]): { content: Uint8Array; cipher: CipherName } {
  const [ct, wrapped] = expectKids(parse(der), TAG.SEQUENCE, 2, 2);
  if (oid(ct) !== SCEP_OID.envelopedData) throw new DerError('not enveloped data');
  const [ed] = expectKids(wrapped, 0xa0, 1, 1);
  const kids = expectKids(ed, TAG.SEQUENCE, 3, 5);
  const version = smallInt(kids[0]);
  if (version > 4) throw new DerError('bad version');
  let i = 1;
  if (kids[i]?.tag === 0xa0) i++; // originatorInfo: ignored
  const ris = expectKids(kids[i++], TAG.SET, 1, MAX_RECIPIENTS);
  const eci = expectKids(kids[i++], TAG.SEQUENCE, 2, 3);
  if (kids[i]?.tag === 0xa1) i++;
  if (i !== kids.length) throw new DerError('unexpected element');
  if (oid(eci[0]) !== OID.data) throw new DerError('enveloped content is not data');
  const [algOidN, ivN] = expectKids(eci[1], TAG.SEQUENCE, 1, 2);
  const cipher = CIPHERS[oid(algOidN)];
  if (!cipher) throw new ScepFailure('badAlg', 'unsupported content encryption');
  const iv = content(expect(ivN, TAG.OCTET_STRING));
  if (iv.length !== cipher.ivBytes) throw new DerError('bad IV');
  if (eci[2] === undefined) throw new DerError('no encrypted content');
  const ciphertext = encryptedContentBytes(eci[2]);
  if (ciphertext.length === 0 || ciphertext.length % cipher.ivBytes !== 0) throw new ScepFailure('badMessageCheck', 'bad ciphertext length');

  const parsedRecipients = recipients.map((r) => ({ r, cert: parseCertificate(r.certDer) }));
  let encryptedKey: Uint8Array | undefined;
  let recipient: Recipient | undefined;
  for (const ri of ris) {
    if (ri.tag !== TAG.SEQUENCE) continue; // other RecipientInfo kinds: not for us
    const [vN, rid, kea, ek] = expectKids(ri, TAG.SEQUENCE, 4, 4);
    const v = smallInt(vN);
    const match = parsedRecipients.find((p) => ridMatches(rid as Node, v, p.cert));
    if (!match) continue;
    const [keaOid] = expectKids(kea, TAG.SEQUENCE, 1, 2);
    if (oid(keaOid) !== OID.rsaEncryption) throw new ScepFailure('badAlg', 'unsupported key transport');
    encryptedKey = content(expect(ek, TAG.OCTET_STRING));
    recipient = match.r;
    break;
  }
  if (!encryptedKey || !recipient) throw new ScepFailure('badMessageCheck', 'not encrypted to this RA');
  let key: Buffer;
  try {
    key = privateDecrypt({ key: recipient.privateKey, padding: constants.RSA_PKCS1_PADDING }, encryptedKey);
  } catch {
    throw new ScepFailure('badMessageCheck', 'key transport');
  }
  if (key.length !== cipher.keyBytes) throw new ScepFailure('badMessageCheck', 'key transport');
  try {
    const d = createDecipheriv(cipher.name, key, iv);
    const out = Buffer.concat([d.update(ciphertext), d.final()]);
    return { content: new Uint8Array(out), cipher: cipher.name as CipherName };
  } catch {
    throw new ScepFailure('badMessageCheck', 'decryption');
  }
}

/** ContentInfo(EnvelopedData) of `plaintext` for the holder of `recipientCertDer` (an RSA certificate). */
export function encryptEnvelope(
  plaintext: Uint8Array,
  recipientCertDer: Uint8Array,
  cipherName: CipherName,
  random: (n: number) => Uint8Array,
): Uint8Array {
  const oidStr = CIPHER_OID_BY_NAME[cipherName];
  const cipher = oidStr ? CIPHERS[oidStr] : undefined;
  if (!oidStr || !cipher) throw new ScepFailure('badAlg', 'unsupported cipher');
  const cert = parseCertificate(recipientCertDer);
  const key = random(cipher.keyBytes);
  const iv = random(cipher.ivBytes);
  const c = createCipheriv(cipher.name, key, iv);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  let encryptedKey: Buffer;
  try {
    const pub = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
    encryptedKey = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, key);
  } catch {
    throw new ScepFailure('badAlg', 'recipient key cannot receive key transport');
  }
  const ktri = seq(
    encodeSmallInt(0),
    seq(cert.issuerRaw, tlv(TAG.INTEGER, cert.serialRaw)),
    seq(encodeOid(OID.rsaEncryption), derNull()),
    octetString(encryptedKey),
  );
  const eci = seq(encodeOid(OID.data), seq(encodeOid(oidStr), octetString(iv)), tlv(0x80, ciphertext));
  const ed = seq(encodeSmallInt(0), setOf([ktri]), eci);
  return seq(encodeOid(SCEP_OID.envelopedData), explicit(0, ed));
}
