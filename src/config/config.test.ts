import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseListen } from './config.ts';

const base = { cwd: '/srv/rampart' };

test('development defaults: loopback listeners, data dir under the working directory', () => {
  const c = loadConfig({ ...base, env: {}, dev: true });
  assert.equal(c.dataDir, '/srv/rampart/data');
  assert.deepEqual(c.deviceListen, { host: '127.0.0.1', port: 8443 });
  assert.deepEqual(c.adminListen, { host: '127.0.0.1', port: 9443 });
  assert.equal(c.publicUrl, 'https://localhost:8443');
  assert.equal(c.databaseUrl, undefined);
});

test('environment overrides the file, and the file may not hold unknown keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-config-'));
  const file = path.join(dir, 'rampart.json');
  writeFileSync(file, JSON.stringify({ dataDir: '/var/lib/a', publicUrl: 'https://mdm.example.org' }));
  const c = loadConfig({ ...base, file, env: { RAMPART_DATA_DIR: '/var/lib/b' }, dev: true });
  assert.equal(c.dataDir, '/var/lib/b');
  assert.equal(c.publicUrl, 'https://mdm.example.org');
  writeFileSync(file, JSON.stringify({ dataDirr: '/x' }));
  assert.throws(() => loadConfig({ ...base, file, env: {}, dev: true }), (e: unknown) => e instanceof ConfigError && e.setting === 'dataDirr');
});

test('invalid settings are named', () => {
  const cases: [Record<string, string>, string][] = [
    [{ RAMPART_DEVICE_LISTEN: 'nonsense' }, 'RAMPART_DEVICE_LISTEN'],
    [{ RAMPART_ADMIN_LISTEN: '0.0.0.0:9443' }, 'RAMPART_ADMIN_LISTEN'],
    [{ RAMPART_PUBLIC_URL: 'http://mdm.example.org' }, 'RAMPART_PUBLIC_URL'],
    [{ RAMPART_DATABASE_URL: 'mysql://x' }, 'RAMPART_DATABASE_URL'],
    [{ RAMPART_MASTER_KEY: 'c2hvcnQ=' }, 'RAMPART_MASTER_KEY'],
    [{ RAMPART_MAX_BODY_BYTES: '12abc' }, 'RAMPART_MAX_BODY_BYTES'],
    [{ RAMPART_PROXY_CLIENT_CERT_HEADER: 'Client-Cert' }, 'RAMPART_TRUSTED_PROXIES'],
    [{ RAMPART_TRUSTED_PROXIES: '10.0.0.1,nope' }, 'RAMPART_TRUSTED_PROXIES'],
    [{ RAMPART_TRUST_PROXY: '10.0.0.0/8,nope' }, 'RAMPART_TRUST_PROXY'],
    [{ RAMPART_TRUST_PROXY: '10.0.0.0/33' }, 'RAMPART_TRUST_PROXY'],
    [{ RAMPART_TRUST_PROXY: '0.0.0.0/0' }, 'RAMPART_TRUST_PROXY'],
    [{ RAMPART_LOG_LEVEL: 'loud' }, 'RAMPART_LOG_LEVEL'],
    [{ RAMPART_TLS_CERT: '/x.pem' }, 'RAMPART_TLS_KEY'],
  ];
  for (const [env, setting] of cases) {
    assert.throws(
      () => loadConfig({ ...base, env, dev: true }),
      (e: unknown) => e instanceof ConfigError && e.setting === setting && e.message.includes(setting),
      `expected ${setting} to be named for ${JSON.stringify(env)}`,
    );
  }
});

test('admin reverse proxies (RAMPART_TRUST_PROXY): none by default; CIDRs or addresses, from the environment or a file list', () => {
  assert.deepEqual(loadConfig({ ...base, env: {}, dev: true }).trustProxy, []);
  assert.deepEqual(loadConfig({ ...base, env: { RAMPART_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7 ,2001:db8::/32' }, dev: true }).trustProxy, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-config-'));
  const file = path.join(dir, 'rampart.json');
  writeFileSync(file, JSON.stringify({ trustProxy: ['127.0.0.1/32'] }));
  assert.deepEqual(loadConfig({ ...base, file, env: {}, dev: true }).trustProxy, ['127.0.0.1/32']);
});

test('production mode requires a TLS certificate', () => {
  assert.throws(() => loadConfig({ ...base, env: {}, dev: false }), (e: unknown) => e instanceof ConfigError && e.setting === 'RAMPART_TLS_CERT');
  const c = loadConfig({ ...base, env: { RAMPART_TLS_CERT: '/c.pem', RAMPART_TLS_KEY: '/k.pem' }, dev: false });
  assert.deepEqual(c.deviceListen, { host: '0.0.0.0', port: 8443 });
});

test('listen addresses', () => {
  assert.deepEqual(parseListen('[::1]:443'), { host: '::1', port: 443 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.equal(parseListen('example.org:443'), undefined);
  assert.equal(parseListen('127.0.0.1:70000'), undefined);
});
