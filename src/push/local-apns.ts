// A local stand-in for Apple's push service, for tests, the simulator and the
// benchmark: an HTTP/2 TLS server (node:http2 createSecureServer) that
// requires a client certificate chaining to a given CA, checks apns-topic
// against the certificate's UID as Apple does, and hands each push to a
// callback. It is NOT Apple's service; see docs/push.md.
import http2, { type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueCertificate } from '../pki/authority.ts';
import { generateKey } from '../pki/crypto-keys.ts';
import { toPem } from '../pki/pem.ts';
import { topicOf } from './certificate.ts';

export interface LocalPush {
  token: string;
  topic: string;
  pushMagic: string;
}

/** What the server answers: 200 by default. */
export type LocalApnsReply = { status: number; reason?: string } | { destroy: true };

export interface LocalApnsOptions {
  /** CA (PEM) that client certificates must chain to. */
  clientCaPem: string;
  onPush?: (p: LocalPush) => void;
  /** Decides the answer per push (tests inject 429, 500, 410, dropped connections). */
  reply?: (p: LocalPush) => LocalApnsReply | Promise<LocalApnsReply>;
  host?: string;
  /** Fixed port (default: any free port). */
  port?: number;
}

export interface LocalApns {
  url: string;
  /** Trust anchor of the server's TLS certificate (pass to the client as `ca`). */
  caPem: string;
  received(): number;
  close(): Promise<void>;
}

export async function startLocalApns(opts: LocalApnsOptions): Promise<LocalApns> {
  const now = new Date();
  const ca = await createCertificateAuthority({ commonName: 'Local APNs test CA', validityDays: 30, now, keyAlgorithm: 'ecdsa-p256' });
  const key = await generateKey('ecdsa-p256');
  const certDer = await issueCertificate(ca, {
    subject: 'CN=localhost', publicKey: key.publicKey, validityDays: 30, now, profile: 'tls-server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'],
  });
  const caPem = toPem('CERTIFICATE', ca.certDer);
  let count = 0;
  const topics = new WeakMap<object, string>();
  const server: Http2SecureServer = http2.createSecureServer({
    cert: toPem('CERTIFICATE', certDer),
    key: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ca: opts.clientCaPem,
    requestCert: true,
    rejectUnauthorized: true,
    settings: { maxConcurrentStreams: 2000 },
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const answer = (status: number, reason?: string): void => {
        if (stream.destroyed) return;
        stream.respond({ ':status': status, ...(reason ? { 'content-type': 'application/json' } : {}) });
        stream.end(reason ? JSON.stringify({ reason }) : undefined);
      };
      const path = String(headers[':path'] ?? '');
      const m = /^\/3\/device\/([0-9a-f]{16,200})$/.exec(path);
      if (headers[':method'] !== 'POST' || !m) return answer(404, 'BadPath');
      // The client certificate's topic, read once per connection.
      const session = stream.session;
      let certTopic = session ? topics.get(session) : undefined;
      if (session && certTopic === undefined) {
        const peer = (session.socket as TLSSocket | undefined)?.getPeerX509Certificate?.();
        certTopic = peer ? topicOf(new Uint8Array((peer as X509Certificate).raw)) : undefined;
        if (certTopic !== undefined) topics.set(session, certTopic);
      }
      const topic = String(headers['apns-topic'] ?? '');
      if (!certTopic || topic !== certTopic) return answer(400, 'DeviceTokenNotForTopic');
      if (headers['apns-push-type'] !== 'mdm') return answer(400, 'InvalidPushType');
      let magic: unknown;
      try {
        magic = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { mdm?: unknown }).mdm;
      } catch {
        return answer(400, 'PayloadEmpty');
      }
      if (typeof magic !== 'string') return answer(400, 'PayloadEmpty');
      const p: LocalPush = { token: m[1]!, topic, pushMagic: magic };
      const finish = (r: LocalApnsReply): void => {
        if ('destroy' in r) {
          stream.session?.destroy();
          return;
        }
        if (r.status === 200) {
          count++;
          opts.onPush?.(p);
        }
        answer(r.status, r.reason);
      };
      const r = opts.reply ? opts.reply(p) : { status: 200 };
      if (r instanceof Promise) r.then(finish, () => answer(500, 'InternalServerError'));
      else finish(r);
    });
  });
  server.on('sessionError', () => {});
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}`,
    caPem,
    received: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open sessions keep close() waiting; end them.
        for (const s of sessions) s.destroy();
      }),
  };
}

/** A push certificate for local use (tests, simulator, benchmark): its own CA, a UID topic, clientAuth. */
export async function createLocalPushCertificate(opts: { topic: string; now?: Date; validityDays?: number; notBefore?: Date }): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const now = opts.now ?? new Date();
  const ca = await createCertificateAuthority({ commonName: 'Local push CA', validityDays: 3650, now, keyAlgorithm: 'ecdsa-p256' });
  const key = await generateKey('rsa-2048');
  const der = await issueCertificate(ca, {
    subject: `0.9.2342.19200300.100.1.1=${opts.topic},CN=APSP:local`,
    publicKey: key.publicKey,
    validityDays: opts.validityDays ?? 365,
    now,
    profile: 'device-identity',
  });
  return {
    certPem: toPem('CERTIFICATE', der),
    keyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    caPem: toPem('CERTIFICATE', ca.certDer),
  };
}
