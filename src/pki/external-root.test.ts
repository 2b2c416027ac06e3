// Test support (not a module of the server): an external root CA run by the
// `openssl` command line (req -x509, x509 -req and ca with -extfile), and one
// run by @peculiar/x509, to sign the intermediate CSRs Rampart makes and to
// provide existing CAs to import.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from './x509.ts';
import { fromPem, toPem } from './pem.ts';
import { randomSerialHex, signingAlgorithm, toSigningCryptoKey, webCrypto } from './crypto-keys.ts';

export type OpensslRoot = {
  dir: string;
  rootPem: string;
  rootKeyPem: string;
  run(args: string[]): string;
  file(name: string, content: string | Uint8Array): string;
  /** Signs a CSR as an intermediate CA (`openssl x509 -req -extfile`, or `openssl ca` with `useCa`). */
  signIntermediate(csrPem: string, opts?: { pathlen?: number; days?: number; useCa?: boolean; keyUsage?: string; ca?: boolean }): string;
  close(): void;
};

const CA_EXT = (o: { pathlen?: number; keyUsage?: string; ca?: boolean }) => [
  `basicConstraints = critical,CA:${o.ca === false ? 'FALSE' : 'TRUE'}${o.ca !== false && o.pathlen !== undefined ? `,pathlen:${o.pathlen}` : ''}`,
  `keyUsage = critical,${o.keyUsage ?? 'keyCertSign,cRLSign'}`,
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
  '',
].join('\n');

export function opensslRoot(opts: { days?: number; cn?: string } = {}): OpensslRoot {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-extroot-'));
  const run = (args: string[]): string => execFileSync('openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  const file = (name: string, content: string | Uint8Array): string => {
    writeFileSync(join(dir, name), content);
    return name;
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', String(opts.days ?? 30),
    '-subj', `/CN=${opts.cn ?? 'External Root CA'}/O=Example`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let n = 0;
  return {
    dir,
    rootPem: readFileSync(join(dir, 'root.pem'), 'utf8'),
    rootKeyPem: readFileSync(join(dir, 'root.key'), 'utf8'),
    run,
    file,
    signIntermediate(csrPem, o = {}) {
      const i = ++n;
      file(`int${i}.csr`, csrPem);
      file(`int${i}.ext`, CA_EXT(o));
      if (o.useCa) {
        mkdirSync(join(dir, `ca${i}`), { recursive: true });
        file(`ca${i}/index.txt`, '');
        file(`ca${i}.cnf`, [
          '[ca]', 'default_ca = root',
          '[root]', `dir = ./ca${i}`, 'database = $dir/index.txt', 'new_certs_dir = $dir', 'certificate = root.pem', 'private_key = root.key',
          'rand_serial = yes', 'default_md = sha256', `default_days = ${o.days ?? 20}`, 'policy = any', 'copy_extensions = none', 'unique_subject = no',
          '[any]', 'commonName = supplied', 'organizationName = optional', '',
        ].join('\n'));
        run(['ca', '-batch', '-config', `ca${i}.cnf`, '-in', `int${i}.csr`, '-out', `int${i}.pem`, '-extfile', `int${i}.ext`, '-notext']);
      } else {
        run(['x509', '-req', '-in', `int${i}.csr`, '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', `int${i}.pem`,
          '-days', String(o.days ?? 20), '-sha256', '-extfile', `int${i}.ext`]);
      }
      return readFileSync(join(dir, `int${i}.pem`), 'utf8');
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An existing CA made by openssl (self-signed, with its key), for `ca import --cert --key`. */
export function opensslExistingCa(root: OpensslRoot, name: string, o: { days?: number; ca?: boolean; keyUsage?: string } = {}): { certPem: string; keyPem: string } {
  root.file(`${name}.ext`, CA_EXT(o));
  root.run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', String(o.days ?? 30),
    '-subj', `/CN=${name}`, '-extensions', 'v3', '-config', root.file(`${name}.cnf`, `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${CA_EXT(o)}`)]);
  return { certPem: readFileSync(join(root.dir, `${name}.pem`), 'utf8'), keyPem: readFileSync(join(root.dir, `${name}.key`), 'utf8') };
}

/** A root run by @peculiar/x509 that signs a PKCS#10 request as an intermediate CA. */
export async function peculiarRoot(now: Date): Promise<{ rootDer: Uint8Array; rootPem: string; sign(csrPem: string): Promise<string> }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const alg = signingAlgorithm(privateKey);
  const name = new x509.Name('CN=Peculiar Root,O=Example');
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const ski = await x509.SubjectKeyIdentifierExtension.create(spki.slice().buffer as ArrayBuffer, false, webCrypto);
  const root = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(), subject: name, issuer: name,
    notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 30 * 86_400_000),
    signingAlgorithm: alg, publicKey: spki.slice().buffer as ArrayBuffer, signingKey: toSigningCryptoKey(privateKey),
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), ski],
  }, webCrypto);
  const rootDer = new Uint8Array(root.rawData);
  return {
    rootDer,
    rootPem: toPem('CERTIFICATE', rootDer),
    async sign(csrPem) {
      const csr = new x509.Pkcs10CertificateRequest(Buffer.from(fromPem(csrPem, 'CERTIFICATE REQUEST')[0]!));
      if (!(await csr.verify(webCrypto))) throw new Error('CSR signature');
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerialHex(), subject: csr.subjectName, issuer: name,
        notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 20 * 86_400_000),
        signingAlgorithm: alg, publicKey: csr.publicKey.rawData, signingKey: toSigningCryptoKey(privateKey),
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(csr.publicKey.rawData, false, webCrypto),
          new x509.AuthorityKeyIdentifierExtension(ski.keyId, false),
        ],
      }, webCrypto);
      return toPem('CERTIFICATE', new Uint8Array(cert.rawData));
    },
  };
}

export type { KeyObject };
