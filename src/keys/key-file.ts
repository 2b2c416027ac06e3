// Key-encryption keys in a local file (I/O helper).
//
// File: JSON, mode 0600, owned by the user running Rampart:
//   {"format":"rampart-keyring","version":1,"active":"<id>",
//    "keys":[{"id":"<id>","key":"<base64 of 32 bytes>","createdAt":"<ISO>"}]}
// A file that group or others can read, that is a symbolic link, or that is
// owned by someone else is refused.

import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { RampartError } from '../lib/errors.ts';
import { KEY_BYTES, KEY_ID_RE, createKeyRing } from './secret-box.ts';
import type { KeyRing } from './secret-box.ts';

const FORMAT = 'rampart-keyring';
const MAX_FILE_BYTES = 64 * 1024;

type KeyFileEntry = { id: string; key: string; createdAt: string };
type KeyFileJson = { format: string; version: number; active: string; keys: KeyFileEntry[] };

const fail = (message: string, detail?: string): RampartError => new RampartError('internal', message, detail);

function newEntry(now: Date): KeyFileEntry {
  const stamp = now.toISOString().replace(/[-:]/g, '').slice(0, 15);
  return {
    id: `k${stamp}-${randomBytes(3).toString('hex')}`,
    key: randomBytes(KEY_BYTES).toString('base64'),
    createdAt: now.toISOString(),
  };
}

function toKeyRing(json: unknown): KeyRing {
  const bad = (): RampartError => fail('key file is malformed');
  if (typeof json !== 'object' || json === null) throw bad();
  const j = json as Partial<KeyFileJson>;
  if (j.format !== FORMAT || j.version !== 1 || typeof j.active !== 'string' || !Array.isArray(j.keys)) throw bad();
  if (j.keys.length === 0 || j.keys.length > 256) throw bad();
  const keys = j.keys.map((e: unknown) => {
    const k = e as Partial<KeyFileEntry>;
    if (typeof k !== 'object' || k === null || typeof k.id !== 'string' || !KEY_ID_RE.test(k.id)) throw bad();
    if (typeof k.key !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(k.key)) throw bad();
    const key = new Uint8Array(Buffer.from(k.key, 'base64'));
    if (key.length !== KEY_BYTES) throw bad();
    return { id: k.id, key };
  });
  try {
    return createKeyRing(keys, j.active);
  } catch (e) {
    throw fail('key file is malformed', e instanceof Error ? e.message : undefined);
  }
}

async function readKeyFile(path: string): Promise<KeyFileJson & { ring: KeyRing }> {
  // O_NOFOLLOW: a symbolic link in place of the key file is refused; checks run
  // on the opened descriptor so the file cannot be swapped in between.
  const fh = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw fail('key file is not a regular file');
    if (process.platform !== 'win32') {
      if ((st.mode & 0o077) !== 0) {
        throw fail('key file must not be accessible by group or others (chmod 600)');
      }
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) throw fail('key file must be owned by the user running Rampart');
    }
    if (st.size > MAX_FILE_BYTES) throw fail('key file is malformed');
    const text = await fh.readFile({ encoding: 'utf8' });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw fail('key file is malformed');
    }
    const ring = toKeyRing(json);
    return { ...(json as KeyFileJson), ring };
  } finally {
    await fh.close();
  }
}

/** Writes a new file that must not exist yet (O_EXCL), mode 0600, synced. */
async function writeNew(path: string, data: KeyFileJson): Promise<void> {
  const fh = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(data, null, 2)}\n`, { encoding: 'utf8' });
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

/** Loads the key ring from `path`, creating the file with one fresh key if it does not exist. */
export async function loadOrCreateKeyFile(path: string, now: Date = new Date()): Promise<KeyRing> {
  try {
    return (await readKeyFile(path)).ring;
  } catch (e) {
    if (!isNotFound(e)) {
      if (e instanceof RampartError) throw e;
      throw fail('key file cannot be read', e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined);
    }
  }
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const entry = newEntry(now);
  try {
    await writeNew(path, { format: FORMAT, version: 1, active: entry.id, keys: [entry] });
  } catch (e) {
    // Another process created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fail('key file cannot be created', (e as NodeJS.ErrnoException).code);
  }
  return (await readKeyFile(path)).ring;
}

/**
 * Adds a fresh key to the file and makes it active; older keys stay so that
 * existing sealed values still open. Replaces the file atomically.
 */
export async function rotateKeyFile(path: string, now: Date = new Date()): Promise<KeyRing> {
  const current = await readKeyFile(path);
  const entry = newEntry(now);
  const next: KeyFileJson = { format: FORMAT, version: 1, active: entry.id, keys: [...current.keys, entry] };
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeNew(tmp, next);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw fail('key file cannot be written', (e as NodeJS.ErrnoException).code);
  }
  return toKeyRing(next);
}
