import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuditLog } from './log.ts';
import { CompactRange, hashLeaf } from './merkle.ts';
import { generateNoteKey, parseSignerKey, signCheckpoint } from './note.ts';
import { verifyLog } from './verify.ts';
import { RangeStack, appendSpan, scanHalfInWorker, textToBytes } from './verify-split.ts';
import { sqliteStore } from './testdata/helpers.ts';
import type { AuditEvent } from './types.ts';

const ORIGIN = 'rampart.test/audit';
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);
const ev = (i: number): AuditEvent => ({ action: 'admin.login', actor: { type: 'admin', id: `a${i % 3}` }, outcome: i % 4 ? 'success' : 'denied', details: { i, s: 'é€😀' } });
const leaf = (i: number) => hashLeaf(Buffer.from(`leaf ${i}`));

test('property: the subtrees of [0, m) and [m, n) join into the tree of [0, n), completing the same nodes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (n, pick) => {
      const m = pick % (n + 1);
      const whole = new CompactRange();
      const wholeNodes: string[] = [];
      for (let i = 0; i < n; i++) whole.append(leaf(i), (l, x, h) => wholeNodes.push(`${l}/${x}/${Buffer.from(h).toString('hex')}`));
      const nodes: string[] = [];
      const rec = (l: number, x: number, h: Uint8Array | string) =>
        void nodes.push(`${l}/${x}/${(typeof h === 'string' ? textToBytes(h) : Buffer.from(h)).toString('hex')}`);
      const hex = (i: number) => Buffer.from(leaf(i)).toString('hex');
      const left = new RangeStack(0);
      for (let i = 0; i < m; i++) left.append(hex(i), rec);
      const right = new RangeStack(m);
      for (let i = m; i < n; i++) right.append(hex(i), rec);
      // Every span is an aligned complete subtree.
      for (const s of [...left.spans(), ...right.spans()]) assert.equal(s.start % 2 ** s.level, 0);
      const t = new CompactRange();
      const bin = (s: { level: number; start: number; hash: string }) => ({ ...s, hash: textToBytes(s.hash) });
      for (const s of left.spans()) appendSpan(t, bin(s), rec);
      for (const s of right.spans()) appendSpan(t, bin(s), rec);
      assert.equal(t.size, n);
      assert.deepEqual(Buffer.from(t.root()), Buffer.from(whole.root()));
      assert.deepEqual(t.hashes.map((h) => Buffer.from(h)), whole.hashes.map((h) => Buffer.from(h)));
      assert.deepEqual([...nodes].sort(), [...wholeNodes].sort());
    }),
    { numRuns: 300 },
  );
  assert.throws(() => appendSpan(new CompactRange(3, [leaf(0), leaf(1)].slice(0, 2)), { level: 1, start: 3, hash: leaf(9) }), /does not continue/);
});

/** A live log of n entries with checkpoints along the way. */
async function liveLog(n: number, every = 37) {
  const fx = await sqliteStore();
  const log = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer, checkpointIntervalMs: 3_600_000 });
  for (let i = 0; i < n; i++) {
    await log.record(ev(i));
    if (i % every === every - 1) await log.checkpoint();
  }
  const cp = await log.checkpoint();
  await log.close();
  return { fx, trusted: cp!.note };
}

async function both(store: Parameters<typeof verifyLog>[0], trusted: string, extra: string[] = []) {
  const outcomes: string[] = [];
  const split = await verifyLog(store, trusted, key.verifierKey, { splitMin: 1, checkpoints: extra, onSplit: (o) => outcomes.push(o) });
  const seq = await verifyLog(store, trusted, key.verifierKey, { split: false, checkpoints: extra });
  assert.deepEqual(split, seq);
  return { result: split, outcome: outcomes.join('; ') };
}

