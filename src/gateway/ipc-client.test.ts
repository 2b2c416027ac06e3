import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MdmRequest, ResponseMessage } from '../ipc/messages.ts';
import { createIpcClient } from './ipc-client.ts';

const req = (requestId: string): Omit<MdmRequest, 'id' | 't'> => ({
  endpoint: 'checkin',
  requestId,
  source: '127.0.0.1',
  body: 'AA==',
  identity: { kind: 'signature', signature: 'AA==' },
  message: {},
});

function channel() {
  const sent: Array<{ t: string; id: number; requestId: string }> = [];
  return { sent, send: (m: unknown) => void sent.push(m as { t: string; id: number; requestId: string }) };
}

const response = (id: number, status = 200, body?: string): ResponseMessage => ({ t: 'response', id, status, ...(body ? { body } : {}) });

describe('gateway IPC client', () => {
  it('sends an mdm message with a fresh id and resolves with its response', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 1000);
    const p = c.request(req('a'));
    assert.equal(ch.sent.length, 1);
    const m = ch.sent[0]!;
    assert.equal(m.t, 'mdm');
    assert.equal(m.requestId, 'a');
    assert.ok(Number.isInteger(m.id) && m.id >= 1);
    c.onResponse(response(m.id, 201, 'eA=='));
    assert.deepEqual(await p, response(m.id, 201, 'eA=='));
    assert.equal(c.pendingCount(), 0);
  });

  it('matches responses by id, in any order', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 1000);
    const ps = ['a', 'b', 'c'].map((r) => c.request(req(r)));
    const ids = ch.sent.map((m) => m.id);
    assert.equal(new Set(ids).size, 3);
    c.onResponse(response(ids[2]!, 202));
    c.onResponse(response(ids[0]!, 200));
    c.onResponse(response(ids[1]!, 201));
    assert.deepEqual((await Promise.all(ps)).map((r) => r.status), [200, 201, 202]);
  });

  it('drops unknown, repeated and malformed responses', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 1000);
    const p = c.request(req('a'));
    const id = ch.sent[0]!.id;
    c.onResponse(response(id + 1000, 500));
    c.onResponse({ t: 'response', id: String(id) as unknown as number, status: 500 });
    c.onResponse({ t: 'response', status: 500 } as unknown as ResponseMessage);
    assert.equal(c.pendingCount(), 1, 'still waiting for its own answer');
    c.onResponse(response(id, 200));
    c.onResponse(response(id, 500)); // a second answer for the same id
    assert.equal((await p).status, 200);
    assert.equal(c.pendingCount(), 0);
  });

  it('rejects a response with a status outside 200..599', async () => {
    for (const status of [0, 99, 199, 600, 1000, -1, 200.5, Number.NaN, '200' as unknown as number]) {
      const ch = channel();
      const c = createIpcClient(ch, 1000);
      const p = c.request(req('a'));
      c.onResponse({ t: 'response', id: ch.sent[0]!.id, status });
      await assert.rejects(p, /bad response from core/, String(status));
      assert.equal(c.pendingCount(), 0);
    }
  });

  it('rejects when the core does not answer in time, and ignores the late answer', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 30);
    const started = Date.now();
    const p = c.request(req('slow'));
    await assert.rejects(p, /core timeout/);
    assert.ok(Date.now() - started >= 25);
    assert.equal(c.pendingCount(), 0);
    c.onResponse(response(ch.sent[0]!.id, 200)); // no throw, no effect
    assert.equal(c.pendingCount(), 0);
  });

  it('a timed-out request does not take over the answer of the next one', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 30);
    const first = c.request(req('first'));
    await assert.rejects(first, /core timeout/);
    const second = c.request(req('second'));
    const [m1, m2] = ch.sent;
    assert.notEqual(m1!.id, m2!.id);
    c.onResponse(response(m1!.id, 500));
    c.onResponse(response(m2!.id, 204));
    assert.equal((await second).status, 204);
  });

  it('refuses more than maxPending requests at once, and accepts again as they complete', async () => {
    const ch = channel();
    const c = createIpcClient(ch, 1000, 3);
    const ps = [c.request(req('1')), c.request(req('2')), c.request(req('3'))];
    await assert.rejects(c.request(req('4')), /too many pending requests/);
    assert.equal(ch.sent.length, 3, 'the refused request was never sent');
    assert.equal(c.pendingCount(), 3);
    c.onResponse(response(ch.sent[0]!.id));
    await ps[0];
    const p5 = c.request(req('5'));
    assert.equal(ch.sent.length, 4);
    for (const m of ch.sent.slice(1)) c.onResponse(response(m.id));
    await Promise.all([...ps.slice(1), p5]);
    assert.equal(c.pendingCount(), 0);
  });
});
