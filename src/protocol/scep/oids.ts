// Object identifiers and constants of SCEP (RFC 8894) and the CMS parts it uses.

export const SCEP_OID = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionId: '2.16.840.1.113733.1.9.7',
  envelopedData: '1.2.840.113549.1.7.3',
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

/** RFC 8894 section 3.2.1.2 message types (as decimal PrintableStrings on the wire). */
export const MESSAGE_TYPE = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;
export type MessageTypeName = keyof typeof MESSAGE_TYPE;

export const PKI_STATUS = { SUCCESS: 0, FAILURE: 2, PENDING: 3 } as const;
export type PkiStatus = keyof typeof PKI_STATUS;

export const FAIL_INFO = { badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4 } as const;
export type FailInfo = keyof typeof FAIL_INFO;

/** Content-encryption algorithms accepted in a request and used in a reply. */
export const CIPHERS: Readonly<Record<string, { name: string; keyBytes: number; ivBytes: number }>> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyBytes: 16, ivBytes: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyBytes: 24, ivBytes: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyBytes: 32, ivBytes: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyBytes: 24, ivBytes: 8 },
};
export const CIPHER_OID_BY_NAME: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(CIPHERS).map(([oid, c]) => [c.name, oid]),
);
export type CipherName = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc';

/** Largest PKIOperation message accepted (a CSR with a 4096-bit key is ~4 KiB). */
export const MAX_PKI_MESSAGE_BYTES = 64 * 1024;

/** Thrown for requests that deserve a CertRep FAILURE (we could read who sent it). */
export class ScepFailure extends Error {
  readonly failInfo: FailInfo;
  constructor(failInfo: FailInfo, detail: string) {
    super(detail);
    this.name = 'ScepFailure';
    this.failInfo = failInfo;
  }
}

/** Thrown for requests too broken to answer with a CertRep (HTTP 400, fixed body). */
export class ScepMalformed extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'ScepMalformed';
  }
}
