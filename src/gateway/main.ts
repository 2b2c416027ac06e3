// Entry point of the device gateway process. Started only by the supervisor,
// under Node's permission model; receives its configuration (public CA
// certificates and its TLS key, nothing else secret) over IPC, then serves the
// public device plane and forwards verified, parsed requests to the core.
import https from 'node:https';
import { parseTrustLists, type CoreMessage, type InitMessage } from '../ipc/messages.ts';
import { createRequestHandler, sendFixed } from './handler.ts';
import { createIpcClient } from './ipc-client.ts';
import { createGatewayProtocol } from './protocol.ts';

if (typeof process.send !== 'function') {
  process.stderr.write('the device gateway is started by `rampart serve`, not directly\n');
  process.exit(2);
}
const send = (m: unknown): void => {
  if (process.connected) process.send!(m);
};

let client: ReturnType<typeof createIpcClient> | undefined;
let protocol: ReturnType<typeof createGatewayProtocol> | undefined;
let started = false;

function start(init: InitMessage): void {
  started = true;
  client = createIpcClient({ send }, init.coreTimeoutMs);
  const trust = parseTrustLists(init);
  if (!trust) {
    process.stderr.write('the device gateway got no usable trust anchors\n');
    process.exit(2);
  }
  protocol = createGatewayProtocol({
    trustAnchors: trust.anchors,
    intermediates: trust.intermediates,
    maxBodyBytes: init.limits.maxBodyBytes,
    maxPlistDepth: init.limits.maxPlistDepth,
  });
  const ipc = client;
  const handler = createRequestHandler(
    {
      protocol: protocol,
      forward: (req) => ipc.request(req),
      forwardEnroll: (req) => ipc.enroll(req),
      reject: (r) => send({ t: 'rejected', ...r }),
    },
    {
      maxBodyBytes: init.limits.maxBodyBytes,
      proxyClientCertHeader: init.proxy.clientCertHeader?.toLowerCase() ?? null,
      trustedProxies: new Set(init.proxy.trusted),
    },
  );
  const server = https.createServer(
    {
      cert: init.tls.certPem,
      key: init.tls.keyPem,
      minVersion: 'TLSv1.2',
      requestTimeout: 30_000,
      headersTimeout: 15_000,
      keepAliveTimeout: 65_000,
      maxHeaderSize: 32 * 1024,
    },
    (req, res) => {
      handler(req, res).catch(() => sendFixed(res, 503));
    },
  );
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.listen(init.listen.port, init.listen.host, () => {
    const addr = server.address();
    send({ t: 'ready', port: typeof addr === 'object' && addr ? addr.port : init.listen.port });
  });
  process.on('disconnect', () => {
    // The core is gone: stop serving; the supervisor (if alive) starts a new gateway.
    server.close();
    process.exit(0);
  });
}

process.on('message', (raw: unknown) => {
  const m = raw as CoreMessage;
  if (typeof m !== 'object' || m === null) return;
  if (m.t === 'init' && !started) start(m);
  else if (m.t === 'response' && client) client.onResponse(m);
  else if (m.t === 'trust' && protocol) {
    // The enrollment CA changed in the core: verify against the new set from now on.
    const trust = parseTrustLists(m);
    if (trust) protocol.setTrust(trust.anchors, trust.intermediates);
  }
});
