// What a simulated Apple device answers to each command. Realistic enough for
// end-to-end tests and benchmarks: the keys and types Apple documents, state
// that changes (lock, lost mode, profiles, apps), and Apple's refusals.
import { randomUUID } from 'node:crypto';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';

export interface SimState {
  udid: string;
  serialNumber: string;
  model: string;
  modelName: string;
  productName: string;
  osVersion: string;
  buildVersion: string;
  deviceName: string;
  imei: string;
  supervised: boolean;
  passcodePresent: boolean;
  locked: boolean;
  lostMode: boolean;
  lostModeMessage: string | null;
  erased: boolean;
  profiles: { identifier: string; uuid: string; displayName: string; version: number }[];
  apps: { identifier: string; name: string; version: string; shortVersion: string; bundleSize: number; managed: boolean }[];
  certificates: { commonName: string; der: Uint8Array; isIdentity: boolean }[];
  /** Request types answered NotNow once (e.g. while the screen is locked). */
  notNowOnce: Set<string>;
}

export interface SimAnswer {
  status: 'Acknowledged' | 'Error' | 'NotNow' | 'CommandFormatError';
  keys?: PlistDict;
  errorChain?: PlistDict[];
}

const err = (code: number, domain: string, description: string): SimAnswer => ({
  status: 'Error',
  errorChain: [{ ErrorCode: code, ErrorDomain: domain, LocalizedDescription: description, USEnglishDescription: description }],
});

function deviceInformation(s: SimState, queries: PlistValue | undefined): SimAnswer {
  const all: PlistDict = {
    UDID: s.udid,
    SerialNumber: s.serialNumber,
    Model: s.model,
    ModelName: s.modelName,
    ProductName: s.productName,
    OSVersion: s.osVersion,
    BuildVersion: s.buildVersion,
    DeviceName: s.deviceName,
    IMEI: s.imei,
    IsSupervised: s.supervised,
    IsDeviceLocatorServiceEnabled: true,
    IsActivationLockEnabled: false,
    DeviceCapacity: 128,
    AvailableDeviceCapacity: 71.5,
    BatteryLevel: 0.82,
    WiFiMAC: '00:11:22:33:44:55',
    IsMDMLostModeEnabled: s.lostMode,
  };
  const wanted = Array.isArray(queries) ? queries.filter((q): q is string => typeof q === 'string') : Object.keys(all);
  const out: PlistDict = {};
  for (const q of wanted) if (q in all) out[q] = all[q]!;
  return { status: 'Acknowledged', keys: { QueryResponses: out } };
}

