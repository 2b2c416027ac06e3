// Push certificate routes (permission push.manage; the service checks it again and audits).
import { Type } from 'typebox';
import { defineRoute } from '../types.ts';
import { notFound } from '../../lib/errors.ts';
import type { PushCertUpload } from '../../push/cert-service.ts';
import { ApprovalView } from './authz-schemas.ts';

const closed = { additionalProperties: false } as const;

export const PushCertificateView = Type.Object(
  {
    topic: Type.String(),
    notBefore: Type.String(),
    notAfter: Type.String(),
    sha256: Type.String(),
    issuer: Type.String(),
    uploadedAt: Type.String(),
    uploadedBy: Type.String(),
    state: Type.Union([Type.Literal('valid'), Type.Literal('expiring'), Type.Literal('expired'), Type.Literal('not_yet_valid')]),
    daysLeft: Type.Integer(),
  },
  closed,
);

const PemUploadBody = Type.Object(
  {
    certPem: Type.String({ minLength: 1, maxLength: 65_536 }),
    keyPem: Type.String({ minLength: 1, maxLength: 65_536 }),
    keyPassphrase: Type.Optional(Type.String({ maxLength: 1024 })),
    allowTopicChange: Type.Optional(Type.Boolean()),
  },
  closed,
);

/** base64 of at most MAX_PKCS12_BYTES (64 KiB). */
const P12_BASE64 = Type.String({ minLength: 4, maxLength: 87_384, pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$' });

const P12UploadBody = Type.Object(
  {
    /** The .p12 file exported from Keychain (or openssl pkcs12 -export), base64. */
    p12: P12_BASE64,
    p12Password: Type.String({ maxLength: 1024 }),
    allowTopicChange: Type.Optional(Type.Boolean()),
  },
  closed,
);

const UploadBody = Type.Union([PemUploadBody, P12UploadBody]);

export const uploadPushCertificateRoute = defineRoute({
  id: 'uploadPushCertificate',
  method: 'POST',
  url: '/api/v1/push/certificate',
  summary: 'Upload the APNs MDM push certificate and its private key (PEM pair, or a PKCS#12 .p12 file with its password); the key is sealed at rest',
  tags: ['push'],
  permission: 'push.manage',
  audit: 'push.certificate.upload',
  approval: 'push.certificate',
  // 202: staged, waiting for a second administrator's approval (four-eyes).
  schema: { body: UploadBody, response: { 201: PushCertificateView, 202: ApprovalView } },
  async handler({ actor, body, services }) {
    if (!services.push) throw notFound();
    let input: PushCertUpload;
    if ('p12' in body) {
      input = { p12: new Uint8Array(Buffer.from(body.p12, 'base64')), p12Password: body.p12Password };
    } else {
      input = { certPem: body.certPem, keyPem: body.keyPem };
      if (body.keyPassphrase !== undefined) input.keyPassphrase = body.keyPassphrase;
    }
    if (body.allowTopicChange !== undefined) input.allowTopicChange = body.allowTopicChange;
    return { status: 201, body: await services.push.upload(actor!, input) };
  },
});

export const getPushCertificateRoute = defineRoute({
  id: 'getPushCertificate',
  method: 'GET',
  url: '/api/v1/push/certificate',
  summary: 'The installed push certificate: topic, validity, fingerprint, state (never the key)',
  tags: ['push'],
  permission: 'push.manage',
  audit: 'push.certificate.read',
  schema: { response: { 200: PushCertificateView } },
  async handler({ actor, services }) {
    if (!services.push) throw notFound();
    return { status: 200, body: await services.push.show(actor!) };
  },
});
