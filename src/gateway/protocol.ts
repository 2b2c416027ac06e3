// The gateway's protocol operations, built from the pure modules. The same
// functions run again in the core over the same bytes.
import { createCmsVerifier } from '../protocol/cms/verify.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import type { GatewayProtocol } from './handler.ts';

export function createGatewayProtocol(opts: { trustAnchors: Uint8Array[]; intermediates?: Uint8Array[]; maxBodyBytes: number; maxPlistDepth: number }): GatewayProtocol & {
  /** A new trust set from the core (CA rotation or import): swapped in one assignment. */
  setTrust(anchors: Uint8Array[], intermediates: Uint8Array[]): void;
} {
  let verifier = createCmsVerifier({ trustAnchors: opts.trustAnchors, intermediates: opts.intermediates ?? [] });
  const limits = { maxBytes: opts.maxBodyBytes, maxDepth: opts.maxPlistDepth };
  return {
    setTrust(anchors, intermediates) {
      verifier = createCmsVerifier({ trustAnchors: anchors, intermediates });
    },
    verifySignature(signature, body) {
      verifier.verifyDetached(signature, body, { now: new Date() });
    },
    verifyClientCertificate(certDer) {
      verifier.verifyCertificate(certDer, { now: new Date() });
    },
    parseMessage(endpoint, body) {
      return parseDeviceMessage(endpoint, body, limits).json;
    },
  };
}
