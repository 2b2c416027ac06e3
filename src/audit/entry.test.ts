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
