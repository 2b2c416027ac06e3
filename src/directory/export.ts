// The plaintext export job: every live staff record as CSV, sealed to a
// recipient's X25519 public key, so the plaintext never exists on the server
// outside memory and never crosses the wire in clear.
//
// File format ("RAMPART-SEALED-1"):
//   magic "RSEAL1\n" | u16 BE header length | header (JSON) | nonce (12) | ciphertext | tag (16)
//   header: {"alg":"X25519-HKDF-SHA256-A256GCM","epk":<base64 ephemeral public key>,
//            "rcpt":<hex SHA-256 of the recipient public key, 16 chars>,"content":"text/csv","created":<ISO>}
//   key = HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = epk || recipient, info = "rampart-export/1")
//   AES-256-GCM, additional data = everything before the nonce.
// `rampart staff decrypt-export` opens it with the recipient's private key.
//
// The job runs only behind an ApprovalGate. In this branch the gate checks
// pii.export; the lead wires the four-eyes approval gate (admin-plane issue)
// at merge, without changes here.
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hash, hkdfSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { AuditRecorder } from '../audit/types.ts';
import { badRequest, forbidden, RampartError } from '../lib/errors.ts';
import { hasPermission } from '../services/command-policy.ts';
import type { Actor } from '../services/types.ts';
import { staffToCsvHeader, staffToCsvRow } from './csv.ts';
import { DIRECTORY_PERMISSIONS as P } from './permissions.ts';
import type { StaffDirectory } from './staff.ts';

const MAGIC = Buffer.from('RSEAL1\n', 'latin1');
const ALG = 'X25519-HKDF-SHA256-A256GCM';
// DER prefix of an X25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

export interface ApprovalRequest {
  action: 'pii.export';
  /** Ids and counts only: the recipient's fingerprint and its public key (never personal data). */
  details: { recipient: string; recipientKey: string };
}

/** The narrow dependency through which a bulk export is approved. */
export interface ApprovalGate {
  /** Resolves when `actor` may run the action now; throws RampartError otherwise. */
  approve(actor: Actor, request: ApprovalRequest): Promise<void>;
}

/** The pii.export permission alone; src/directory/export-approval.ts adds four-eyes approval on top. */
export function permissionGate(audit: AuditRecorder): ApprovalGate {
  return {
    async approve(actor, request) {
      if (hasPermission(actor, P.piiExport)) return;
      await audit.record({ action: request.action, actor: { type: actor.type, id: actor.id }, outcome: 'denied', details: { permission: P.piiExport, recipient: request.details.recipient } });
      throw forbidden('forbidden', `missing permission ${P.piiExport}`);
    },
  };
}

export function publicKeyFromBase64(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== b64) throw badRequest('invalid recipient key');
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(k: KeyObject): Buffer {
  return k.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
}

export const fingerprint = (raw: Uint8Array): string => hash('sha256', raw, 'hex').slice(0, 16);

export function generateRecipientKey(): { privatePem: string; publicB64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicB64: rawPublicKey(publicKey).toString('base64') };
}

function keyFor(shared: Buffer, epk: Buffer, rpk: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, rpk]), 'rampart-export/1', 32));
}

export function sealToRecipient(plaintext: Uint8Array, recipient: KeyObject, created: Date): Uint8Array {
  const eph = generateKeyPairSync('x25519');
  const epk = rawPublicKey(eph.publicKey);
  const rpk = rawPublicKey(recipient);
  const header = Buffer.from(JSON.stringify({ alg: ALG, epk: epk.toString('base64'), rcpt: fingerprint(rpk), content: 'text/csv', created: created.toISOString() }), 'utf8');
  const prefix = Buffer.concat([MAGIC, Buffer.from([header.length >> 8, header.length & 0xff]), header]);
  const key = keyFor(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), epk, rpk);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(prefix);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  key.fill(0);
  return Buffer.concat([prefix, nonce, body, c.getAuthTag()]);
}

export function openSealed(file: Uint8Array, privatePem: string): Uint8Array {
  const f = Buffer.from(file);
  const fail = (): RampartError => new RampartError('bad_request', 'export file cannot be opened');
  if (f.length < MAGIC.length + 2 || !f.subarray(0, MAGIC.length).equals(MAGIC)) throw fail();
  const hl = (f[MAGIC.length] as number) * 256 + (f[MAGIC.length + 1] as number);
  const start = MAGIC.length + 2;
  if (f.length < start + hl + 28) throw fail();
  let header: { alg?: unknown; epk?: unknown };
  try {
    header = JSON.parse(f.subarray(start, start + hl).toString('utf8')) as typeof header;
  } catch {
    throw fail();
  }
  if (header.alg !== ALG || typeof header.epk !== 'string') throw fail();
  let priv: KeyObject;
  try {
    priv = createPrivateKey(privatePem);
  } catch {
    throw new RampartError('bad_request', 'private key cannot be read');
  }
  const epk = Buffer.from(header.epk, 'base64');
  const rpk = rawPublicKey(createPublicKey(priv));
  const key = keyFor(diffieHellman({ privateKey: priv, publicKey: publicKeyFromBase64(header.epk) }), epk, rpk);
  const prefix = f.subarray(0, start + hl);
  const nonce = f.subarray(start + hl, start + hl + 12);
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(prefix);
    d.setAuthTag(f.subarray(f.length - 16));
    return Buffer.concat([d.update(f.subarray(start + hl + 12, f.length - 16)), d.final()]);
  } catch {
    throw fail();
  } finally {
    key.fill(0);
  }
}

/** Runs the export job: approval, audit, every live record as CSV, sealed to the recipient. */
export async function runExportJob(
  deps: { directory: StaffDirectory; gate: ApprovalGate; audit: AuditRecorder; now?: () => Date },
  actor: Actor,
  recipientB64: string,
): Promise<{ file: Uint8Array; rows: number; recipient: string }> {
  const recipient = publicKeyFromBase64(recipientB64);
  const fp = fingerprint(rawPublicKey(recipient));
  await deps.gate.approve(actor, { action: 'pii.export', details: { recipient: fp, recipientKey: recipientB64 } });
  await deps.audit.record({ action: 'pii.export', actor: { type: actor.type, id: actor.id }, ...(actor.source ? { source: actor.source } : {}), outcome: 'success', details: { recipient: fp } });
  const parts: string[] = [staffToCsvHeader()];
  let rows = 0;
  for await (const r of deps.directory.exportAll(actor)) {
    parts.push(staffToCsvRow(r));
    rows++;
  }
  const plain = Buffer.from(parts.join(''), 'utf8');
  try {
    return { file: sealToRecipient(plain, recipient, (deps.now ?? (() => new Date()))()), rows, recipient: fp };
  } finally {
    plain.fill(0);
  }
}