test('a clean live log is verified on two threads with the same answer as the sequential verifier', async () => {
  const { fx, trusted } = await liveLog(301);
  try {
    let r = await both(fx.store, trusted);
    assert.equal(r.outcome, 'two threads');
    assert.equal(r.result.ok, true);
    assert.equal(r.result.size, 301);
    assert.ok(r.result.checkedSizes.length >= 8);
    // A stored checkpoint signed by another key, and a trusted checkpoint beyond the end (truncation): same findings.
    const other = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
    const cp = (await fx.store.latestCheckpoint())!;
    const foreign = signCheckpoint({ origin: ORIGIN, size: cp.size, rootHash: cp.rootHash }, other);
    fx.db.exec('BEGIN');
    fx.db.prepare('DELETE FROM audit_entry WHERE idx >= 250').run();
    r = await both(fx.store, trusted, [foreign]);
    assert.equal(r.outcome, 'two threads');
    assert.deepEqual(r.result.findings, [{ kind: 'bad_checkpoint', size: 301 }, { kind: 'truncated', size: 250, expected: 301 }]);
    fx.db.exec('ROLLBACK');
    // Default threshold: a small log stays sequential.
    const outcomes: string[] = [];
    await verifyLog(fx.store, trusted, key.verifierKey, { onSplit: (o) => outcomes.push(o) });
    assert.deepEqual(outcomes, ['small log']);
  } finally {
    await fx.cleanup();
  }
});

test('the worker reports an irregular half; a worker that cannot open the file fails cleanly', async () => {
  const { fx } = await liveLog(64);
  try {
    const ok = await scanHalfInWorker(fx.path, 20, 64, [64]).result;
    assert.equal(ok.regular, true);
    assert.equal(ok.snapshots.length, 1);
    fx.db.exec('BEGIN');
    fx.db.prepare(`UPDATE audit_entry SET entry = replace(entry, '"a1"', '"a2"') WHERE idx = 40`).run();
    fx.db.exec('COMMIT');
    const bad = await scanHalfInWorker(fx.path, 20, 64, [64]).result;
    assert.equal(bad.regular, false);
    assert.match(bad.why ?? '', /leaf hash of 40/);
    await assert.rejects(scanHalfInWorker(`${fx.path}.missing`, 0, 10, []).result);
  } finally {
    await fx.cleanup();
  }
});

