// Mapping stored records to what administrators see. Each view names the
// fields it copies, so a field added to a stored record is never shown by
// accident; push tokens, push magic, sealed tokens, identity-certificate
// hashes, IMEI and MEID are never copied.
import type { Device, InstalledApp, QueueEntry } from '../storage/types.ts';
import type { JsonValue } from '../audit/types.ts';
import type { CommandResult, DeviceDetail, DeviceView, QueueEntryView } from './types.ts';

export function toDeviceView(d: Device): DeviceView {
  return {
    id: d.id,
    status: d.status,
    serialNumber: d.serialNumber,
    model: d.model,
    modelName: d.modelName,
    productName: d.productName,
    deviceName: d.deviceName,
    osVersion: d.osVersion,
    buildVersion: d.buildVersion,
    isSupervised: d.isSupervised,
    isEncrypted: d.isEncrypted,
    passcodePresent: d.passcodePresent,
    passcodeCompliant: d.passcodeCompliant,
    hasPushToken: d.pushToken !== null && d.pushToken !== '' && d.pushMagic !== null && d.pushMagic !== '',
    enrolledAt: d.enrolledAt,
    lastSeenAt: d.lastSeenAt,
    checkedOutAt: d.checkedOutAt,
  };
}

export function toDeviceDetail(d: Device, apps: InstalledApp[]): DeviceDetail {
  return {
    ...toDeviceView(d),
    apps: apps.map((a) => ({
      identifier: a.identifier,
      name: a.name,
      version: a.version,
      shortVersion: a.shortVersion,
      bundleSize: a.bundleSize,
      isManaged: a.isManaged,
    })),
    deviceInfo: parseJson(d.deviceInfoJson),
    securityInfo: parseJson(d.securityInfoJson),
  };
}

export function toQueueEntryView(e: QueueEntry): QueueEntryView {
  return {
    deviceId: e.deviceId,
    commandUuid: e.commandUuid,
    requestType: e.requestType,
    status: e.status,
    queuedAt: e.queuedAt,
    deliveries: e.deliveries,
    lastDeliveredAt: e.lastDeliveredAt,
    resultAt: e.resultAt,
    notNowCount: e.notNowCount,
  };
}

export function toCommandResult(e: QueueEntry): CommandResult {
  return {
    ...toQueueEntryView(e),
    result: parseJson(e.resultJson),
    resultRaw: e.resultRaw ? Buffer.from(e.resultRaw).toString('base64') : null,
    errorChain: parseJson(e.errorJson),
  };
}

/** Stored JSON text to a value; null when absent or unreadable (never throws). */
export function parseJson(text: string | null): JsonValue | null {
  if (text === null || text === '') return null;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
}
