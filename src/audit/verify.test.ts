import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { AuditLog } from './log.ts';
import { generateNoteKey, parseSignerKey, signCheckpoint } from './note.ts';
import { writeExport } from './export.ts';
import { verifyLog } from './verify.ts';
import { buildEntry } from './entry.ts';
import { hashLeaf } from './merkle.ts';
import { sqliteStore, tempDir } from './testdata/helpers.ts';
import { createWriteStream } from 'node:fs';
import type { AuditEvent } from './types.ts';

const ORIGIN = 'rampart.test/audit';
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);
const ev = (i: number): AuditEvent => ({ action: 'admin.login', actor: { type: 'admin', id: `a${i % 3}` }, outcome: i % 4 ? 'success' : 'denied', details: { i } });

/** A log of n entries with a checkpoint; returns the export lines and the trusted checkpoint. */
async function fixture(n: number) {
  const fx = await sqliteStore();
  const log = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer });
  for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => log.record(ev(i + j))));
  const cp = await log.checkpoint();
  await log.close();
  const td = tempDir();
  const path = join(td.dir, 'export.jsonl');
  const out = createWriteStream(path);
  await writeExport(fx.store, out);
  await new Promise<void>((r) => out.end(r));
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  return { fx, td, path, lines, trusted: cp!.note, log };
}

const entryLines = (lines: string[]) => lines.filter((l) => l.startsWith('{"index"'));
const cpLines = (lines: string[]) => lines.filter((l) => l.startsWith('{"checkpoint"'));

async function verifyLines(td: { dir: string }, lines: string[], trusted: string) {
  const p = join(td.dir, `t${Math.random()}.jsonl`);
  writeFileSync(p, lines.join('\n') + '\n');
  return verifyLog(p, trusted, key.verifierKey);
}

test('an untouched log verifies offline (export) and live (store)', async () => {
  const f = await fixture(50);
  try {
    const off = await verifyLog(f.path, f.trusted, key.verifierKey);
    assert.deepEqual(off.findings, []);
    assert.equal(off.ok, true);
    assert.equal(off.size, 50);
    assert.ok(off.checkedSizes.includes(50));
    const live = await verifyLog(f.fx.store, f.trusted, key.verifierKey);
    assert.deepEqual(live.findings, []);
    assert.deepEqual(live.root, off.root);
  } finally {
    await f.fx.cleanup();
    f.td.cleanup();
  }
});

