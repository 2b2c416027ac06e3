import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { certInfo } from './info.ts';
import { createDevelopmentPki, TLS_VALIDITY_DAYS } from './dev.ts';

async function handshake(host: string, pki: Awaited<ReturnType<typeof createDevelopmentPki>>, servername?: string): Promise<boolean> {
  const server = createServer({ key: pki.tls.keyPem, cert: pki.tls.certPem }, (s) => s.end('hi'));
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<boolean>((resolve) => {
      const opts = { host, port, ca: pki.caCertPem, ...(servername ? { servername } : {}) };
      const s = connect(opts, () => {
        resolve(s.authorized);
        s.destroy();
      });
      s.on('error', () => resolve(false));
    });
  } finally {
    server.close();
  }
}

describe('createDevelopmentPki', () => {
  it('serves TLS that a client trusting the dev CA accepts for localhost, 127.0.0.1 and ::1', async () => {
    const now = new Date();
    const pki = await createDevelopmentPki(now);
    assert.equal(await handshake('127.0.0.1', pki, 'localhost'), true);
    assert.equal(await handshake('127.0.0.1', pki), true);
    let v6 = true;
    try {
      v6 = await handshake('::1', pki);
    } catch {
      // no IPv6 loopback here
    }
    assert.equal(v6, true);
    const info = certInfo(pki.tls.certDer);
    assert.equal(info.subject, 'CN=localhost,O=Rampart (development)');
    assert.ok(info.notAfter.getTime() - now.getTime() <= TLS_VALIDITY_DAYS * 86_400_000);
    assert.match(pki.tls.keyPem, /BEGIN PRIVATE KEY/);
    assert.ok(pki.tls.chainPem.startsWith(pki.tls.certPem) && pki.tls.chainPem.endsWith(pki.caCertPem));
  });

  it('the certificate is refused for another name (the test can fail)', async () => {
    const pki = await createDevelopmentPki(new Date());
    assert.equal(await handshake('127.0.0.1', pki, 'example.com'), false);
  });
});
