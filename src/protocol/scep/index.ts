// SCEP (RFC 8894): pure protocol module.
export * from './oids.ts';
export { parseCsr, buildCsr, buildSelfSignedCert, encodeName, type ParsedCsr } from './csr.ts';
export { decryptEnvelope, encryptEnvelope, type Recipient } from './envelope.ts';
export {
  parsePkiMessage, openPkiEnvelope, buildCertRep, buildPkiMessage, parseCertRep, degenerateCertificates,
  parseDegenerateCertificates, ScepRequestFailure, type PkiMessage, type ScepHeader, type CertRep, type CertRepInput,
} from './message.ts';
export { CA_CAPS, caCapsText, caCertAnswer, OPERATIONS, type ScepOperation, type ScepHttpAnswer } from './caps.ts';
