// Test support (not a module of the server): PKCS#12 files made by the
// `openssl pkcs12 -export` command line, an implementation independent of ours.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when this OpenSSL can still write RC2 (the legacy provider is installed). */
export function opensslHasLegacy(): boolean {
  try {
    execFileSync('openssl', ['list', '-providers', '-provider', 'legacy'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `openssl pkcs12 -export` of `certPem` + `keyPem` (and `extraPem` as -certfile)
 * with `password` (passed through a file) and extra arguments (-legacy, -descert, ...).
 */
export function opensslP12(opts: { certPem: string; keyPem?: string; extraPem?: string; password: string; args?: string[] }): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-p12-'));
  try {
    const p = (n: string): string => join(dir, n);
    writeFileSync(p('cert.pem'), opts.certPem);
    writeFileSync(p('pw'), opts.password);
    const args = ['pkcs12', '-export', '-in', p('cert.pem'), '-out', p('out.p12'), '-passout', `file:${p('pw')}`];
    if (opts.keyPem !== undefined) {
      writeFileSync(p('key.pem'), opts.keyPem);
      args.push('-inkey', p('key.pem'));
    } else {
      args.push('-nokeys');
    }
    if (opts.extraPem !== undefined) {
      writeFileSync(p('extra.pem'), opts.extraPem);
      args.push('-certfile', p('extra.pem'));
    }
    args.push(...(opts.args ?? []));
    // An empty password file reads as "no password" with file:, so use pass: for it.
    if (opts.password === '') args.splice(args.indexOf(`file:${p('pw')}`), 1, 'pass:');
    execFileSync('openssl', args, { stdio: 'pipe' });
    return new Uint8Array(readFileSync(p('out.p12')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `openssl pkcs12 -info` says about a file's algorithms (it prints them on stderr). */
export function opensslP12Info(p12: Uint8Array, password: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-p12-'));
  try {
    writeFileSync(join(dir, 'in.p12'), p12);
    writeFileSync(join(dir, 'pw'), password);
    const r = spawnSync('openssl', ['pkcs12', '-info', '-noout', '-legacy', '-in', join(dir, 'in.p12'), '-passin', password === '' ? 'pass:' : `file:${join(dir, 'pw')}`], { stdio: 'pipe' });
    return `${r.stdout.toString()}${r.stderr.toString()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
