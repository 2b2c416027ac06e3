import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('bin/rampart.js', () => {
  it('runs the CLI under Node type stripping', () => {
    const out = execFileSync(process.execPath, [path.join(root, 'bin', 'rampart.js'), '--help'], { encoding: 'utf8' });
    assert.match(out, /Usage: rampart/);
    assert.match(out, /devices/);
  });
  it('exits non-zero with one line on error', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'rampart.js'), 'devices', 'list', '--url', 'http://198.51.100.7:9443', '--token', 'rmp_x'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'rampart: refusing to send a token over plain http to a non-loopback address; use https\n');
  });
});
