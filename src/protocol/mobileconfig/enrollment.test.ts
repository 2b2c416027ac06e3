// The enrollment profile's payloads, read back with the plist parser: the CA
// as a root payload, intermediates as certificate payloads, SCEP and MDM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parsePlistDict, isPlistDict } from '../plist/index.ts';
import { buildEnrollmentProfile, type EnrollmentProfileInput } from './enrollment.ts';

const U = (): string => randomUUID().toUpperCase();
const base = (): EnrollmentProfileInput => ({
  identifier: 'org.example.rampart',
  organization: 'Example',
  displayName: 'Example device management',
  uuids: { profile: U(), scep: U(), mdm: U(), ca: U() },
  scep: { url: 'https://mdm.example.org/scep', challenge: 'c', subjectCommonName: 'dev', keySize: 2048 },
  mdm: { serverUrl: 'https://mdm.example.org/mdm/connect', checkInUrl: 'https://mdm.example.org/mdm/checkin', topic: 'com.apple.mgmt.External.x' },
});

test('root payload for the root, a certificate payload per intermediate, then SCEP and MDM bound to it', () => {
  const root = new Uint8Array([0x30, 1, 2]);
  const ints = [new Uint8Array([0x30, 3]), new Uint8Array([0x30, 4])];
  const p = base();
  p.uuids.intermediates = [U(), U()];
  const dict = parsePlistDict(buildEnrollmentProfile({ ...p, caCertDer: root, intermediateCertsDer: ints }));
  const payloads = (dict.PayloadContent as unknown[]).filter(isPlistDict);
  assert.deepEqual(payloads.map((x) => x.PayloadType), ['com.apple.security.root', 'com.apple.security.pkcs1', 'com.apple.security.pkcs1', 'com.apple.security.scep', 'com.apple.mdm']);
  assert.deepEqual(payloads[0]!.PayloadContent, root);
  assert.deepEqual(payloads.slice(1, 3).map((x) => x.PayloadContent), ints);
  assert.deepEqual(payloads.slice(1, 3).map((x) => x.PayloadUUID), p.uuids.intermediates);
  assert.equal(new Set(payloads.map((x) => x.PayloadIdentifier)).size, payloads.length, 'identifiers are distinct');
  assert.equal(payloads[4]!.IdentityCertificateUUID, payloads[3]!.PayloadUUID);
});

test('without intermediates: as before; a missing or malformed UUID is refused', () => {
  const dict = parsePlistDict(buildEnrollmentProfile({ ...base(), caCertDer: new Uint8Array([0x30]) }));
  assert.deepEqual((dict.PayloadContent as unknown[]).filter(isPlistDict).map((x) => x.PayloadType), ['com.apple.security.root', 'com.apple.security.scep', 'com.apple.mdm']);
  assert.throws(() => buildEnrollmentProfile({ ...base(), intermediateCertsDer: [new Uint8Array([0x30])] }), /one UUID per intermediate/);
  const p = base();
  p.uuids.intermediates = ['not-a-uuid'];
  assert.throws(() => buildEnrollmentProfile({ ...p, intermediateCertsDer: [new Uint8Array([0x30])] }), /invalid payload UUID/);
});