test('tampering with the export is detected and named', async () => {
  const f = await fixture(40);
  const E = entryLines(f.lines);
  const C = cpLines(f.lines);
  const parse = (l: string) => JSON.parse(l) as { index: number; leafHash: string; entry: Record<string, unknown> };
  try {
    // modified: content edited, leaf hash left alone
    {
      const L = [...E];
      const o = parse(L[5]!);
      o.entry.outcome = 'success';
      o.entry.details = { i: 999 };
      L[5] = JSON.stringify(o);
      const r = await verifyLines(f.td, [...L, ...C], f.trusted);
      assert.deepEqual(r.findings.filter((x) => x.kind !== 'checkpoint_mismatch'), [{ kind: 'modified', index: 5, position: 5, reason: 'leaf_hash' }]);
      assert.ok(r.findings.some((x) => x.kind === 'checkpoint_mismatch' && x.size === 40 && x.source === 'trusted'));
    }
    // modified with the leaf hash recomputed: the next entry's prev link names it
    {
      const L = [...E];
      const o = parse(L[7]!);
      o.entry.details = { i: -1 };
      const { canonicalize } = await import('./jcs.ts');
      o.leafHash = Buffer.from(hashLeaf(Buffer.from(canonicalize(o.entry as never)))).toString('hex');
      L[7] = JSON.stringify(o);
      const r = await verifyLines(f.td, [...L, ...C], f.trusted);
      assert.deepEqual(r.findings, [
        { kind: 'checkpoint_mismatch', size: 40, source: 'trusted' },
        { kind: 'modified', index: 7, position: 7, reason: 'prev_link' },
      ]);
    }
    // deleted
    {
      const L = E.filter((_, i) => i !== 12);
      const r = await verifyLines(f.td, [...L, ...C], f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'deleted', index: 12 }, { kind: 'checkpoint_mismatch', size: 40, source: 'trusted' }]);
    }
    // inserted: a forged entry claiming index 20, properly linked and hashed, placed before the real 20
    {
      const prev = parse(E[19]!).leafHash;
      const forged = buildEntry({ action: 'admin.login', actor: { type: 'admin', id: 'intruder' }, outcome: 'success' }, 20, Buffer.from(prev, 'hex'), new Date());
      const line = `{"index":20,"leafHash":"${Buffer.from(forged.stored.leafHash).toString('hex')}","entry":${forged.stored.entry}}`;
      const L = [...E.slice(0, 20), line, ...E.slice(20)];
      const r = await verifyLines(f.td, [...L, ...C], f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'checkpoint_mismatch', size: 40, source: 'trusted' }, { kind: 'inserted', index: 20, position: 20 }]);
      // ... and placed after the real one
      const L2 = [...E.slice(0, 21), line, ...E.slice(21)];
      const r2 = await verifyLines(f.td, [...L2, ...C], f.trusted);
      assert.deepEqual(r2.findings, [{ kind: 'checkpoint_mismatch', size: 40, source: 'trusted' }, { kind: 'inserted', index: 20, position: 21 }]);
    }
    // reordered
    {
      const L = [...E];
      [L[30], L[31]] = [L[31]!, L[30]!];
      const r = await verifyLines(f.td, [...L, ...C], f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'reordered', index: 30, position: 31 }, { kind: 'checkpoint_mismatch', size: 40, source: 'trusted' }]);
    }
    // truncated
    {
      const r = await verifyLines(f.td, [...E.slice(0, 35), ...C], f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'truncated', size: 35, expected: 40 }]);
    }
    // consistent rewrite of history (all hashes and links recomputed): only the signature catches it
    {
      const rewritten: string[] = [];
      let prev: Uint8Array | null = null;
      for (let i = 0; i < 40; i++) {
        const b = buildEntry(i === 3 ? { ...ev(i), outcome: 'success', details: { i: 'rewritten' } } : ev(i), i, prev, new Date('2025-01-01T00:00:00Z'));
        prev = b.stored.leafHash;
        rewritten.push(`{"index":${i},"leafHash":"${Buffer.from(b.stored.leafHash).toString('hex')}","entry":${b.stored.entry}}`);
      }
      const r = await verifyLines(f.td, rewritten, f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'checkpoint_mismatch', size: 40, source: 'trusted' }]);
    }
    // a checkpoint in the export that the log's key did not sign
    {
      const other = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
      const bad = signCheckpoint({ origin: ORIGIN, size: 40, rootHash: Buffer.alloc(32) }, other);
      const r = await verifyLines(f.td, [...E, JSON.stringify({ checkpoint: bad })], f.trusted);
      assert.deepEqual(r.findings, [{ kind: 'bad_checkpoint', size: 40 }]);
    }
    // the trusted checkpoint must verify
    await assert.rejects(verifyLog(f.path, f.trusted.replace('\n40\n', '\n41\n'), key.verifierKey), /invalid signature/);
  } finally {
    await f.fx.cleanup();
    f.td.cleanup();
  }
});

test('tampering with the live database is detected and named', async () => {
  const f = await fixture(40);
  const db = f.fx.db;
  // Both paths: forced onto two threads (falls back to the sequential verifier on
  // any irregularity) and sequential; their answers must be identical.
  const run = async () => {
    const split = await verifyLog(f.fx.store, f.trusted, key.verifierKey, { splitMin: 1 });
    const seq = await verifyLog(f.fx.store, f.trusted, key.verifierKey, { split: false });
    assert.deepEqual(split, seq);
    return split;
  };
  try {
    db.exec('BEGIN');
    db.prepare(`UPDATE audit_entry SET entry = replace(entry, '"denied"', '"success"') WHERE idx = 8`).run();
    let r = await run();
    assert.deepEqual(r.findings.filter((x) => x.kind === 'modified'), [{ kind: 'modified', index: 8, position: 8, reason: 'leaf_hash' }]);
    assert.ok(r.findings.some((x) => x.kind === 'node_mismatch' || x.kind === 'checkpoint_mismatch'));
    db.exec('ROLLBACK');

    db.exec('BEGIN');
    db.prepare('DELETE FROM audit_entry WHERE idx = 17').run();
    r = await run();
    assert.ok(r.findings.some((x) => x.kind === 'deleted' && x.index === 17));
    db.exec('ROLLBACK');

    db.exec('BEGIN');
    db.prepare('DELETE FROM audit_entry WHERE idx >= 33').run();
    r = await run();
    assert.deepEqual(r.findings, [{ kind: 'truncated', size: 33, expected: 40 }]);
    db.exec('ROLLBACK');

    db.exec('BEGIN');
    db.prepare('UPDATE audit_node SET hash = zeroblob(32) WHERE level = 4 AND idx = 1').run();
    r = await run();
    assert.deepEqual(r.findings, [{ kind: 'node_mismatch', level: 4, index: 1 }]);
    db.exec('ROLLBACK');

    // The compact copy of the leaf hashes that proofs read is checked too.
    db.exec('BEGIN');
    db.prepare('UPDATE audit_leaf SET hash = zeroblob(32) WHERE idx = 5').run();
    db.prepare('DELETE FROM audit_leaf WHERE idx = 30').run();
    r = await run();
    assert.deepEqual(r.findings, [{ kind: 'node_mismatch', level: 0, index: 5 }, { kind: 'node_mismatch', level: 0, index: 30 }]);
    db.exec('ROLLBACK');

    db.exec('BEGIN');
    db.prepare(`UPDATE audit_checkpoint SET note = replace(note, char(10) || '40' || char(10), char(10) || '41' || char(10))`).run();
    r = await run();
    assert.ok(r.findings.some((x) => x.kind === 'bad_checkpoint'));
    db.exec('ROLLBACK');

    assert.deepEqual((await run()).findings, []);
  } finally {
    await f.fx.cleanup();
    f.td.cleanup();
  }
});

