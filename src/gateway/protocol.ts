// The gateway's protocol operations, built from the pure modules. The same
// functions run again in the core over the same bytes.
import { createCmsVerifier } from '../protocol/cms/verify.ts';
import { parseDeviceMessage } from '../protocol/device-message.ts';
import type { GatewayProtocol } from './handler.ts';

export function createGatewayProtocol(opts: { trustAnchors: Uint8Array[]; maxBodyBytes: number; maxPlistDepth: number }): GatewayProtocol {
  const verifier = createCmsVerifier({ trustAnchors: opts.trustAnchors });
  const limits = { maxBytes: opts.maxBodyBytes, maxDepth: opts.maxPlistDepth };
  return {
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