test('property: any single tampering of a live log gives the same findings on the two-thread path as sequentially', async () => {
  const { fx, trusted } = await liveLog(90, 13);
  const db = fx.db;
  const ops = ['modify', 'modify_rehash', 'delete', 'swap', 'node', 'leaf_copy', 'truncate', 'relink', 'none'] as const;
  // Tampering is committed (the worker thread reads through its own connection) and undone from copies.
  db.exec('CREATE TABLE bak_entry AS SELECT * FROM audit_entry; CREATE TABLE bak_node AS SELECT * FROM audit_node; CREATE TABLE bak_leaf AS SELECT * FROM audit_leaf');
  const restore = () =>
    db.exec(`BEGIN; DELETE FROM audit_entry; INSERT INTO audit_entry SELECT * FROM bak_entry;
      DELETE FROM audit_node; INSERT INTO audit_node SELECT * FROM bak_node;
      DELETE FROM audit_leaf; INSERT INTO audit_leaf SELECT * FROM bak_leaf; COMMIT`);
  try {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ops), fc.integer({ min: 0, max: 88 }), async (op, i) => {
        db.exec('BEGIN');
        try {
          if (op === 'modify') db.prepare(`UPDATE audit_entry SET entry = replace(entry, '"admin.login"', '"admin.logout"') WHERE idx = ?`).run(i);
          else if (op === 'modify_rehash') {
            const e = (db.prepare('SELECT entry FROM audit_entry WHERE idx = ?').get(i) as { entry: string }).entry.replace('"admin.login"', '"admin.logout"');
            db.prepare('UPDATE audit_entry SET entry = ?, leaf_hash = ? WHERE idx = ?').run(e, hashLeaf(Buffer.from(e)), i);
          } else if (op === 'delete') db.prepare('DELETE FROM audit_entry WHERE idx = ?').run(i);
          else if (op === 'swap') {
            const a = db.prepare('SELECT entry, leaf_hash FROM audit_entry WHERE idx = ?').get(i) as { entry: string; leaf_hash: Uint8Array };
            const b = db.prepare('SELECT entry, leaf_hash FROM audit_entry WHERE idx = ?').get(i + 1) as { entry: string; leaf_hash: Uint8Array };
            const put = db.prepare('UPDATE audit_entry SET entry = ?, leaf_hash = ? WHERE idx = ?');
            put.run(b.entry, b.leaf_hash, i);
            put.run(a.entry, a.leaf_hash, i + 1);
          } else if (op === 'node') db.prepare('UPDATE audit_node SET hash = zeroblob(32) WHERE (level, idx) IN (SELECT level, idx FROM audit_node ORDER BY level, idx LIMIT 1 OFFSET ?)').run(i % 5);
          else if (op === 'leaf_copy') db.prepare('UPDATE audit_leaf SET hash = zeroblob(32) WHERE idx = ?').run(i);
          else if (op === 'truncate') db.prepare('DELETE FROM audit_entry WHERE idx > ?').run(i);
          else if (op === 'relink') db.prepare(`UPDATE audit_entry SET entry = replace(entry, '"prev":"', '"prev":"0') WHERE idx = ?`).run(i + 1);
          db.exec('COMMIT');
          const r = await both(fx.store, trusted);
          if (op === 'none' || (op === 'truncate' && i >= 1)) assert.equal(r.outcome, 'two threads');
          else {
            assert.doesNotMatch(r.outcome, /two threads/);
            assert.equal(r.result.ok, false);
          }
        } finally {
          if (db.isTransaction) db.exec('ROLLBACK');
          restore();
        }
      }),
      { numRuns: 50 },
    );
  } finally {
    await fx.cleanup();
  }
});

test('entries read as text: bytes that only decode to the signed text (invalid UTF-8 → U+FFFD) are left to the byte-exact verifier', async () => {
  const fx = await sqliteStore();
  try {
    const log = await AuditLog.open({ store: fx.store, origin: ORIGIN, signer, checkpointIntervalMs: 3_600_000 });
    for (let i = 0; i < 80; i++) await log.record(i === 60 ? { ...ev(i), details: { i, r: 'a\uFFFDb' } } : ev(i));
    const trusted = (await log.checkpoint())!.note;
    await log.close();
    // A genuine U+FFFD: not taken by the text scan, verified clean by the sequential path.
    let r = await both(fx.store, trusted);
    assert.match(r.outcome, /irregular: row 60/);
    assert.equal(r.result.ok, true);
    // Its UTF-8 (EF BF BD) replaced by one invalid byte: the text is unchanged, the bytes are not.
    fx.db.exec(`UPDATE audit_entry SET entry = CAST(replace(CAST(entry AS BLOB), x'efbfbd', x'ff') AS TEXT) WHERE idx = 60`);
    assert.equal((fx.db.prepare('SELECT entry FROM audit_entry WHERE idx = 60').get() as { entry: string }).entry.includes('a\uFFFDb'), true);
    r = await both(fx.store, trusted);
    assert.doesNotMatch(r.outcome, /two threads/);
    assert.ok(r.result.findings.some((f) => f.kind === 'modified' && f.index === 60 && f.reason === 'leaf_hash'), JSON.stringify(r.result.findings));
    // An entry stored as a BLOB value is left to the sequential path too.
    fx.db.exec(`UPDATE audit_entry SET entry = CAST(entry AS BLOB) WHERE idx = 50`);
    r = await both(fx.store, trusted);
    assert.match(r.outcome, /irregular: row 50/);
  } finally {
    await fx.cleanup();
  }
});
