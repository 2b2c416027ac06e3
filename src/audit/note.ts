// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and the
// tlog-checkpoint body (c2sp.org/tlog-checkpoint) the audit log signs.
//
//   <origin>\n<size>\n<base64 root hash>\n[extension lines]\n
//   \n
//   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\n
//
// key id = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].
// Verifier keys: "<name>+<8 hex key id>+<base64(0x01 || public key)>";
// signer keys:   "PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>"
// (the format of golang.org/x/mod/sumdb/note, so other tooling interoperates).

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export class NoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoteError';
  }
}

const ALG_ED25519 = 0x01;
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const MAX_NOTE_BYTES = 1 << 20;
const MAX_SIGNATURES = 100;
const SIG_PREFIX = '\u2014 ';

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !/[\u0000-\u001f\u007f]/.test(name);
}

export function keyId(name: string, alg: number, publicKey: Uint8Array): number {
  const h = createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, alg])).update(publicKey).digest();
  return h.readUInt32BE(0);
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

function strictBase64(s: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) throw new NoteError('malformed base64');
  return Buffer.from(s, 'base64');
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

function rawSeed(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return der.subarray(der.length - 32);
}

export function ed25519Signer(name: string, privateKey: KeyObject): NoteSigner {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new NoteError('not an Ed25519 key');
  const id = keyId(name, ALG_ED25519, rawPublicKey(privateKey));
  return { name, keyId: id, sign: (m) => edSign(null, m, privateKey) };
}

export function ed25519Verifier(name: string, publicKey: Uint8Array): NoteVerifier {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  if (publicKey.length !== 32) throw new NoteError('invalid Ed25519 public key');
  const key = publicKeyFromRaw(publicKey);
  const id = keyId(name, ALG_ED25519, publicKey);
  return { name, keyId: id, verify: (m, s) => s.length === 64 && edVerify(null, m, key, s) };
}

/** Parse "<name>+<hex id>+<base64(0x01 || key)>". The id must match the key. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey);
  if (!m) throw new NoteError('malformed verifier key');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  const material = strictBase64(b64);
  if (material.length !== 33 || material[0] !== ALG_ED25519) throw new NoteError('unsupported verifier key');
  const v = ed25519Verifier(name, material.subarray(1));
  if (hex8(v.keyId) !== id) throw new NoteError('verifier key id does not match key');
  return v;
}

/** Parse "PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>". */
export function parseSignerKey(skey: string): NoteSigner {
  const m = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(skey);
  if (!m) throw new NoteError('malformed signer key');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  const material = strictBase64(b64);
  if (material.length !== 33 || material[0] !== ALG_ED25519) throw new NoteError('unsupported signer key');
  const s = ed25519Signer(name, privateKeyFromSeed(material.subarray(1)));
  if (hex8(s.keyId) !== id) throw new NoteError('signer key id does not match key');
  return s;
}

export function verifierKeyString(name: string, publicKey: Uint8Array): string {
  const v = ed25519Verifier(name, publicKey);
  return `${name}+${hex8(v.keyId)}+${Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]).toString('base64')}`;
}

/** A new Ed25519 key pair as signer and verifier key strings. */
export function generateNoteKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = rawPublicKey(publicKey);
  const id = hex8(keyId(name, ALG_ED25519, pub));
  const seed = rawSeed(privateKey);
  return {
    signerKey: `PRIVATE+KEY+${name}+${id}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64')}`,
    verifierKey: verifierKeyString(name, pub),
  };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new NoteError('note text must end with a newline');
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError('note text contains control characters');
  if (Buffer.byteLength(text, 'utf8') > MAX_NOTE_BYTES) throw new NoteError('note too large');
  // A JavaScript string encodes to valid UTF-8 unless it holds a lone surrogate.
  if (/\p{Cs}/u.test(text)) throw new NoteError('note text is not valid UTF-8');
}

/** Sign note text (ending in a newline) with each signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text);
  if (signers.length === 0) throw new NoteError('no signers');
  const msg = Buffer.from(text, 'utf8');
  let out = text + '\n';
  for (const s of signers) {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId, 0);
    out += `${SIG_PREFIX}${s.name} ${Buffer.concat([id, s.sign(msg)]).toString('base64')}\n`;
  }
  return out;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

/** Split a signed note into text and signature lines without verifying anything. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES + 64 * 1024) throw new NoteError('note too large');
  if (!note.endsWith('\n')) throw new NoteError('malformed note');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed note');
  const text = note.slice(0, split + 1);
  checkText(text);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('too many signatures');
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError('malformed signature line');
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp <= 0) throw new NoteError('malformed signature line');
    const name = rest.slice(0, sp);
    if (!isValidKeyName(name)) throw new NoteError('malformed signature line');
    const blob = strictBase64(rest.slice(sp + 1));
    if (blob.length < 5) throw new NoteError('malformed signature');
    signatures.push({ name, keyId: blob.readUInt32BE(0), signature: blob.subarray(4) });
  }
  return { text, signatures };
}

/**
 * Verify a signed note against trusted verifiers: signatures from unknown
 * keys are ignored; a known key whose signature does not verify rejects the
 * note; at least one known key must have signed. Returns the text.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): { text: string; verifiedBy: string[] } {
  const { text, signatures } = parseNote(note);
  const msg = Buffer.from(text, 'utf8');
  const verifiedBy: string[] = [];
  for (const sig of signatures) {
    const v = verifiers.find((x) => x.name === sig.name && x.keyId === sig.keyId);
    if (!v) continue;
    if (!v.verify(msg, sig.signature)) throw new NoteError('invalid signature');
    verifiedBy.push(v.name);
  }
  if (verifiedBy.length === 0) throw new NoteError('note not signed by a trusted key');
  return { text, verifiedBy };
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Optional extension lines (without newline). */
  extensions?: string[];
}

export function formatCheckpoint(cp: Checkpoint): string {
  if (cp.origin.length === 0 || /[\n\r]/.test(cp.origin)) throw new NoteError('invalid origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new NoteError('invalid tree size');
  if (cp.rootHash.length !== 32) throw new NoteError('invalid root hash');
  let out = `${cp.origin}\n${cp.size}\n${Buffer.from(cp.rootHash).toString('base64')}\n`;
  for (const e of cp.extensions ?? []) {
    if (e.length === 0 || e.includes('\n')) throw new NoteError('invalid extension line');
    out += e + '\n';
  }
  return out;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new NoteError('malformed checkpoint');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (origin.length === 0) throw new NoteError('malformed checkpoint');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new NoteError('malformed checkpoint size');
  const rootHash = strictBase64(rootLine);
  if (rootHash.length !== 32) throw new NoteError('malformed checkpoint root');
  const extensions = lines.slice(3, -1);
  if (extensions.some((e) => e.length === 0)) throw new NoteError('malformed checkpoint');
  return { origin, size: Number(sizeLine), rootHash, extensions };
}

export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/** Verify a signed checkpoint; when `origin` is given the checkpoint must be for that log. */
export function openCheckpoint(note: string, verifier: NoteVerifier | readonly NoteVerifier[], origin?: string): Checkpoint {
  const { text } = openNote(note, Array.isArray(verifier) ? verifier : [verifier as NoteVerifier]);
  const cp = parseCheckpoint(text);
  if (origin !== undefined && cp.origin !== origin) throw new NoteError('checkpoint is for another log');
  return cp;
}
