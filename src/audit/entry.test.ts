import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEntry, parseEntry, validateEvent } from './entry.ts';
import { hashLeaf } from './merkle.ts';
import { isRampartError } from '../lib/errors.ts';
import type { AuditEvent } from './types.ts';

const base: AuditEvent = { action: 'device.authenticate', actor: { type: 'device', id: 'UDID-1' }, outcome: 'success' };

test('entries are canonical JSON with index, time and prev link', () => {
  const now = new Date('2025-03-04T05:06:07.089Z');
  const a = buildEntry({ ...base, details: { z: 1, a: [true, null] }, source: '192.0.2.1', requestId: 'r1' }, 0, null, now);
  assert.equal(a.stored.entry, '{"action":"device.authenticate","actor":{"id":"UDID-1","type":"device"},"details":{"a":[true,null],"z":1},"index":0,"outcome":"success","prev":"","requestId":"r1","source":"192.0.2.1","time":"2025-03-04T05:06:07.089Z","v":1}');
  assert.deepEqual(a.stored.leafHash, hashLeaf(Buffer.from(a.stored.entry)));
  const b = buildEntry({ ...base, time: '2024-01-01T00:00:00Z', target: { type: 'device', id: 'd' } }, 1, a.stored.leafHash, now);
  assert.equal(parseEntry(b.stored.entry)!.prev, Buffer.from(a.stored.leafHash).toString('hex'));
  assert.equal(b.stored.time, '2024-01-01T00:00:00Z');
  assert.equal(b.stored.targetId, 'd');
});

test('invalid events are refused with a fixed message', () => {
  const bad: unknown[] = [
    { ...base, action: 'Device.Auth' }, { ...base, action: '' }, { ...base, actor: { type: 'root', id: 'x' } }, { ...base, actor: { type: 'admin', id: '' } },
    { ...base, outcome: 'ok' }, { ...base, source: 'a\nb' }, { ...base, target: { type: 'x' } }, { ...base, details: [] }, { ...base, time: 'yesterday' },
    { ...base, actor: { type: 'admin', id: 'x'.repeat(300) } },
  ];
  for (const e of bad) {
    assert.throws(() => validateEvent(e as AuditEvent), (err: unknown) => isRampartError(err) && err.message === 'invalid audit event', JSON.stringify(e));
  }
  assert.throws(() => buildEntry({ ...base, details: { x: 'y'.repeat(40_000) } }, 0, null, new Date()), /invalid audit event/);
  assert.throws(() => buildEntry({ ...base, details: { x: NaN } }, 0, null, new Date()), /invalid audit event/);
});

test('parseEntry returns null for anything the log could not have written', () => {
  for (const t of ['', 'null', '[]', '{"v":2}', '{"v":1,"index":-1}', '{"v":1,"index":0,"prev":"zz","time":"t","action":"a","actor":{"type":"admin","id":"x"},"outcome":"success"}']) {
    assert.equal(parseEntry(t), null, t);
  }
});

test('quickEntry agrees with parseEntry on every entry the log writes, and accepts nothing parseEntry refuses', async () => {
  const fc = (await import('fast-check')).default;
  const { quickEntry } = await import('./entry.ts');
  const str = (max: number) => fc.string({ minLength: 1, maxLength: max, unit: fc.oneof(fc.constantFrom('a', '"', '\\', 'é', '€', '😀', '\u007f', '\n', ' '), fc.string({ minLength: 1, maxLength: 1 })) });
  const event = fc.record(
    {
      action: fc.constantFrom('device.authenticate', 'admin.login', 'a', 'x_1.y.z'),
      actor: fc.record({ type: fc.constantFrom('admin', 'token', 'device', 'gateway', 'system', 'anonymous'), id: str(300) }),
      outcome: fc.constantFrom('success', 'failure', 'denied'),
      source: str(140),
      target: fc.record({ type: str(70), id: str(260) }),
      requestId: str(140),
      details: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    },
    { requiredKeys: ['action', 'actor', 'outcome'] },
  );
  let quick = 0;
  fc.assert(
    fc.property(event, fc.nat(1_000_000), fc.boolean(), (e, index, hasPrev) => {
      let text: string;
      try {
        text = buildEntry(e as AuditEvent, index, hasPrev ? hashLeaf(Buffer.from('p')) : null, new Date('2026-11-22T10:00:00.123Z')).stored.entry;
      } catch {
        return; // refused at write time
      }
      const full = parseEntry(text);
      const q = quickEntry(text);
      if (q) quick++;
      if (q) assert.deepEqual(q, { index: full!.index, prev: full!.prev });
      // Every plain ASCII entry takes the fast path.
      if (!/[^\x20-\x7e]/.test(text) && !text.includes('\\')) assert.ok(q !== null || full === null, text);
    }),
    { numRuns: 1500 },
  );
  assert.ok(quick > 100);
  // Mutations of a real entry: whatever quickEntry accepts, parseEntry accepts with the same fields.
  const sample = buildEntry({ ...base, source: '10.0.0.1', target: { type: 'device', id: 'd1' }, requestId: 'r', details: { n: 1, s: 'x"y' } }, 7, hashLeaf(Buffer.from('p')), new Date()).stored.entry;
  fc.assert(
    fc.property(fc.nat(sample.length - 1), fc.nat(sample.length), fc.string({ maxLength: 3 }), (at, len, ins) => {
      const t = sample.slice(0, at) + ins + sample.slice(Math.min(sample.length, at + (len % 4)));
      const q = quickEntry(t);
      if (q) {
        const full = parseEntry(t);
        assert.ok(full, t);
        assert.deepEqual(q, { index: full.index, prev: full.prev });
      }
    }),
    { numRuns: 5000 },
  );
});
