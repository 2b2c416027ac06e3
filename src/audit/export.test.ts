import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJsonl, readJsonlRecords } from './export.ts';
import { AuditLog } from './log.ts';
import { generateNoteKey, parseSignerKey } from './note.ts';
import { sqliteStore } from './testdata/helpers.ts';

test('export lines carry index, leaf hash and the entry; round-trip to identical records', async () => {
  const fx = await sqliteStore();
  try {
    const log = await AuditLog.open({ store: fx.store, origin: 'o.test/a', signer: parseSignerKey(generateNoteKey('o.test/a').signerKey) });
    for (let i = 0; i < 5; i++) await log.record({ action: 'admin.login', actor: { type: 'admin', id: `\u00e9${i}` }, outcome: 'success', details: { n: i / 3 } });
    await log.close();
    const lines: string[] = [];
    for await (const l of exportJsonl(fx.store)) lines.push(l);
    assert.equal(lines.length, 6);
    assert.match(lines[0]!, /^\{"index":0,"leafHash":"[0-9a-f]{64}","entry":\{"action":"admin\.login",/);
    assert.match(lines[5]!, /^\{"checkpoint":"o\.test\/a\\n5\\n/);
    const cps: string[] = [];
    const recs = [];
    for await (const r of readJsonlRecords(lines, cps)) recs.push(r);
    assert.equal(cps.length, 1);
    let i = 0;
    for await (const e of fx.store.readEntries(0)) {
      assert.equal(recs[i]!.entry, e.entry);
      assert.deepEqual(Buffer.from(recs[i]!.leafHash), Buffer.from(e.leafHash));
      i++;
    }
    const bad = [];
    for await (const r of readJsonlRecords(['not json', '{"index":1,"leafHash":"zz","entry":{}}'], [])) bad.push(r);
    assert.equal(bad[0]!.entry, null);
    assert.equal(bad[1]!.leafHash.length, 0);
  } finally {
    await fx.cleanup();
  }
});