test('property: a random single tampering of a random log is detected and named (offline, in records)', async () => {
  const fc = (await import('fast-check')).default;
  const { verifyRecords } = await import('./verify.ts');
  const { rootFromLeafHashes } = await import('./merkle.ts');
  type Rec = { position: number; leafHash: Uint8Array; entry: string | null };
  const build = (n: number) => {
    const recs: Rec[] = [];
    let prev: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const b = buildEntry(ev(i), i, prev, new Date('2026-11-22T00:00:00Z'));
      prev = b.stored.leafHash;
      recs.push({ position: i, leafHash: b.stored.leafHash, entry: b.stored.entry });
    }
    const root = rootFromLeafHashes(recs.map((r) => r.leafHash));
    return { recs, note: signCheckpoint({ origin: ORIGIN, size: n, rootHash: root }, signer) };
  };
  const run = (recs: Rec[], note: string, batched: boolean) =>
    verifyRecords(
      batched
        ? (async function* () {
            yield recs;
          })()
        : (async function* () {
            yield* recs;
          })(),
      { trustedCheckpoint: note, verifierKey: key.verifierKey },
    );
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 3, max: 60 }),
      fc.constantFrom('modify', 'modify_rehash', 'delete', 'insert', 'reorder', 'truncate'),
      fc.nat(),
      fc.boolean(),
      async (n, op, pick, batched) => {
        const { recs, note } = build(n);
        const clean = await run(recs, note, batched);
        assert.deepEqual(clean.findings, []);
        const i = pick % (n - 1); // never the last entry, so a following entry exists
        const L = recs.map((r) => ({ ...r }));
        const kinds = (r: Awaited<ReturnType<typeof run>>) => r.findings.map((f) => f.kind);
        if (op === 'modify' || op === 'modify_rehash') {
          const e = JSON.parse(L[i]!.entry!);
          e.details = { i: 'forged' };
          const { canonicalize } = await import('./jcs.ts');
          L[i]!.entry = canonicalize(e);
          if (op === 'modify_rehash') L[i]!.leafHash = hashLeaf(Buffer.from(L[i]!.entry!));
          const r = await run(L, note, batched);
          assert.ok(r.findings.some((f) => f.kind === 'modified' && f.index === i && f.reason === (op === 'modify' ? 'leaf_hash' : 'prev_link')), JSON.stringify(r.findings));
          assert.ok(kinds(r).includes('checkpoint_mismatch'));
        } else if (op === 'delete') {
          L.splice(i, 1);
          const r = await run(L, note, batched);
          assert.ok(r.findings.some((f) => f.kind === 'deleted' && f.index === i), JSON.stringify(r.findings));
        } else if (op === 'insert') {
          const forged = buildEntry({ action: 'admin.login', actor: { type: 'admin', id: 'intruder' }, outcome: 'success' }, i, i > 0 ? recs[i - 1]!.leafHash : null, new Date());
          L.splice(i, 0, { position: i, leafHash: forged.stored.leafHash, entry: forged.stored.entry });
          const r = await run(L, note, batched);
          assert.ok(r.findings.some((f) => f.kind === 'inserted' && f.index === i && f.position === i), JSON.stringify(r.findings));
        } else if (op === 'reorder') {
          [L[i], L[i + 1]] = [L[i + 1]!, L[i]!];
          const r = await run(L, note, batched);
          assert.ok(r.findings.some((f) => f.kind === 'reordered' && f.index === i && f.position === i + 1), JSON.stringify(r.findings));
        } else {
          const r = await run(L.slice(0, i + 1), note, batched);
          assert.deepEqual(r.findings, [{ kind: 'truncated', size: i + 1, expected: n }]);
        }
      },
    ),
    { numRuns: 120 },
  );
});
