// openAudit wired from the configuration: checkpoints reach the file, a TLS
// syslog collector and an HTTPS webhook; entries reach the SIEM syslog and
// the HMAC-signed SIEM webhook. All receivers are local servers started here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig, ConfigError } from '../config/config.ts';
import { openSqliteStorage } from '../storage/open.ts';
import { openKeys } from './keys.ts';
import { openAudit } from './audit.ts';
import { openCheckpoint, parseVerifierKey } from '../audit/note.ts';
import { parseOctetFrames, SIGNATURE_HEADER, webhookSignature } from '../audit/siem.ts';
import { readCheckpointFile } from '../audit/sinks.ts';

const until = async (cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('audit settings are validated and name the bad setting', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-auditcfg-'));
  try {
    const base = { RAMPART_DATA_DIR: dir };
    const c = loadConfig({ env: base, dev: true });
    assert.equal(c.audit.checkpointFile, path.join(dir, 'audit-checkpoints.log'));
    assert.equal(c.audit.siemSyslog, undefined);
    const bad: [Record<string, string>, string][] = [
      [{ RAMPART_AUDIT_CHECKPOINT_WEBHOOK: 'http://witness.example/' }, 'RAMPART_AUDIT_CHECKPOINT_WEBHOOK'],
      [{ RAMPART_AUDIT_CHECKPOINT_SYSLOG: 'collector' }, 'RAMPART_AUDIT_CHECKPOINT_SYSLOG'],
      [{ RAMPART_AUDIT_SIEM_SYSLOG: 'collector:99999' }, 'RAMPART_AUDIT_SIEM_SYSLOG'],
      [{ RAMPART_AUDIT_SIEM_WEBHOOK: 'https://siem.example/in' }, 'RAMPART_AUDIT_SIEM_WEBHOOK_SECRET'],
      [{ RAMPART_AUDIT_SIEM_WEBHOOK: 'https://siem.example/in', RAMPART_AUDIT_SIEM_WEBHOOK_SECRET: 'short' }, 'RAMPART_AUDIT_SIEM_WEBHOOK_SECRET'],
      [{ RAMPART_AUDIT_SIEM_WEBHOOK_SECRET: 'x'.repeat(40) }, 'RAMPART_AUDIT_SIEM_WEBHOOK_SECRET'],
      [{ RAMPART_AUDIT_TLS_CA: path.join(dir, 'missing.pem') }, 'RAMPART_AUDIT_TLS_CA'],
    ];
    for (const [env, setting] of bad) {
      assert.throws(() => loadConfig({ env: { ...base, ...env }, dev: true }), (e: unknown) => e instanceof ConfigError && e.setting === setting, JSON.stringify(env));
    }
    const ok = loadConfig({
      env: { ...base, RAMPART_AUDIT_CHECKPOINT_FILE: '/mnt/witness/cp.log', RAMPART_AUDIT_CHECKPOINT_SYSLOG: 'logs.example:6514', RAMPART_AUDIT_SIEM_SYSLOG: '[::1]:6514' },
      dev: true,
    });
    assert.equal(ok.audit.checkpointFile, '/mnt/witness/cp.log');
    assert.deepEqual(ok.audit.checkpointSyslog, { host: 'logs.example', port: 6514 });
    assert.deepEqual(ok.audit.siemSyslog, { host: '::1', port: 6514 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('openAudit sends checkpoints to file, syslog and webhook, and entries to both SIEMs', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-auditwire-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'),
    '-out', path.join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const tls = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'ca.pem')) };
  const syslog: string[] = [];
  const sockets = new Set<Socket>();
  const collector = createTlsServer(tls, (s) => {
    sockets.add(s);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      const p = parseOctetFrames(Buffer.concat([buf, d]));
      buf = p.rest;
      syslog.push(...p.messages);
    });
  });
  const secret = 'k'.repeat(40);
  const witness: string[] = [];
  const siem: number[] = [];
  const https = createHttpsServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/witness') witness.push(body);
      else {
        const sig = String(req.headers[SIGNATURE_HEADER]);
        assert.equal(sig, webhookSignature(secret, Number(/^t=(\d+)/.exec(sig)?.[1]), body));
        siem.push(...(JSON.parse(body) as { entries: { index: number }[] }).entries.map((e) => e.index));
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  const sp = (collector.address() as AddressInfo).port;
  const hp = (https.address() as AddressInfo).port;
  const config = loadConfig({
    dev: true,
    env: {
      RAMPART_DATA_DIR: dir,
      RAMPART_AUDIT_CHECKPOINT_FILE: path.join(dir, 'other-mount-checkpoints.log'),
      RAMPART_AUDIT_CHECKPOINT_SYSLOG: `localhost:${sp}`,
      RAMPART_AUDIT_CHECKPOINT_WEBHOOK: `https://localhost:${hp}/witness`,
      RAMPART_AUDIT_SIEM_SYSLOG: `localhost:${sp}`,
      RAMPART_AUDIT_SIEM_WEBHOOK: `https://localhost:${hp}/siem`,
      RAMPART_AUDIT_SIEM_WEBHOOK_SECRET: secret,
      RAMPART_AUDIT_TLS_CA: path.join(dir, 'ca.pem'),
    },
  });
  const opened = await openSqliteStorage(path.join(dir, 'rampart.db'));
  await opened.migrate();
  const { sealer } = await openKeys(config);
  const audit = await openAudit(config, opened, sealer, pino({ level: 'silent' }));
  try {
    for (let i = 0; i < 12; i++) await audit.recorder.record({ action: 'admin.login', actor: { type: 'admin', id: `a${i}` }, outcome: 'success' });
    const cp = await audit.log.checkpoint();
    await audit.log.sinksIdle();
    assert.ok(cp);
    const verifier = parseVerifierKey(audit.verifierKey);
    // File sink (the configured path), syslog collector and webhook witness each hold the signed note.
    const fromFile = readCheckpointFile(config.audit.checkpointFile);
    assert.equal(fromFile.at(-1)!.note, cp.note);
    assert.equal(openCheckpoint(fromFile.at(-1)!.note, verifier).size, 12);
    await until(() => witness.includes(cp.note));
    await until(() => syslog.some((m) => m.includes(' checkpoint ') && m.endsWith(cp.note)));
    const sysCp = syslog.find((m) => m.includes(' checkpoint '))!;
    assert.match(sysCp, /^<109>1 \S+ \S+ rampart - checkpoint \[rampart@32473 size="\d+" rootHash="[0-9a-f]{64}"\] \ufeff/);
    // SIEM: all 12 entries, in order, on both transports.
    await until(() => siem.length >= 12);
    assert.deepEqual(siem.slice(0, 12), Array.from({ length: 12 }, (_, i) => i));
    await until(() => syslog.filter((m) => m.includes(' admin.login ')).length >= 12);
    const idx = syslog.filter((m) => m.includes(' admin.login ')).map((m) => Number(/index="(\d+)"/.exec(m)![1]));
    assert.deepEqual(idx.slice(0, 12), Array.from({ length: 12 }, (_, i) => i));
  } finally {
    await audit.close();
    await opened.close();
    await new Promise<void>((r) => https.close(() => r()));
    await new Promise<void>((r) => {
      collector.close(() => r());
      for (const s of sockets) s.destroy();
    });
    rmSync(dir, { recursive: true, force: true });
  }
});
