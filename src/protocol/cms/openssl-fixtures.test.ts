// Test support (not a module of the server): certificates and signatures made
// by the `openssl` command line, an implementation independent of ours.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Fixture = { certDer: Uint8Array; certPem: string; certPath: string; keyPath: string; privateKey: KeyObject };

export type OpensslFixtures = {
  dir: string;
  run(args: string[], input?: Uint8Array): Buffer;
  path(name: string): string;
  write(name: string, data: Uint8Array | string): string;
  read(name: string): Uint8Array;
  /** RSA CA, EC CA (unrelated), RSA device and EC device issued by the RSA CA, and odd signers. */
  ca: Fixture;
  otherCa: Fixture;
  device: Fixture;
  ecDevice: Fixture;
  caLikeSigner: Fixture;
  criticalExtSigner: Fixture;
  noSignUsageSigner: Fixture;
  cleanup(): void;
};

function pemToDer(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

export function createOpensslFixtures(): OpensslFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cms-'));
  const path = (n: string): string => join(dir, n);
  const run = (args: string[], input?: Uint8Array): Buffer =>
    execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
  const write = (n: string, data: Uint8Array | string): string => {
    writeFileSync(path(n), data);
    return path(n);
  };
  const read = (n: string): Uint8Array => new Uint8Array(readFileSync(path(n)));

  write('ext.cnf', [
    '[dev]',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
    'subjectKeyIdentifier=hash',
    '[calike]',
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,digitalSignature,keyCertSign',
    '[crit]',
    'basicConstraints=critical,CA:FALSE',
    '1.3.6.1.4.1.55555.1=critical,DER:05:00',
    '[nosign]',
    'keyUsage=critical,keyEncipherment',
    '',
  ].join('\n'));

  const load = (name: string): Fixture => {
    const certPem = readFileSync(path(`${name}.pem`), 'utf8');
    return {
      certDer: pemToDer(certPem),
      certPem,
      certPath: path(`${name}.pem`),
      keyPath: path(`${name}.key`),
      privateKey: createPrivateKey(readFileSync(path(`${name}.key`))),
    };
  };
  const key = (name: string, kind: 'rsa' | 'ec'): void => {
    if (kind === 'rsa') run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);
    else run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  };
  const selfSigned = (name: string, kind: 'rsa' | 'ec', subj: string): void => {
    key(name, kind);
    run(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', subj, '-days', '30', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', `${name}.pem`]);
  };
  const issued = (name: string, kind: 'rsa' | 'ec', subj: string, section: string, serial: string): void => {
    key(name, kind);
    run(['req', '-new', '-key', `${name}.key`, '-subj', subj, '-out', `${name}.csr`]);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial,
      '-days', '10', '-sha256', '-extfile', 'ext.cnf', '-extensions', section, '-out', `${name}.pem`]);
  };

  selfSigned('ca', 'rsa', '/CN=Rampart Test CA/O=Rampart');
  selfSigned('otherca', 'ec', '/CN=Rampart Test CA/O=Rampart');
  issued('device', 'rsa', '/CN=device-1/O=Rampart', 'dev', '0x00C0FFEE01');
  issued('ecdevice', 'ec', '/CN=device-ec/O=Rampart', 'dev', '0x1234');
  issued('calike', 'ec', '/CN=ca-like', 'calike', '0x2001');
  issued('crit', 'ec', '/CN=crit', 'crit', '0x2002');
  issued('nosign', 'ec', '/CN=nosign', 'nosign', '0x2003');

  return {
    dir,
    run,
    path,
    write,
    read,
    ca: load('ca'),
    otherCa: load('otherca'),
    device: load('device'),
    ecDevice: load('ecdevice'),
    caLikeSigner: load('calike'),
    criticalExtSigner: load('crit'),
    noSignUsageSigner: load('nosign'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `openssl cms -sign` (detached unless `attached`), DER output. */
export function opensslSign(
  fx: OpensslFixtures,
  content: Uint8Array,
  signer: Fixture,
  extra: string[] = [],
  command: 'cms' | 'smime' = 'cms',
): Uint8Array {
  const input = fx.write(`in-${Math.random().toString(36).slice(2)}.bin`, content);
  return new Uint8Array(fx.run([command, '-sign', '-binary', '-in', input, '-signer', signer.certPath, '-inkey', signer.keyPath,
    '-outform', 'DER', ...extra]));
}

// Run directly by `node --test`, this file checks its own fixtures; imported by
// other tests it only provides them.
if (import.meta.main) {
  const { it } = await import('node:test');
  const assert = (await import('node:assert/strict')).default;
  it('makes certificates that openssl itself accepts', () => {
    const fx = createOpensslFixtures();
    try {
      for (const f of [fx.device, fx.ecDevice]) {
        const out = fx.run(['verify', '-CAfile', fx.ca.certPath, f.certPath]).toString();
        assert.match(out, /OK/);
      }
      assert.throws(() => fx.run(['verify', '-CAfile', fx.otherCa.certPath, fx.device.certPath]));
    } finally {
      fx.cleanup();
    }
  });
}
