import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRampartError } from '../../lib/errors.ts';
import { parsePlistDict } from '../plist/parse.ts';
import { TOKEN_UPDATE_XML, plistDict } from '../plist/testutil.ts';
import { parseCheckin } from './parse.ts';

const bytes = (n: number) => new Uint8Array(n).fill(7);
const refused = (v: unknown, msg: string): void => {
  assert.throws(() => parseCheckin(v as never), (e: unknown) => isRampartError(e) && e.status === 400 && e.message === msg);
};

test('TokenUpdate from a real device body', () => {
  const m = parseCheckin(parsePlistDict(new TextEncoder().encode(TOKEN_UPDATE_XML)));
  assert.equal(m.messageType, 'TokenUpdate');
  if (m.messageType !== 'TokenUpdate') return;
  assert.equal(m.channelId, '00008030-001A2B3C4D5E6F70');
  assert.equal(m.token.length, 43);
  assert.ok(m.unlockToken instanceof Uint8Array);
  assert.equal(m.pushMagic, '5F2E7E04-8A0B-4C3D-9E1F-2A3B4C5D6E7F');
  assert.equal(m.awaitingConfiguration, false);
  assert.equal(m.userChannel, true); // Shared-iPad style UserID present
});

test('Authenticate (device and user enrollment)', () => {
  const a = parseCheckin({ MessageType: 'Authenticate', Topic: 'com.apple.mgmt.X', UDID: 'D1', SerialNumber: 'S', Model: 'iPhone', DeviceName: 'n' });
  assert.equal(a.messageType, 'Authenticate');
  assert.equal(a.channelId, 'D1');
  assert.equal(a.userChannel, false);
  if (a.messageType === 'Authenticate') assert.equal(a.serialNumber, 'S');
  const u = parseCheckin({ MessageType: 'Authenticate', Topic: 't', EnrollmentID: 'E1' });
  assert.equal(u.channelId, 'E1');
  assert.equal(u.udid, undefined);
});

test('every supported message type', () => {
  const base = { UDID: 'D', Topic: 't' };
  const cases: [Record<string, unknown>, string][] = [
    [{ ...base, MessageType: 'CheckOut' }, 'CheckOut'],
    [{ UDID: 'D', MessageType: 'UserAuthenticate', UserID: 'U' }, 'UserAuthenticate'],
    [{ UDID: 'D', MessageType: 'UserAuthenticate', UserID: 'U', DigestResponse: 'r' }, 'UserAuthenticate'],
    [{ UDID: 'D', MessageType: 'SetBootstrapToken', BootstrapToken: bytes(4) }, 'SetBootstrapToken'],
    [{ UDID: 'D', MessageType: 'GetBootstrapToken', AwaitingConfiguration: true }, 'GetBootstrapToken'],
    [{ UDID: 'D', MessageType: 'DeclarativeManagement', Endpoint: 'tokens', Data: bytes(2) }, 'DeclarativeManagement'],
    [{ UDID: 'D', MessageType: 'GetToken', TokenServiceType: 'com.apple.maid', TokenParameters: { a: 1 } }, 'GetToken'],
  ];
  for (const [v, t] of cases) assert.equal(parseCheckin(v as never).messageType, t);
  const set = parseCheckin({ UDID: 'D', MessageType: 'SetBootstrapToken' });
  assert.ok(set.messageType === 'SetBootstrapToken' && set.bootstrapToken === undefined && set.awaitingConfiguration === false);
  const get = parseCheckin({ UDID: 'D', MessageType: 'GetBootstrapToken', AwaitingConfiguration: true });
  assert.ok(get.messageType === 'GetBootstrapToken' && get.awaitingConfiguration);
  const gt = parseCheckin({ UDID: 'D', MessageType: 'GetToken', TokenServiceType: 's', TokenParameters: { a: 1 } });
  assert.ok(gt.messageType === 'GetToken' && gt.tokenParameters?.['a'] === 1);
});

test('refusals', () => {
  refused([], 'invalid check-in message');
  refused({}, 'invalid check-in message');
  refused({ MessageType: 5, UDID: 'D' }, 'invalid check-in message');
  refused({ MessageType: 'Nope', UDID: 'D' }, 'unsupported check-in message');
  refused({ MessageType: '__proto__', UDID: 'D' }, 'unsupported check-in message');
  refused({ MessageType: 'CheckOut', Topic: 't' }, 'missing device identifier');
  refused({ MessageType: 'CheckOut', UDID: 'D' }, 'invalid check-in message');
  refused({ MessageType: 'CheckOut', Topic: 't', UDID: 'has space' }, 'invalid check-in message');
  refused({ MessageType: 'CheckOut', Topic: 't', UDID: 7 }, 'invalid check-in message');
  refused({ MessageType: 'TokenUpdate', Topic: 't', UDID: 'D', PushMagic: 'p' }, 'invalid check-in message');
  refused({ MessageType: 'TokenUpdate', Topic: 't', UDID: 'D', PushMagic: 'p', Token: 'AAAA' }, 'invalid check-in message');
  refused({ MessageType: 'TokenUpdate', Topic: 't', UDID: 'D', PushMagic: 'p', Token: bytes(1), AwaitingConfiguration: 'yes' }, 'invalid check-in message');
  refused({ MessageType: 'SetBootstrapToken', UDID: 'D', BootstrapToken: 'x' }, 'invalid check-in message');
  refused({ MessageType: 'GetBootstrapToken', UDID: 'D', UserID: 3 }, 'invalid check-in message');
});

test('unknown extra keys from devices are accepted', () => {
  const m = parseCheckin({ MessageType: 'CheckOut', Topic: 't', UDID: 'D', FutureKey: { x: [1] } });
  assert.deepEqual(m.body['FutureKey'], { x: [1] });
});

test('fuzz: arbitrary dicts only ever throw a 400 RampartError', () => {
  const types = fc.constantFrom('Authenticate', 'TokenUpdate', 'CheckOut', 'UserAuthenticate', 'SetBootstrapToken', 'GetBootstrapToken', 'DeclarativeManagement', 'GetToken', 'Other');
  fc.assert(
    fc.property(plistDict(), types, fc.option(fc.string({ maxLength: 20 })), (d, t, udid) => {
      const v = { ...d, MessageType: t, ...(udid === null ? {} : { UDID: udid }) };
      try {
        const m = parseCheckin(v);
        assert.equal(m.messageType, t);
      } catch (e) {
        if (!isRampartError(e) || e.status !== 400) throw e;
      }
    }),
    { numRuns: 1000 },
  );
});
