// SCEP benchmark (not a test): core CPU time of one PKCSReq, split into the
// pure protocol work (parse + signature check, RSA PKCS#1 v1.5 decryption,
// CSR check, CertRep build and encryption) and the whole service call
// (challenge use on SQLite, identity issuance, audit records, CertRep).
//   ./node_modules/.bin/node bench/scep.ts [--n 200]
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openSqliteStorage } from '../src/storage/open.ts';
import { openTestAudit } from '../src/admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../src/keys/secret-box.ts';
import { loadOrCreateCa } from '../src/core/ca.ts';
import { setupEnrollment } from '../src/enroll/setup.ts';
import { loadOrCreateRa } from '../src/enroll/ra.ts';
import { readSignedProfile } from '../src/sim/enroll.ts';
import {
  buildCertRep, buildCsr, buildPkiMessage, buildSelfSignedCert, encodeName, openPkiEnvelope, parseCsr, parsePkiMessage,
} from '../src/protocol/scep/index.ts';
import type { Actor } from '../src/services/types.ts';

const i = process.argv.indexOf('--n');
const N = i >= 0 ? Number(process.argv[i + 1]) : 200;
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const ROOT: Actor = { type: 'admin', id: 'bench', permissions: new Set(['*']) };
const now = (): Date => new Date();

const opened = await openSqliteStorage(':memory:');
await opened.migrate();
const audit = await openTestAudit(now);
const box = createSecretBox(createKeyRing([{ id: 'k1', key: rnd(32) }], 'k1'));
const { ca } = await loadOrCreateCa({ settings: opened.storage.settings, sealer: box, now }, { commonName: 'Bench CA', validityDays: 3650 });
const e = await setupEnrollment({ opened, ca, sealer: box, audit, lookup: audit.log, now, baseUrl: () => 'https://mdm.bench', topic: () => 'com.apple.mgmt.External.bench', log: { warn: () => {}, error: () => {} } });
const raPem = (await e.ca.show(ROOT)).ra.pem;
const raDer = new Uint8Array(Buffer.from(raPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
const { ra: raMaterial } = await loadOrCreateRa({ settings: opened.storage.settings, sealer: box, now }, ca);

// Requests prepared in advance (client-side work is not measured).
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const reqs: Uint8Array[] = [];
for (let k = 0; k < N; k++) {
  const { token } = await e.invitations.create(ROOT, {});
  const challenge = readSignedProfile((await e.device.profile(token, { source: '127.0.0.1', requestId: 'b' })).body!).scep.challenge;
  const name = encodeName(`bench-${k}`);
  const signer = { certDer: buildSelfSignedCert({ privateKey: key, name, serial: rnd(8), notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) }), privateKey: key };
  reqs.push(buildPkiMessage({ messageType: 'PKCSReq', transactionId: `tx-${k}`, senderNonce: rnd(16), signer, recipientCertDer: raDer,
    csrDer: buildCsr({ privateKey: key, name, challengePassword: challenge }), cipher: 'aes-256-cbc', now: now(), random: rnd }));
}

let t0 = performance.now();
let c0 = process.cpuUsage();
for (const der of reqs) {
  const msg = parsePkiMessage(der);
  const { content } = openPkiEnvelope(msg, [raMaterial]);
  parseCsr(content);
  buildCertRep({ status: 'SUCCESS', certificates: [ca.certDer], cipher: 'aes-256-cbc', signer: raMaterial, chain: [ca.certDer], request: msg, senderNonce: rnd(16), now: now(), random: rnd });
}
let cpu = process.cpuUsage(c0);
console.log(`protocol only: ${((performance.now() - t0) / N).toFixed(2)} ms wall, ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms CPU per PKCSReq (N=${N})`);

t0 = performance.now();
c0 = process.cpuUsage();
let ok = 0;
for (const der of reqs) {
  const r = await e.device.scep('PKIOperation', der, { source: '127.0.0.1', requestId: 'b' });
  if (r.status === 200) ok++;
}
cpu = process.cpuUsage(c0);
console.log(`service (SQLite, audit log, issuance): ${((performance.now() - t0) / N).toFixed(2)} ms wall, ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms CPU per PKCSReq; ${ok}/${N} answered, ${(await e.store.list({ limit: 1000, status: 'used' })).length} invitations used`);
await audit.close();
await opened.close();