/** Applies the command to the device state and returns the answer. */
export function answer(s: SimState, command: PlistDict): SimAnswer {
  const requestType = typeof command.RequestType === 'string' ? command.RequestType : '';
  if (s.notNowOnce.delete(requestType)) return { status: 'NotNow' };
  switch (requestType) {
    case 'DeviceInformation':
      return deviceInformation(s, command.Queries);
    case 'SecurityInfo':
      return {
        status: 'Acknowledged',
        keys: {
          SecurityInfo: {
            HardwareEncryptionCaps: 3,
            PasscodePresent: s.passcodePresent,
            PasscodeCompliant: s.passcodePresent,
            PasscodeCompliantWithProfiles: true,
            PasscodeLockGracePeriodEnforced: 0,
          },
        },
      };
    case 'InstalledApplicationList':
      return {
        status: 'Acknowledged',
        keys: {
          InstalledApplicationList: s.apps.map((a) => ({
            Identifier: a.identifier,
            Name: a.name,
            Version: a.version,
            ShortVersion: a.shortVersion,
            BundleSize: a.bundleSize,
            IsValidated: true,
          })),
        },
      };
    case 'ProfileList':
      return {
        status: 'Acknowledged',
        keys: {
          ProfileList: s.profiles.map((p) => ({
            PayloadIdentifier: p.identifier,
            PayloadUUID: p.uuid,
            PayloadDisplayName: p.displayName,
            PayloadVersion: p.version,
            IsManaged: true,
            PayloadContent: [],
          })),
        },
      };
    case 'CertificateList':
      return {
        status: 'Acknowledged',
        keys: { CertificateList: s.certificates.map((c) => ({ CommonName: c.commonName, Data: c.der, IsIdentity: c.isIdentity })) },
      };
    case 'InstallProfile': {
      const payload = command.Payload;
      if (!(payload instanceof Uint8Array) || payload.length === 0) return err(4001, 'MCProfileErrorDomain', 'The profile is not valid.');
      const text = Buffer.from(payload).toString('utf8');
      const identifier = /<key>PayloadIdentifier<\/key>\s*<string>([^<]{1,200})<\/string>/.exec(text)?.[1];
      if (!identifier) return err(1000, 'MCProfileErrorDomain', 'The profile is missing PayloadIdentifier.');
      const name = /<key>PayloadDisplayName<\/key>\s*<string>([^<]{1,200})<\/string>/.exec(text)?.[1] ?? identifier;
      s.profiles = s.profiles.filter((p) => p.identifier !== identifier);
      s.profiles.push({ identifier, uuid: randomUUID().toUpperCase(), displayName: name, version: 1 });
      return { status: 'Acknowledged' };
    }
    case 'RemoveProfile': {
      const id = command.Identifier;
      const before = s.profiles.length;
      s.profiles = s.profiles.filter((p) => p.identifier !== id);
      return s.profiles.length === before ? err(1004, 'MCProfileErrorDomain', 'The profile is not installed.') : { status: 'Acknowledged' };
    }
    case 'DeviceLock':
      s.locked = true;
      return { status: 'Acknowledged' };
    case 'EnableLostMode':
      if (!s.supervised) return err(12078, 'MCMDMErrorDomain', 'Lost mode requires a supervised device.');
      s.lostMode = true;
      s.locked = true;
      s.lostModeMessage = typeof command.Message === 'string' ? command.Message : null;
      return { status: 'Acknowledged' };
    case 'DisableLostMode':
      if (!s.lostMode) return err(12067, 'MCMDMErrorDomain', 'The device is not in lost mode.');
      s.lostMode = false;
      return { status: 'Acknowledged' };
    case 'DeviceLocation':
      if (!s.lostMode) return err(12067, 'MCMDMErrorDomain', 'The device is not in lost mode.');
      return {
        status: 'Acknowledged',
        keys: { Latitude: 50.8467, Longitude: 4.3525, HorizontalAccuracy: 12, VerticalAccuracy: 8, Altitude: 60, Speed: 0, Course: -1, Timestamp: new Date() },
      };
    case 'PlayLostModeSound':
      if (!s.lostMode) return err(12067, 'MCMDMErrorDomain', 'The device is not in lost mode.');
      return { status: 'Acknowledged' };
    case 'EraseDevice':
      s.erased = true;
      return { status: 'Acknowledged' };
    case 'ClearPasscode':
      if (!(command.UnlockToken instanceof Uint8Array)) return err(12025, 'MCMDMErrorDomain', 'The unlock token is missing.');
      s.passcodePresent = false;
      return { status: 'Acknowledged' };
    case 'RestartDevice':
    case 'ShutDownDevice':
      if (!s.supervised) return err(12078, 'MCMDMErrorDomain', 'This command requires a supervised device.');
      return { status: 'Acknowledged' };
    case 'InstallApplication': {
      const id = typeof command.Identifier === 'string' ? command.Identifier : undefined;
      if (!id) return err(12004, 'MCMDMErrorDomain', 'Only App Store apps by identifier are supported by this device.');
      if (!s.apps.some((a) => a.identifier === id)) {
        s.apps.push({ identifier: id, name: id.split('.').pop() ?? id, version: '1', shortVersion: '1.0', bundleSize: 1_000_000, managed: true });
      }
      return { status: 'Acknowledged', keys: { Identifier: id, State: 'Queued' } };
    }
    case 'RemoveApplication': {
      const id = command.Identifier;
      const app = s.apps.find((a) => a.identifier === id);
      if (!app || !app.managed) return err(12029, 'MCMDMErrorDomain', 'The app is not managed.');
      s.apps = s.apps.filter((a) => a !== app);
      return { status: 'Acknowledged' };
    }
    case 'Settings': {
      const items = Array.isArray(command.Settings) ? command.Settings : [];
      return {
        status: 'Acknowledged',
        keys: {
          Settings: items.map((i) => {
            const item = typeof i === 'object' && i !== null && 'Item' in i ? (i as PlistDict).Item : undefined;
            if (item === 'DeviceName' && typeof (i as PlistDict).DeviceName === 'string') s.deviceName = (i as PlistDict).DeviceName as string;
            return { Item: typeof item === 'string' ? item : 'Unknown', Status: 'Acknowledged' };
          }),
        },
      };
    }
    default:
      return err(12021, 'MCMDMErrorDomain', 'The command is not supported.');
  }
}
