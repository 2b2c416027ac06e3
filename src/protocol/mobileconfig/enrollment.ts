// The enrollment profile (.mobileconfig) an invitation serves: a SCEP payload
// with the invitation's one-time challenge, the MDM payload that uses the
// identity SCEP creates, and the CA certificate when the CA is private.
// Pure: builds the plist; signing is the caller's (CMS, src/protocol/cms/sign.ts).
import { buildPlist, type PlistDict } from '../plist/index.ts';

/** Everything a device may be asked to do (Apple's AccessRights bit mask, 1..4096 all set). */
export const ALL_ACCESS_RIGHTS = 8191;

export type EnrollmentProfileInput = {
  /** Base of PayloadIdentifier, reverse DNS, e.g. "org.example.rampart". */
  identifier: string;
  organization: string;
  displayName: string;
  /** Fresh UUIDs (upper-case) for the profile and its payloads. */
  uuids: { profile: string; scep: string; mdm: string; ca: string; intermediates?: string[] };
  scep: { url: string; challenge: string; subjectCommonName: string; keySize: 2048 | 4096 };
  mdm: { serverUrl: string; checkInUrl: string; topic: string; accessRights?: number; serverCapabilities?: string[] };
  /** DER of the CA certificate, included as a root payload when the CA is private. */
  caCertDer?: Uint8Array;
  /** DER of intermediate CAs between the root and the issuing CA (issuing CA first), as certificate payloads. */
  intermediateCertsDer?: Uint8Array[];
};

const UUID_RE = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

function https(u: string, what: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`invalid ${what}`);
  }
  if (url.protocol !== 'https:') throw new Error(`${what} must be https`);
  return u;
}

export function buildEnrollmentProfile(p: EnrollmentProfileInput): Uint8Array {
  const { intermediates: intermediateUuids = [], ...single } = p.uuids;
  for (const u of [...Object.values(single), ...intermediateUuids]) if (!UUID_RE.test(u)) throw new Error('invalid payload UUID');
  const intermediates = p.intermediateCertsDer ?? [];
  if (intermediateUuids.length !== intermediates.length) throw new Error('one UUID per intermediate certificate');
  const id = p.identifier;
  const scep: PlistDict = {
    PayloadType: 'com.apple.security.scep',
    PayloadVersion: 1,
    PayloadIdentifier: `${id}.scep`,
    PayloadUUID: p.uuids.scep,
    PayloadDisplayName: 'Device identity',
    PayloadContent: {
      URL: https(p.scep.url, 'SCEP URL'),
      Name: p.organization,
      Subject: [[['CN', p.scep.subjectCommonName]], [['O', p.organization]]],
      Challenge: p.scep.challenge,
      Keysize: p.scep.keySize,
      'Key Type': 'RSA',
      'Key Usage': 5,
    },
  };
  const mdm: PlistDict = {
    PayloadType: 'com.apple.mdm',
    PayloadVersion: 1,
    PayloadIdentifier: `${id}.mdm`,
    PayloadUUID: p.uuids.mdm,
    PayloadDisplayName: 'Device management',
    IdentityCertificateUUID: p.uuids.scep,
    Topic: p.mdm.topic,
    ServerURL: https(p.mdm.serverUrl, 'server URL'),
    CheckInURL: https(p.mdm.checkInUrl, 'check-in URL'),
    SignMessage: true,
    CheckOutWhenRemoved: true,
    AccessRights: p.mdm.accessRights ?? ALL_ACCESS_RIGHTS,
    ServerCapabilities: p.mdm.serverCapabilities ?? ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstrap-token'],
  };
  const content: PlistDict[] = [];
  if (p.caCertDer) {
    content.push({
      PayloadType: 'com.apple.security.root',
      PayloadVersion: 1,
      PayloadIdentifier: `${id}.ca`,
      PayloadUUID: p.uuids.ca,
      PayloadDisplayName: `${p.organization} CA`,
      PayloadContent: Uint8Array.from(p.caCertDer),
    });
  }
  intermediates.forEach((der, i) => {
    content.push({
      PayloadType: 'com.apple.security.pkcs1',
      PayloadVersion: 1,
      PayloadIdentifier: `${id}.ca.intermediate.${i + 1}`,
      PayloadUUID: intermediateUuids[i]!,
      PayloadDisplayName: `${p.organization} intermediate CA ${i + 1}`,
      PayloadContent: Uint8Array.from(der),
    });
  });
  content.push(scep, mdm);
  return buildPlist({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: id,
    PayloadUUID: p.uuids.profile,
    PayloadDisplayName: p.displayName,
    PayloadOrganization: p.organization,
    PayloadDescription: 'Enrolls this device in device management.',
    PayloadContent: content,
  });
}
