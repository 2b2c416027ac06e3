// CMS SignedData creation: detached (what a device puts in `Mdm-Signature`)
// and attached (signed .mobileconfig profiles). Synchronous node:crypto, DER
// output, signed attributes contentType + signingTime + messageDigest in DER
// SET order, as Apple devices and OpenSSL produce them.

import { createPublicKey, hash, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { RampartError } from '../../lib/errors.ts';
import { DIGEST_OID_BY_NAME, ECDSA_OID_BY_HASH, OID } from './algorithms.ts';
import type { HashName } from './algorithms.ts';
import { parseCertificate } from './certificate.ts';
import {
  bytesEqual, derNull, encodeOid, encodeSmallInt, encodeTime, explicit, octetString, seq, setOf, tlv, TAG,
} from './der.ts';

export type CmsSigner = { certDer: Uint8Array; privateKey: KeyObject };

export type SignOptions = {
  digest?: 'sha256' | 'sha1';
  /** Further certificates (DER) to include, e.g. intermediates. */
  includeChain?: Uint8Array[];
  /** signingTime attribute; default the current time. */
  now?: Date;
};

function build(content: Uint8Array, signer: CmsSigner, opts: SignOptions, attached: boolean): Uint8Array {
  const digest: HashName = opts.digest ?? 'sha256';
  if (digest !== 'sha256' && digest !== 'sha1') throw new RampartError('internal', 'unsupported digest');
  let cert;
  try {
    cert = parseCertificate(signer.certDer);
  } catch {
    throw new RampartError('internal', 'invalid signer certificate');
  }
  const key = signer.privateKey;
  if (key.type !== 'private') throw new RampartError('internal', 'signer key is not a private key');
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  if (!bytesEqual(new Uint8Array(spki), cert.spki)) throw new RampartError('internal', 'signer key does not match certificate');

  const digestAlg = seq(encodeOid(DIGEST_OID_BY_NAME[digest]));
  let sigAlg: Uint8Array;
  if (key.asymmetricKeyType === 'rsa') sigAlg = seq(encodeOid(OID.rsaEncryption), derNull());
  else if (key.asymmetricKeyType === 'ec') sigAlg = seq(encodeOid(ECDSA_OID_BY_HASH[digest]));
  else throw new RampartError('internal', 'unsupported signer key');

  const md = hash(digest, content, 'buffer');
  const attrs = [
    seq(encodeOid(OID.contentType), setOf([encodeOid(OID.data)])),
    seq(encodeOid(OID.signingTime), setOf([encodeTime(opts.now ?? new Date())])),
    seq(encodeOid(OID.messageDigest), setOf([octetString(md)])),
  ];
  const attrsSet = setOf(attrs, TAG.SET);
  const signature = cryptoSign(digest, attrsSet, key);
  const signedAttrs = Uint8Array.from(attrsSet);
  signedAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo

  const signerInfo = seq(
    encodeSmallInt(1),
    seq(cert.issuerRaw, tlv(TAG.INTEGER, cert.serialRaw)),
    digestAlg,
    signedAttrs,
    sigAlg,
    octetString(signature),
  );
  const certificates = [Uint8Array.from(signer.certDer), ...(opts.includeChain ?? []).map((c) => Uint8Array.from(c))];
  const encap = attached
    ? seq(encodeOid(OID.data), explicit(0, octetString(content)))
    : seq(encodeOid(OID.data));
  const signedData = seq(
    encodeSmallInt(1),
    setOf([digestAlg]),
    encap,
    setOf(certificates, 0xa0),
    setOf([signerInfo]),
  );
  return seq(encodeOid(OID.signedData), explicit(0, signedData));
}

/** Detached CMS SignedData over `content` (DER), as a device signs a request body. */
export function signDetached(content: Uint8Array, signer: CmsSigner, opts: SignOptions = {}): Uint8Array {
  return build(content, signer, opts, false);
}

/** CMS SignedData with the content encapsulated (DER), e.g. a signed .mobileconfig. */
export function signAttached(content: Uint8Array, signer: CmsSigner, opts: SignOptions = {}): Uint8Array {
  return build(content, signer, opts, true);
}

