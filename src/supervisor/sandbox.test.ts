import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { APP_ROOT, gatewayEnv, gatewayExecArgv } from './gateway-process.ts';

test('code running inside the gateway sandbox cannot spawn, write, read secrets, open the database or eval', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rampart-sandbox-'));
  const dbFile = path.join(dataDir, 'rampart.db');
  const db = new DatabaseSync(dbFile);
  db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)');
  db.close();
  const secretFile = path.join(dataDir, 'master.key');
  writeFileSync(secretFile, 'secret', { mode: 0o600 });
  process.env.RAMPART_MASTER_KEY_TEST = 'must-not-leak';
  const child = fork(path.join(APP_ROOT, 'src', 'supervisor', 'sandbox-probe.ts'), [], {
    execArgv: gatewayExecArgv(),
    env: gatewayEnv(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const results = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Record<string, string>));
    child.once('exit', (code) => reject(new Error(`probe exited ${code}: ${stderr}`)));
    child.send({ dataDir, dbFile, secretFile });
  });
  delete process.env.RAMPART_MASTER_KEY_TEST;

  for (const [what, outcome] of Object.entries(results)) {
    assert.notEqual(outcome, 'allowed', `the sandbox allowed ${what}`);
  }
  assert.equal(results.spawn, 'ERR_ACCESS_DENIED');
  assert.equal(results.writeFile, 'ERR_ACCESS_DENIED');
  assert.equal(results.readSecret, 'ERR_ACCESS_DENIED');
  assert.equal(results.sqlite, 'ERR_UNKNOWN_BUILTIN_MODULE');
  assert.equal(results.secretsInEnv, 'absent');
  assert.equal(existsSync(path.join(dataDir, 'pwned')), false);
  assert.equal(existsSync('/tmp/rampart-gateway-pwned'), false);
});
