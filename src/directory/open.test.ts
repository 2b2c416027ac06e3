import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { openTestAudit } from '../admin/testkit.ts';
import { createKeyRing, createSecretBox } from '../keys/secret-box.ts';
import { RampartError } from '../lib/errors.ts';
import { openSqliteStorage } from '../storage/open.ts';
import { createTempToken, SOFTHSM_LIBRARY } from '../../test/support/softhsm.ts';
import type { TempToken } from '../../test/support/softhsm.ts';
import { keyWrapperFromEnv, openStaffDirectory } from './open.ts';
import { actor } from './testkit.ts';

const sealer = createSecretBox(createKeyRing([{ id: 'm1', key: new Uint8Array(randomBytes(32)) }], 'm1'));

describe('openStaffDirectory', () => {
  let token: TempToken;
  before(() => {
    token = createTempToken('rampart-open');
  });
  after(() => token.cleanup());

  it('PKCS#11 from the environment: creates the KEK on first start, data readable after a restart', async () => {
    const storage = await openSqliteStorage(':memory:');
    await storage.migrate();
    const audit = await openTestAudit(() => new Date());
    const env = { RAMPART_PII_KEY_PROVIDER: 'pkcs11', RAMPART_PKCS11_LIBRARY: SOFTHSM_LIBRARY, RAMPART_PKCS11_TOKEN: token.tokenLabel, RAMPART_PKCS11_PIN: token.pin, RAMPART_PKCS11_KEY_LABEL: 'rampart-kek-1' };
    const log = pino({ level: 'silent' });
    const a = await openStaffDirectory({ storage, sealer, audit, log, env });
    assert.equal(a.keys.kind, 'pkcs11');
    const who = actor(['staff.write', 'pii.reveal']);
    const v = await a.directory.create(who, { userName: 'hsm@example.org', phones: ['+32470000001'] }, 'admin');
    await a.close();
    const b = await openStaffDirectory({ storage, sealer, audit, log, env });
    assert.deepEqual((await b.directory.reveal(who, v.id, { reason: 'support' })).phones, ['+32470000001']);
    await b.close();
    await audit.close();
    await storage.close();
  });

  it('refuses incomplete PKCS#11 settings without echoing the PIN', () => {
    assert.throws(() => keyWrapperFromEnv({ RAMPART_PII_KEY_PROVIDER: 'pkcs11', RAMPART_PKCS11_PIN: '987654' }, sealer), (e: unknown) => e instanceof RampartError && !e.message.includes('987654'));
    assert.throws(() => keyWrapperFromEnv({ RAMPART_PII_KEY_PROVIDER: 'vault' }, sealer), RampartError);
    assert.equal(keyWrapperFromEnv({}, sealer).kind, 'master-key');
  });
});
