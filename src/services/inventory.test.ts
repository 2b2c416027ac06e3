import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openSqliteStorage, type OpenedStorage } from '../storage/open.ts';
import { plistToJson } from '../protocol/commands/results.ts';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';
import { appsFromList, createInventoryService, patchFromDeviceInformation, patchFromSecurityInfo, type InventoryService } from './inventory.ts';

describe('patchFromDeviceInformation', () => {
  it('maps the QueryResponses keys to device fields', () => {
    const patch = patchFromDeviceInformation({
      SerialNumber: 'C02XYZ',
      Model: 'iPhone15,2',
      ModelName: 'iPhone',
      ProductName: 'iPhone15,2',
      DeviceName: 'Ada’s phone',
      OSVersion: '18.1',
      BuildVersion: '22B83',
      IMEI: '35 123456 789012 3',
      MEID: '35123456789012',
      IsSupervised: true,
    });
    assert.deepEqual(patch, {
      serialNumber: 'C02XYZ',
      model: 'iPhone15,2',
      modelName: 'iPhone',
      productName: 'iPhone15,2',
      deviceName: 'Ada’s phone',
      osVersion: '18.1',
      buildVersion: '22B83',
      imei: '35 123456 789012 3',
      meid: '35123456789012',
      isSupervised: true,
    });
  });

  it('leaves out absent keys and keys of the wrong type (never writes null over a known value)', () => {
    const patch = patchFromDeviceInformation({
      SerialNumber: 42,
      Model: new Uint8Array([1, 2]),
      DeviceName: ['x'],
      OSVersion: { v: '18' },
      IsSupervised: 'true',
      BuildVersion: new Date(0),
    });
    assert.deepEqual(patch, {});
    assert.deepEqual(patchFromDeviceInformation({ IsSupervised: false }), { isSupervised: false });
  });

  it('only ever produces the documented fields with the documented types (property)', () => {
    const allowed = new Set(['serialNumber', 'model', 'modelName', 'productName', 'deviceName', 'osVersion', 'buildVersion', 'imei', 'meid', 'isSupervised']);
    const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(new Uint8Array([1])), fc.array(fc.string(), { maxLength: 2 }));
    const keys = fc.constantFrom('SerialNumber', 'Model', 'ModelName', 'ProductName', 'DeviceName', 'OSVersion', 'BuildVersion', 'IMEI', 'MEID', 'IsSupervised', 'UDID', '__proto__', 'status');
    fc.assert(
      fc.property(fc.dictionary(keys, value), (q) => {
        const patch = patchFromDeviceInformation(q as PlistDict);
        for (const [k, v] of Object.entries(patch)) {
          assert.ok(allowed.has(k), k);
          assert.equal(typeof v, k === 'isSupervised' ? 'boolean' : 'string');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('patchFromSecurityInfo', () => {
  it('iOS: encrypted only with hardware encryption caps AND a passcode', () => {
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 3, PasscodePresent: true, PasscodeCompliant: true }), {
      isEncrypted: true,
      passcodePresent: true,
      passcodeCompliant: true,
    });
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 1, PasscodePresent: true }), { isEncrypted: true, passcodePresent: true });
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 2, PasscodePresent: true }), { isEncrypted: true, passcodePresent: true });
    // Caps but no passcode: data protection is not in effect.
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 3, PasscodePresent: false, PasscodeCompliant: false }), {
      isEncrypted: false,
      passcodePresent: false,
      passcodeCompliant: false,
    });
    // Caps without any passcode information: not claimed encrypted.
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 3 }), { isEncrypted: false });
    // No hardware encryption: not encrypted even with a passcode.
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 0, PasscodePresent: true }), { isEncrypted: false, passcodePresent: true });
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 4, PasscodePresent: true }), { isEncrypted: false, passcodePresent: true });
    // A 64-bit integer arrives as a bigint.
    assert.deepEqual(patchFromSecurityInfo({ HardwareEncryptionCaps: 3n, PasscodePresent: true }), { isEncrypted: true, passcodePresent: true });
  });

  it('macOS: FDE_Enabled decides, whatever the caps say', () => {
    assert.deepEqual(patchFromSecurityInfo({ FDE_Enabled: true }), { isEncrypted: true });
    assert.deepEqual(patchFromSecurityInfo({ FDE_Enabled: false, HardwareEncryptionCaps: 3, PasscodePresent: true }), { isEncrypted: false, passcodePresent: true });
    assert.deepEqual(patchFromSecurityInfo({ FDE_Enabled: true, HardwareEncryptionCaps: 0 }), { isEncrypted: true });
  });

  it('ignores values of the wrong type', () => {
    assert.deepEqual(patchFromSecurityInfo({ FDE_Enabled: 'yes', HardwareEncryptionCaps: '3', PasscodePresent: 1, PasscodeCompliant: 'true' }), {});
    assert.deepEqual(patchFromSecurityInfo({}), {});
  });
});

