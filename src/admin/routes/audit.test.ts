import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestStack } from '../testkit.ts';
import type { TestStack } from '../testkit.ts';
import { verifyConsistency, verifyInclusion } from '../../audit/merkle.ts';
import { generateNoteKey } from '../../audit/note.ts';
import { verifyLog } from '../../audit/verify.ts';
import type { AuditEvent } from '../../audit/types.ts';

const hexb = (h: string): Buffer => Buffer.from(h, 'hex');

describe('audit routes', () => {
  let s: TestStack;
  let auth: { authorization: string };
  const get = async (url: string, token?: string) =>
    s.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : auth });

  before(async () => {
    s = await createTestStack();
    auth = { authorization: `Bearer ${await s.tokenFor(['audit.read'])}` };
    for (let i = 0; i < 40; i++) {
      const e: AuditEvent = {
        action: i % 2 === 0 ? 'device.checkin' : 'command.enqueue',
        actor: { type: i % 4 === 0 ? 'admin' : 'device', id: `actor-${i % 5}` },
        source: `10.0.0.${i % 3}`,
        target: { type: 'device', id: `dev-${i % 7}` },
        outcome: i % 10 === 9 ? 'denied' : 'success',
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      };
      await s.audit.record(e);
    }
    await s.audit.log.checkpoint();
  });
  after(async () => {
    await s.close();
  });

  it('GET /audit/checkpoint returns the latest signed note', async () => {
    const res = await get('/api/v1/audit/checkpoint');
    assert.equal(res.statusCode, 200, res.body);
    const cp = res.json();
    const last = s.audit.log.lastCheckpoint!;
    assert.equal(cp.size, last.size);
    assert.equal(cp.rootHash, Buffer.from(last.rootHash).toString('hex'));
    assert.equal(cp.note, last.note);
    assert.equal(cp.origin, 'rampart.test/audit');
  });

  it('inclusion proofs verify against the checkpoint root, at the default and at an explicit size', async () => {
    const cp = (await get('/api/v1/audit/checkpoint')).json();
    for (const index of [0, 1, 17, cp.size - 1]) {
      const res = await get(`/api/v1/audit/proof/inclusion?index=${index}`);
      assert.equal(res.statusCode, 200, res.body);
      const p = res.json();
      assert.equal(p.size, cp.size);
      assert.ok(verifyInclusion(hexb(p.leafHash), index, p.size, p.proof.map(hexb), hexb(cp.rootHash)), `index ${index}`);
    }
    const small = (await get('/api/v1/audit/proof/inclusion?index=3&size=8')).json();
    assert.equal(small.proof.length, 3);
    const bad = await get(`/api/v1/audit/proof/inclusion?index=${cp.size}`);
    assert.equal(bad.statusCode, 400);
    assert.equal((await get('/api/v1/audit/proof/inclusion?index=1&size=100000')).statusCode, 400);
    for (const q of ['index=-1', 'index=01', 'index=1.5', 'index=x', '', 'index=1&extra=1']) {
      const r = await get(`/api/v1/audit/proof/inclusion?${q}`);
      assert.equal(r.statusCode, 400, q);
      assert.equal(r.json().error, 'bad_request');
    }
  });

  it('consistency proofs verify between two sizes', async () => {
    const cp = (await get('/api/v1/audit/checkpoint')).json();
    const old = await s.audit.log.store.listCheckpoints();
    assert.ok(old.length >= 1);
    // An older root computed from the store, then a proof from it to the latest checkpoint.
    const { treeRoot } = await import('../../audit/merkle.ts');
    for (const m of [1, 7, 16, 23, cp.size]) {
      const res = await get(`/api/v1/audit/proof/consistency?from=${m}`);
      assert.equal(res.statusCode, 200, res.body);
      const p = res.json();
      assert.equal(p.to, cp.size);
      const r1 = await treeRoot(s.audit.log.store, m);
      assert.ok(verifyConsistency(m, p.to, p.proof.map(hexb), r1, hexb(cp.rootHash)), `from ${m}`);
    }
    assert.equal((await get(`/api/v1/audit/proof/consistency?from=${cp.size + 1}`)).statusCode, 400);
    assert.equal((await get('/api/v1/audit/proof/consistency?from=2&to=1')).statusCode, 400);
  });

  it('search filters by time, actor, action, target, source, outcome, and pages with a cursor', async () => {
    const all: number[] = [];
    let after: string | null = null;
    do {
      const res = await get(`/api/v1/audit/entries?action=device.checkin&limit=7${after ? `&after=${after}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      for (const it of page.items) {
        assert.equal(it.entry.action, 'device.checkin');
        all.push(it.index);
      }
      after = page.next;
    } while (after !== null);
    assert.equal(all.length, 20);
    assert.deepEqual(all, [...all].sort((a, b) => a - b));

    const q = (qs: string) => get(`/api/v1/audit/entries?${qs}`).then((r) => r.json().items as { index: number; entry: Record<string, unknown> }[]);
    assert.ok((await q('actorId=actor-2')).every((x) => (x.entry.actor as { id: string }).id === 'actor-2'));
    assert.ok((await q('actorType=admin')).every((x) => (x.entry.actor as { type: string }).type === 'admin'));
    assert.ok((await q('targetId=dev-3&targetType=device')).every((x) => (x.entry.target as { id: string }).id === 'dev-3'));
    assert.equal((await q('outcome=denied')).length, 4);
    assert.ok((await q('source=10.0.0.1')).every((x) => x.entry.source === '10.0.0.1'));
    const window = await q('from=2026-01-01T00:00:10Z&to=2026-01-01T01:00:15%2B01:00');
    assert.deepEqual(window.map((x) => x.entry.time), [10, 11, 12, 13, 14].map((i) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()));
    assert.ok((await q('actionPrefix=command')).every((x) => x.entry.action === 'command.enqueue'));
    for (const bad of ['outcome=maybe', 'actorType=root', 'limit=0', 'limit=1001', 'from=yesterday', 'action=Bad', 'unknown=1']) {
      assert.equal((await get(`/api/v1/audit/entries?${bad}`)).statusCode, 400, bad);
    }
  });

  it('search and export are put on record; a token without audit.read is refused and recorded', async () => {
    const before = s.audit.events.length;
    await get('/api/v1/audit/entries?outcome=denied');
    const rec = s.audit.events.slice(before);
    assert.equal(rec.length, 1);
    assert.equal(rec[0]!.action, 'audit.search');
    assert.deepEqual(rec[0]!.details, { filters: ['outcome'], results: 4 });

    const other = await s.tokenFor(['devices.read']);
    for (const url of ['/api/v1/audit/checkpoint', '/api/v1/audit/entries', '/api/v1/audit/export', '/api/v1/audit/proof/inclusion?index=0']) {
      const n = s.audit.events.length;
      const res = await get(url, other);
      assert.equal(res.statusCode, 403, url);
      assert.equal(s.audit.events.at(-1)!.outcome, 'denied');
      assert.equal(s.audit.events.length, n + 1);
    }
  });

  it('export streams JSON Lines with the same filters; a full export verifies offline', async () => {
    const res = await get('/api/v1/audit/export?outcome=denied&action=command.enqueue');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/x-ndjson/);
    const lines = res.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 4);
    assert.ok(lines.every((l) => l.entry.outcome === 'denied' && /^[0-9a-f]{64}$/.test(l.leafHash)));

    await s.audit.log.checkpoint();
    const full = await get('/api/v1/audit/export');
    assert.equal(full.statusCode, 200);
    const dir = mkdtempSync(join(tmpdir(), 'audit-export-'));
    try {
      const file = join(dir, 'x.jsonl');
      writeFileSync(file, full.body);
      const body = full.body.trim().split('\n');
      const cps = body.filter((l) => l.startsWith('{"checkpoint":'));
      assert.ok(cps.length >= 1);
      const trusted = JSON.parse(cps[cps.length - 1]!).checkpoint as string;
      const r = await verifyLog(file, trusted, s.audit.verifierKey);
      assert.equal(r.ok, true, JSON.stringify(r.findings));
      assert.equal(r.size, s.audit.log.size);
      // Signed by another key: refused.
      await assert.rejects(verifyLog(file, trusted, generateNoteKey('rampart.test').verifierKey));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
