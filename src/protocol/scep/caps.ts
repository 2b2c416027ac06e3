// GetCACaps and GetCACert answers (RFC 8894 sections 3.5.2 and 4.2).
import { degenerateCertificates } from './message.ts';

/** What the server supports; "SCEPStandard" implies AES, POSTPKIOperation and SHA-256. */
export const CA_CAPS: readonly string[] = Object.freeze(['AES', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SHA-512', 'SCEPStandard']);

export function caCapsText(): string {
  return `${CA_CAPS.join('\n')}\n`;
}

export type ScepHttpAnswer = { status: number; contentType: string; body: Uint8Array };

/** The RA certificate first, then the CA certificate(s), as a degenerate SignedData. */
export function caCertAnswer(raCertDer: Uint8Array, caCertsDer: readonly Uint8Array[]): ScepHttpAnswer {
  return { status: 200, contentType: 'application/x-x509-ca-ra-cert', body: degenerateCertificates([raCertDer, ...caCertsDer]) };
}

export const OPERATIONS = ['GetCACert', 'GetCACaps', 'PKIOperation'] as const;
export type ScepOperation = (typeof OPERATIONS)[number];
