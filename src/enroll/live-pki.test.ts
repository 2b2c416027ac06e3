// The live PKI: the trust set from issuing CAs and their chains, rotated-out
// CAs as stored before intermediates existed, and a second node (another
// LivePki on the same database) picking up a CA change with reload() and
// telling its listeners, without issuing an RA of its own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { openTestAudit, type CollectedAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { createCertificateAuthority } from '../pki/authority.ts';
import { loadOrCreateCa } from '../core/ca.ts';
import type { Actor } from '../services/types.ts';
import { createCaService } from './ca-admin.ts';
import { openLivePki, previousIssuers, trustOf } from './live-pki.ts';

const ROOT: Actor = { type: 'admin', id: 'admin-1', permissions: new Set(['*']) };
const sha = (d: Uint8Array): string => hash('sha256', d, 'hex');

describe('live PKI', () => {
  let opened: OpenedStorage;
  let audit: CollectedAudit & { close(): Promise<void> };
  const now = (): Date => new Date();
  const box = createSecretBox(createKeyRing([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }], 'k1'));

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    audit = await openTestAudit(now);
  });
  after(async () => {
    await audit.close();
    await opened.close();
  });

  it('trustOf: chain tops are anchors, everything below them intermediates, no certificate twice', async () => {
    const mk = (cn: string) => createCertificateAuthority({ commonName: cn, validityDays: 30, now: now(), keyAlgorithm: 'ecdsa-p256' });
    const [a, b, root, int] = await Promise.all([mk('A'), mk('B'), mk('Root'), mk('Int')]);
    const t = trustOf([
      { cert: int.certDer, chain: [root.certDer] },
      { cert: a.certDer, chain: [] },
      { cert: b.certDer, chain: [root.certDer] },
      { cert: a.certDer, chain: [] },
    ]);
    assert.deepEqual(t.anchors.map(sha).sort(), [root.certDer, a.certDer].map(sha).sort());
    assert.deepEqual(t.intermediates.map(sha).sort(), [int.certDer, b.certDer].map(sha).sort());
  });

  it('rotated-out CAs stored as plain base64 (before intermediates) still read', async () => {
    const old = await createCertificateAuthority({ commonName: 'Old', validityDays: 30, now: now(), keyAlgorithm: 'ecdsa-p256' });
    await opened.storage.settings.set('ca.previous', JSON.stringify([Buffer.from(old.certDer).toString('base64')]), now().toISOString());
    const p = await previousIssuers(opened.storage.settings);
    assert.equal(p.length, 1);
    assert.deepEqual(p[0]!.chain, []);
    assert.equal(p[0]!.sealedKey, undefined);
    await opened.storage.settings.set('ca.previous', '', now().toISOString());
  });

  it('a second node picks up a rotation with reload(): same CA and RA, listeners told, no RA of its own', async () => {
    const deps = { settings: opened.storage.settings, sealer: box, now };
    const { ca } = await loadOrCreateCa(deps, { commonName: 'Node CA', validityDays: 365 });
    const a = await openLivePki(deps, ca);
    const b = await openLivePki(deps, ca);
    assert.equal(a.raCreated, true);
    assert.equal(b.raCreated, false, 'the second node loads the RA the first made');
    const seen: string[] = [];
    b.live.onChange((p) => seen.push(sha(p.ca.certDer)));
    assert.deepEqual(await b.live.reload(), { changed: false, raCreated: false });
    const svc = createCaService({ settings: opened.storage.settings, sealer: box, audit, now, live: a.live });
    const r = await svc.rotate(ROOT);
    assert.equal(sha(a.live.current().ca.certDer), r.current.sha256);
    // Node B still has the old CA until it reloads.
    assert.equal(sha(b.live.current().ca.certDer), sha(ca.certDer));
    assert.deepEqual(await b.live.reload(), { changed: true, raCreated: false });
    assert.deepEqual(seen, [r.current.sha256]);
    assert.equal(b.live.current().version, a.live.current().version);
    assert.deepEqual(b.live.current().ra.certDer, a.live.current().ra.certDer);
    assert.equal(b.live.current().previous[0]!.sealedKey !== undefined, true, 'the old key is kept sealed for its CRLs');
  });
});