describe('appsFromList', () => {
  it('maps entries and keeps the first of a repeated identifier', () => {
    const apps = appsFromList([
      { Identifier: 'com.example.a', Name: 'A', Version: '1', ShortVersion: '1.0', BundleSize: 100, IsManaged: true },
      { Identifier: 'com.example.b', Name: 'B', Managed: false },
      { Identifier: 'com.example.a', Name: 'A again', Version: '2' },
    ]);
    assert.deepEqual(apps, [
      { identifier: 'com.example.a', name: 'A', version: '1', shortVersion: '1.0', bundleSize: 100, isManaged: true },
      { identifier: 'com.example.b', name: 'B', version: null, shortVersion: null, bundleSize: null, isManaged: false },
    ]);
  });

  it('ignores entries that are not dictionaries or have no string Identifier, and fields of the wrong type', () => {
    const apps = appsFromList([
      'com.example.str',
      42,
      [{ Identifier: 'nested' }],
      new Uint8Array([1]),
      new Date(0),
      {},
      { Identifier: 7 },
      { Identifier: '' },
      { Identifier: 'ok', Name: 5, Version: true, ShortVersion: new Uint8Array([1]), BundleSize: '12', IsManaged: 'yes' },
    ] as PlistValue[]);
    assert.deepEqual(apps, [{ identifier: 'ok', name: null, version: null, shortVersion: null, bundleSize: null, isManaged: null }]);
  });

  it('returns nothing for a list that is not an array', () => {
    for (const v of [undefined, 'x', 1, { Identifier: 'a' }, new Uint8Array(3)] as (PlistValue | undefined)[]) assert.deepEqual(appsFromList(v), []);
  });

  it('bounds the number of entries and the length of every string', () => {
    const long = 'x'.repeat(5000);
    const list: PlistValue[] = Array.from({ length: 10_050 }, (_, i) => ({ Identifier: `com.example.${i}` }));
    list.unshift({ Identifier: long, Name: long, Version: long, ShortVersion: long });
    const apps = appsFromList(list);
    assert.equal(apps.length, 10_000);
    const first = apps[0]!;
    assert.equal(first.identifier.length, 256);
    assert.equal(first.name!.length, 256);
    assert.equal(first.version!.length, 64);
    assert.equal(first.shortVersion!.length, 64);
  });

  it('never yields two apps with the same stored identifier (property)', () => {
    // Identifiers are truncated to 256 characters: two long identifiers sharing a prefix must not both survive.
    const prefix = 'p'.repeat(256);
    const id = fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.string({ maxLength: 4 }).map((s) => prefix + s));
    fc.assert(
      fc.property(fc.array(fc.record({ Identifier: id }), { maxLength: 20 }), (list) => {
        const ids = appsFromList(list).map((a) => a.identifier);
        assert.equal(new Set(ids).size, ids.length, JSON.stringify(ids.map((s) => s.length)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('inventory service apply() on real SQLite storage', () => {
  let opened: OpenedStorage;
  let inventory: InventoryService;
  let t = Date.parse('2026-02-01T00:00:00.000Z');
  const now = (): Date => new Date(t);
  const iso = (): string => now().toISOString();

  before(async () => {
    opened = await openSqliteStorage(':memory:');
    await opened.migrate();
    inventory = createInventoryService({ devices: opened.storage.devices, now, toJson: plistToJson });
  });
  after(async () => opened.close());

  const fresh = async (id: string): Promise<void> => {
    await opened.storage.devices.create(id, { status: 'enrolled', serialNumber: 'OLD', pushToken: 'aa', pushMagic: 'magic' }, iso());
  };

  it('DeviceInformation updates fields and stores the QueryResponses as JSON', async () => {
    await fresh('DEV-INFO');
    t += 1000;
    await inventory.apply('DEV-INFO', 'DeviceInformation', {
      Status: 'Acknowledged',
      QueryResponses: { SerialNumber: 'NEW', OSVersion: '18.2', IsSupervised: true, DeviceName: 42, Data: new Uint8Array([0xff]) },
    });
    const d = (await opened.storage.devices.get('DEV-INFO'))!;
    assert.equal(d.serialNumber, 'NEW');
    assert.equal(d.osVersion, '18.2');
    assert.equal(d.isSupervised, true);
    assert.equal(d.deviceName, null);
    assert.equal(d.updatedAt, iso());
    assert.deepEqual(JSON.parse(d.deviceInfoJson!), { SerialNumber: 'NEW', OSVersion: '18.2', IsSupervised: true, DeviceName: 42, Data: '/w==' });
  });

  it('DeviceInformation without a QueryResponses dictionary changes nothing', async () => {
    await fresh('DEV-NOQ');
    const before = await opened.storage.devices.get('DEV-NOQ');
    t += 1000;
    for (const q of [undefined, 'x', [{ SerialNumber: 'NEW' }], new Uint8Array(1)] as (PlistValue | undefined)[]) {
      const body: PlistDict = { Status: 'Acknowledged' };
      if (q !== undefined) body.QueryResponses = q;
      await inventory.apply('DEV-NOQ', 'DeviceInformation', body);
    }
    assert.deepEqual(await opened.storage.devices.get('DEV-NOQ'), before);
  });

  it('SecurityInfo sets encryption and passcode state', async () => {
    await fresh('DEV-SEC');
    await inventory.apply('DEV-SEC', 'SecurityInfo', { SecurityInfo: { HardwareEncryptionCaps: 3, PasscodePresent: true, PasscodeCompliant: false } });
    let d = (await opened.storage.devices.get('DEV-SEC'))!;
    assert.equal(d.isEncrypted, true);
    assert.equal(d.passcodePresent, true);
    assert.equal(d.passcodeCompliant, false);
    assert.deepEqual(JSON.parse(d.securityInfoJson!), { HardwareEncryptionCaps: 3, PasscodePresent: true, PasscodeCompliant: false });
    await inventory.apply('DEV-SEC', 'SecurityInfo', { SecurityInfo: { FDE_Enabled: false } });
    d = (await opened.storage.devices.get('DEV-SEC'))!;
    assert.equal(d.isEncrypted, false);
    assert.equal(d.passcodePresent, true, 'keys absent from the answer keep their value');
  });

  it('InstalledApplicationList replaces the app inventory, deduplicated', async () => {
    await fresh('DEV-APPS');
    await inventory.apply('DEV-APPS', 'InstalledApplicationList', {
      InstalledApplicationList: [{ Identifier: 'com.b', Name: 'B' }, { Identifier: 'com.a', Name: 'A' }, { Identifier: 'com.b', Name: 'B2' }, 'junk'],
    });
    assert.deepEqual((await opened.storage.devices.listApps('DEV-APPS')).map((a) => [a.identifier, a.name]), [['com.a', 'A'], ['com.b', 'B']]);
    await inventory.apply('DEV-APPS', 'InstalledApplicationList', { InstalledApplicationList: [{ Identifier: 'com.c' }] });
    assert.deepEqual((await opened.storage.devices.listApps('DEV-APPS')).map((a) => a.identifier), ['com.c']);
    // A missing or malformed list empties the inventory (the device reported no apps).
    await inventory.apply('DEV-APPS', 'InstalledApplicationList', {});
    assert.deepEqual(await opened.storage.devices.listApps('DEV-APPS'), []);
  });

  it('EraseDevice checks the device out and forgets its push credentials', async () => {
    await fresh('DEV-ERASE');
    t += 1000;
    await inventory.apply('DEV-ERASE', 'EraseDevice', { Status: 'Acknowledged' });
    const d = (await opened.storage.devices.get('DEV-ERASE'))!;
    assert.equal(d.status, 'checked_out');
    assert.equal(d.checkedOutAt, iso());
    assert.equal(d.pushToken, null);
    assert.equal(d.pushMagic, null);
  });

  it('other request types change nothing, whatever the body claims', async () => {
    await fresh('DEV-OTHER');
    const before = await opened.storage.devices.get('DEV-OTHER');
    t += 1000;
    for (const rt of ['DeviceLock', 'ProfileList', 'deviceinformation', 'Erase', '__proto__']) {
      await inventory.apply('DEV-OTHER', rt, { QueryResponses: { SerialNumber: 'EVIL' }, SecurityInfo: { FDE_Enabled: true }, InstalledApplicationList: [{ Identifier: 'x' }] });
    }
    assert.deepEqual(await opened.storage.devices.get('DEV-OTHER'), before);
    assert.deepEqual(await opened.storage.devices.listApps('DEV-OTHER'), []);
  });
});
