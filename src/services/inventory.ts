// Inventory: what acknowledged query commands tell us about a device.
import type { JsonValue } from '../audit/types.ts';
import type { PlistDict, PlistValue } from '../protocol/plist/index.ts';
import type { DevicePatch, DeviceStore, InstalledApp } from '../storage/types.ts';

const str = (v: PlistValue | undefined): string | null => (typeof v === 'string' ? v : null);
const bool = (v: PlistValue | undefined): boolean | null => (typeof v === 'boolean' ? v : null);
const num = (v: PlistValue | undefined): number | null => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null);
const dict = (v: PlistValue | undefined): PlistDict | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date) ? (v as PlistDict) : null;

/** The device fields DeviceInformation's QueryResponses update. */
export function patchFromDeviceInformation(q: PlistDict): DevicePatch {
  const patch: DevicePatch = {};
  const set = <K extends keyof DevicePatch>(k: K, v: DevicePatch[K] | null): void => {
    if (v !== null && v !== undefined) patch[k] = v;
  };
  set('serialNumber', str(q.SerialNumber));
  set('model', str(q.Model));
  set('modelName', str(q.ModelName));
  set('productName', str(q.ProductName));
  set('deviceName', str(q.DeviceName));
  set('osVersion', str(q.OSVersion));
  set('buildVersion', str(q.BuildVersion));
  set('imei', str(q.IMEI));
  set('meid', str(q.MEID));
  set('isSupervised', bool(q.IsSupervised));
  return patch;
}

/** Encryption and passcode state from SecurityInfo (iOS: HardwareEncryptionCaps; macOS: FDE_Enabled). */
export function patchFromSecurityInfo(s: PlistDict): DevicePatch {
  const patch: DevicePatch = {};
  const caps = num(s.HardwareEncryptionCaps);
  const fde = bool(s.FDE_Enabled);
  const present = bool(s.PasscodePresent);
  const compliant = bool(s.PasscodeCompliant);
  // iOS data protection needs hardware encryption (caps bit 1 = block, 2 = file) and a passcode.
  if (fde !== null) patch.isEncrypted = fde;
  else if (caps !== null) patch.isEncrypted = (caps & 3) !== 0 && present === true;
  if (present !== null) patch.passcodePresent = present;
  if (compliant !== null) patch.passcodeCompliant = compliant;
  return patch;
}

export function appsFromList(list: PlistValue | undefined): InstalledApp[] {
  if (!Array.isArray(list)) return [];
  const apps: InstalledApp[] = [];
  const seen = new Set<string>();
  for (const item of list.slice(0, 10_000)) {
    const a = dict(item);
    // Deduplicated on the identifier as stored (truncated), so two long identifiers cannot both survive.
    const id = a ? (str(a.Identifier)?.slice(0, 256) ?? null) : null;
    if (!a || !id || seen.has(id)) continue;
    seen.add(id);
    apps.push({
      identifier: id,
      name: str(a.Name)?.slice(0, 256) ?? null,
      version: str(a.Version)?.slice(0, 64) ?? null,
      shortVersion: str(a.ShortVersion)?.slice(0, 64) ?? null,
      bundleSize: num(a.BundleSize),
      isManaged: bool(a.IsManaged) ?? bool(a.Managed),
    });
  }
  return apps;
}

export function createInventoryService(deps: { devices: DeviceStore; now: () => Date; toJson: (v: PlistValue) => JsonValue }) {
  return {
    /** Applies an acknowledged command's result to the device record. */
    async apply(deviceId: string, requestType: string, body: PlistDict): Promise<void> {
      const now = deps.now().toISOString();
      switch (requestType) {
        case 'DeviceInformation': {
          const q = dict(body.QueryResponses);
          if (!q) return;
          await deps.devices.update(deviceId, { ...patchFromDeviceInformation(q), deviceInfoJson: JSON.stringify(deps.toJson(q)) }, now);
          return;
        }
        case 'SecurityInfo': {
          const s = dict(body.SecurityInfo);
          if (!s) return;
          await deps.devices.update(deviceId, { ...patchFromSecurityInfo(s), securityInfoJson: JSON.stringify(deps.toJson(s)) }, now);
          return;
        }
        case 'InstalledApplicationList':
          await deps.devices.replaceApps(deviceId, appsFromList(body.InstalledApplicationList), now);
          return;
        case 'EraseDevice':
          // An erased device is no longer managed; it may enroll again with a new identity.
          await deps.devices.update(deviceId, { status: 'checked_out', checkedOutAt: now, pushToken: null, pushMagic: null }, now);
          return;
        default:
          return;
      }
    },
  };
}

export type InventoryService = ReturnType<typeof createInventoryService>;
