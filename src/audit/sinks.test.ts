import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { FileCheckpointSink, WebhookCheckpointSink, readCheckpointFile } from './sinks.ts';
import { AuditLog } from './log.ts';
import { generateNoteKey, openCheckpoint, parseSignerKey, parseVerifierKey } from './note.ts';
import { sqliteStore, tempDir } from './testdata/helpers.ts';

const cp = (size: number) => ({ size, rootHash: Buffer.alloc(32, size), note: `o\n${size}\nx\n\n\u2014 k abc\n`, createdAt: '2025-01-01T00:00:00.000Z' });

test('file sink appends one JSON line per checkpoint and survives a torn tail', async () => {
  const td = tempDir();
  try {
    const p = join(td.dir, 'cps.jsonl');
    const sink = new FileCheckpointSink(p);
    await sink.publish(cp(1));
    await sink.publish(cp(2));
    appendFileSync(p, '{"size":3,"no'); // crash mid-write
    assert.deepEqual(readCheckpointFile(p).map((c) => c.size), [1, 2]);
    assert.equal(readFileSync(p, 'utf8').split('\n').length, 3);
  } finally {
    td.cleanup();
  }
});

test('webhook sink POSTs each signed checkpoint over HTTPS, in order', async () => {
  const td = tempDir();
  const k = join(td.dir, 'key.pem');
  const c = join(td.dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', k, '-out', c, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const cert = readFileSync(c, 'utf8');
  const notes: string[] = [];
  const srv = createServer({ key: readFileSync(k), cert }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      if (req.headers['content-type']?.startsWith('text/plain')) notes.push(body);
      res.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `https://localhost:${(srv.address() as AddressInfo).port}/checkpoints`;
  const fx = await sqliteStore();
  const key = generateNoteKey('rampart.test/audit');
  try {
    // Untrusted certificate: refused (errors reported, log unaffected).
    const errors: string[] = [];
    const log = await AuditLog.open({
      store: fx.store, origin: 'rampart.test/audit', signer: parseSignerKey(key.signerKey),
      sinks: [new WebhookCheckpointSink({ url, ca: cert }), new WebhookCheckpointSink({ url })],
      onError: (_e, where) => errors.push(where),
    });
    await log.record({ action: 'admin.login', actor: { type: 'admin', id: 'a' }, outcome: 'success' });
    await log.checkpoint();
    await log.record({ action: 'admin.logout', actor: { type: 'admin', id: 'a' }, outcome: 'success' });
    await log.close();
    assert.equal(notes.length, 2);
    assert.deepEqual(notes.map((n) => openCheckpoint(n, parseVerifierKey(key.verifierKey)).size), [1, 2]);
    assert.equal(errors.length, 2);
    assert.match(errors[0]!, /^sink webhook:localhost/);
    assert.throws(() => new WebhookCheckpointSink({ url: 'http://localhost/' }), /https/);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    await fx.cleanup();
    td.cleanup();
  }
});
