import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, toCommandResult, toDeviceDetail, toDeviceView } from './views.ts';
import type { Device, QueueEntry } from '../storage/types.ts';

const device: Device = {
  id: 'UDID-1', status: 'enrolled', serialNumber: 'C02', model: 'iPhone17,1', modelName: 'iPhone', productName: 'iPhone17,1',
  deviceName: 'Phone', osVersion: '18.1', buildVersion: '22B83', imei: '35 111111 111111 1', meid: 'MEID-SECRET',
  isSupervised: true, isEncrypted: true, passcodePresent: true, passcodeCompliant: false,
  identityCertSha256: 'c'.repeat(64), topic: 'com.apple.mgmt.X', pushToken: 'ab'.repeat(32), pushMagic: 'MAGIC-SECRET',
  unlockTokenSealed: new Uint8Array([9]), bootstrapTokenSealed: new Uint8Array([8]),
  deviceInfoJson: '{"DeviceName":"Phone"}', securityInfoJson: 'not json', enrolledAt: '2026-01-01T00:00:00.000Z',
  lastSeenAt: null, checkedOutAt: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('views', () => {
  it('device views carry no push secrets, sealed tokens, hardware identifiers or certificate hashes', () => {
    const text = JSON.stringify(toDeviceDetail(device, []));
    for (const secret of ['MAGIC-SECRET', 'abab', 'MEID-SECRET', '35 111111', 'ccccc', 'com.apple.mgmt.X']) assert.ok(!text.includes(secret), secret);
    assert.deepEqual(Object.keys(toDeviceView(device)).sort(), [
      'buildVersion', 'checkedOutAt', 'deviceName', 'enrolledAt', 'hasPushToken', 'id', 'isEncrypted', 'isSupervised', 'lastSeenAt',
      'model', 'modelName', 'osVersion', 'passcodeCompliant', 'passcodePresent', 'productName', 'serialNumber', 'status',
    ]);
    assert.equal(toDeviceView(device).hasPushToken, true);
    assert.equal(toDeviceView({ ...device, pushMagic: null }).hasPushToken, false);
  });
  it('parses stored JSON and never throws on bad JSON', () => {
    const d = toDeviceDetail(device, [{ identifier: 'com.x', name: null, version: '1', shortVersion: null, bundleSize: 10, isManaged: true }]);
    assert.deepEqual(d.deviceInfo, { DeviceName: 'Phone' });
    assert.equal(d.securityInfo, null);
    assert.equal(d.apps.length, 1);
    assert.equal(parseJson(null), null);
    assert.equal(parseJson(''), null);
  });
  it('command results carry the raw plist as base64', () => {
    const e: QueueEntry = {
      deviceId: 'UDID-1', commandUuid: 'u', requestType: 'DeviceLock', status: 'error', seq: 1, queuedAt: 't', deliveries: 1,
      lastDeliveredAt: 't', resultAt: 't', resultRaw: new Uint8Array([1, 2, 3]), resultJson: '{"Status":"Error"}',
      errorJson: '[{"ErrorCode":12021}]', notNowCount: 0,
    };
    const r = toCommandResult(e);
    assert.equal(r.resultRaw, 'AQID');
    assert.deepEqual(r.result, { Status: 'Error' });
    assert.deepEqual(r.errorChain, [{ ErrorCode: 12021 }]);
    assert.ok(!('seq' in r));
  });
});
