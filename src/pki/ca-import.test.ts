// Checks of an imported CA against certificates made by the openssl command
// line and by @peculiar/x509: what is accepted, and every refusal.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { checkCaWithChain, createCaRequest, keyMatches, parsePrivateKeyPem } from './ca-import.ts';
import { opensslExistingCa, opensslRoot, peculiarRoot } from './external-root.test.ts';
import { toPem } from './pem.ts';

const root = opensslRoot();
after(() => root.close());
const now = new Date();
const status = (e: unknown): number | undefined => (e as { status?: number }).status;

test('an existing CA from openssl with its key is accepted; a key that does not match is not', () => {
  const ca = opensslExistingCa(root, 'existing');
  const c = checkCaWithChain(ca.certPem, undefined, now);
  assert.deepEqual(c.chain, []);
  assert.equal(keyMatches(c.publicSpki, parsePrivateKeyPem(ca.keyPem)), true);
  assert.equal(keyMatches(c.publicSpki, parsePrivateKeyPem(root.rootKeyPem)), false);
});

test('refused: not a CA, no keyCertSign, expired, two certificates, not PEM, encrypted or short keys', () => {
  const leaf = opensslExistingCa(root, 'leaf', { ca: false, keyUsage: 'digitalSignature' });
  assert.throws(() => checkCaWithChain(leaf.certPem, undefined, now), /not a CA certificate/);
  const noSign = opensslExistingCa(root, 'nosign', { keyUsage: 'cRLSign' });
  assert.throws(() => checkCaWithChain(noSign.certPem, undefined, now), /keyCertSign/);
  const later = new Date(now.getTime() + 40 * 86_400_000);
  assert.throws(() => checkCaWithChain(root.rootPem, undefined, later), /expired/);
  assert.throws(() => checkCaWithChain(root.rootPem + root.rootPem, undefined, now), /exactly one/);
  assert.throws(() => checkCaWithChain('hello', undefined, now), (e) => status(e) === 400);
  root.run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', 'short.key']);
  root.run(['pkey', '-in', 'root.key', '-aes256', '-passout', 'pass:secret', '-out', 'enc.key']);
  const short = root.run(['pkey', '-in', 'short.key']);
  const enc = root.run(['pkey', '-in', 'enc.key', '-passin', 'pass:secret', '-aes256', '-passout', 'pass:secret']);
  assert.throws(() => parsePrivateKeyPem(short), /2048/);
  assert.throws(() => parsePrivateKeyPem(enc), /unencrypted/);
  assert.throws(() => parsePrivateKeyPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), /invalid private key/);
});

test('our CSR signed by openssl (x509 -req and ca, -extfile) checks out with its chain; wrong chains do not', async () => {
  const { csrDer, privateKey } = await createCaRequest({ commonName: 'Rampart Intermediate', organization: 'Example' });
  const csrPem = toPem('CERTIFICATE REQUEST', csrDer);
  // openssl reads and verifies the request.
  root.file('ours.csr', csrPem);
  assert.match(root.run(['req', '-in', 'ours.csr', '-noout', '-verify', '-subject']), /CN\s*=\s*Rampart Intermediate/);
  for (const useCa of [false, true]) {
    const intPem = root.signIntermediate(csrPem, { pathlen: 0, useCa });
    const c = checkCaWithChain(intPem, root.rootPem, now);
    assert.equal(c.chain.length, 1);
    assert.equal(keyMatches(c.publicSpki, privateKey), true);
  }
  const intPem = root.signIntermediate(csrPem, { pathlen: 0 });
  // Another root did not sign it.
  const other = opensslRoot({ cn: 'Other Root' });
  try {
    assert.throws(() => checkCaWithChain(intPem, other.rootPem, now), /did not sign/);
  } finally {
    other.close();
  }
  // A chain whose top is an intermediate limited to path length 0 cannot have another CA below it.
  const { csrDer: csr2 } = await createCaRequest({ commonName: 'Second Level' });
  root.file('int-signer.key', privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  root.file('int-signer.pem', intPem);
  root.file('second.csr', toPem('CERTIFICATE REQUEST', csr2));
  root.file('second.ext', 'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n');
  root.run(['x509', '-req', '-in', 'second.csr', '-CA', 'int-signer.pem', '-CAkey', 'int-signer.key', '-CAcreateserial', '-out', 'second.pem', '-days', '5', '-extfile', 'second.ext']);
  const second = root.run(['x509', '-in', 'second.pem']);
  assert.throws(() => checkCaWithChain(second, intPem + root.rootPem, now), /path length/);
});

test('an intermediate signed by a @peculiar/x509 root (ECDSA) checks out', async () => {
  const ext = await peculiarRoot(now);
  const { csrDer, privateKey } = await createCaRequest({ commonName: 'Rampart Intermediate P' });
  const intPem = await ext.sign(toPem('CERTIFICATE REQUEST', csrDer));
  const c = checkCaWithChain(intPem, ext.rootPem, now);
  assert.equal(keyMatches(c.publicSpki, privateKey), true);
  assert.equal(keyMatches(c.publicSpki, createPrivateKey(root.rootKeyPem)), false);
  await assert.rejects(createCaRequest({ commonName: 'bad,name' }), /invalid common name/);
});
