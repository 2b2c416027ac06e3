import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RampartError } from '../lib/errors.ts';
import { loadOrCreateKeyFile, rotateKeyFile } from './key-file.ts';
import { createSecretBox } from './secret-box.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const posix = process.platform !== 'win32';

describe('loadOrCreateKeyFile', () => {
  it('creates a 0600 file with one 32-byte key, then loads the same key', async () => {
    const p = join(dir, 'sub', 'master.key');
    const a = await loadOrCreateKeyFile(p);
    if (posix) assert.equal(statSync(p).mode & 0o777, 0o600);
    const json = JSON.parse(readFileSync(p, 'utf8'));
    assert.equal(json.format, 'rampart-keyring');
    assert.equal(Buffer.from(json.keys[0].key, 'base64').length, 32);
    const b = await loadOrCreateKeyFile(p);
    assert.equal(a.activeKeyId, b.activeKeyId);
    assert.deepEqual(createSecretBox(b).open(createSecretBox(a).seal(new Uint8Array([1]), 'x'), 'x'), new Uint8Array([1]));
  });

  it('refuses a file readable by group or others', { skip: !posix }, async () => {
    const p = join(dir, 'loose.key');
    await loadOrCreateKeyFile(p);
    chmodSync(p, 0o644);
    await assert.rejects(loadOrCreateKeyFile(p), (e: unknown) => e instanceof RampartError && /group or others/.test(e.message));
    chmodSync(p, 0o640);
    await assert.rejects(loadOrCreateKeyFile(p), RampartError);
  });

  it('refuses a symbolic link in place of the key file', { skip: !posix }, async () => {
    const target = join(dir, 'target.key');
    await loadOrCreateKeyFile(target);
    const link = join(dir, 'link.key');
    symlinkSync(target, link);
    await assert.rejects(loadOrCreateKeyFile(link), RampartError);
  });

  it('refuses malformed content without echoing it', async () => {
    const p = join(dir, 'bad.key');
    writeFileSync(p, '{"format":"rampart-keyring","version":1,"active":"a","keys":[{"id":"a","key":"c2VjcmV0"}]}', { mode: 0o600 });
    await assert.rejects(loadOrCreateKeyFile(p), (e: unknown) => e instanceof RampartError && e.message === 'key file is malformed');
    writeFileSync(p, 'not json', { mode: 0o600 });
    await assert.rejects(loadOrCreateKeyFile(p), (e: unknown) => e instanceof RampartError && !e.message.includes('not json'));
  });

  it('rotation adds an active key and keeps old ones', async () => {
    const p = join(dir, 'rot.key');
    const first = await loadOrCreateKeyFile(p, new Date('2030-01-01T00:00:00Z'));
    const sealed = createSecretBox(first).seal(new Uint8Array([9]), 'x');
    const second = await rotateKeyFile(p, new Date('2031-01-01T00:00:00Z'));
    assert.notEqual(second.activeKeyId, first.activeKeyId);
    const reloaded = await loadOrCreateKeyFile(p);
    assert.equal(reloaded.activeKeyId, second.activeKeyId);
    assert.deepEqual(createSecretBox(reloaded).open(sealed, 'x'), new Uint8Array([9]));
    if (posix) assert.equal(statSync(p).mode & 0o777, 0o600);
  });
});
