// The real server process, driven by simulated devices: enrollment, inventory,
// ordered delivery with NotNow, identity binding, and refusal of bad input.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { api, enrolledIdentities, removeDataDir, simDevice, startServerProcess, stopServerProcess, type ServerProcess } from './harness.ts';
import type { SimIdentity } from '../../src/sim/device.ts';

let server: ServerProcess;
let identities: SimIdentity[];
let caPem: string;

before(async () => {
  server = await startServerProcess();
  ({ identities, caPem } = await enrolledIdentities(server, 3));
});
after(async () => {
  await stopServerProcess(server);
  removeDataDir(server.dataDir);
});

type Json = Record<string, unknown>;

async function send(deviceIds: string[], requestType: string, payload: Json = {}): Promise<string> {
  const r = await api(server, 'POST', '/api/v1/commands', { deviceIds, requestType, payload });
  assert.ok(r.status === 200 || r.status === 201 || r.status === 202, `enqueue ${requestType}: ${r.status} ${JSON.stringify(r.json)}`);
  return (r.json as Json).commandUuid as string;
}

async function result(uuid: string, deviceId: string): Promise<Json> {
  const r = await api(server, 'GET', `/api/v1/commands/${uuid}/devices/${encodeURIComponent(deviceId)}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json as Json;
}

test('start-up printed the URLs and a one-time credential; health is public, the rest is not', async () => {
  assert.match(server.token ?? '', /^rmp_/);
  assert.equal((await api(server, 'GET', '/api/v1/health', undefined, null)).status, 200);
  assert.equal((await api(server, 'GET', '/api/v1/devices', undefined, null)).status, 401);
  assert.equal((await api(server, 'GET', '/api/v1/devices', undefined, 'rmp_wrong')).status, 401);
});

test('a device enrolls, reports inventory, and receives commands in order with NotNow not blocking the rest', async () => {
  const dev = simDevice(server, identities[0]!, caPem);
  try {
    await dev.enroll();
    const list = await api(server, 'GET', '/api/v1/devices');
    assert.equal(list.status, 200);
    const items = (list.json as { items: Json[] }).items;
    const mine = items.find((d) => d.id === dev.udid);
    assert.ok(mine, 'enrolled device is listed');
    assert.equal(mine.status, 'enrolled');
    assert.equal(mine.hasPushToken, true);

    const info = await send([dev.udid], 'DeviceInformation', { Queries: ['SerialNumber', 'OSVersion', 'DeviceName', 'IsSupervised', 'ModelName'] });
    const sec = await send([dev.udid], 'SecurityInfo');
    const apps = await send([dev.udid], 'InstalledApplicationList');
    const handled = await dev.connect();
    assert.deepEqual(handled.map((h) => [h.requestType, h.status]), [
      ['DeviceInformation', 'Acknowledged'],
      ['SecurityInfo', 'Acknowledged'],
      ['InstalledApplicationList', 'Acknowledged'],
    ]);
    assert.deepEqual(handled.map((h) => h.uuid.toLowerCase()), [info, sec, apps].map((u) => u.toLowerCase()));
    const detail = (await api(server, 'GET', `/api/v1/devices/${dev.udid}`)).json as Json;
    assert.equal(detail.serialNumber, dev.state.serialNumber);
    assert.equal(detail.deviceName, dev.state.deviceName);
    assert.equal(detail.isSupervised, true);
    assert.equal(detail.isEncrypted, true);
    assert.equal(detail.passcodePresent, true);
    assert.deepEqual((detail.apps as Json[]).map((a) => a.identifier).sort(), dev.state.apps.map((a) => a.identifier).sort());
    const infoResult = await result(info, dev.udid);
    assert.equal(infoResult.status, 'acknowledged');
    assert.equal(((infoResult.result as Json).QueryResponses as Json).SerialNumber, dev.state.serialNumber);

    // NotNow: the profile list waits, the lock behind it does not.
    dev.state.notNowOnce.add('ProfileList');
    const profiles = await send([dev.udid], 'ProfileList');
    const lock = await send([dev.udid], 'DeviceLock', { Message: 'Call the service desk' });
    const first = await dev.connect();
    assert.deepEqual(first.map((h) => [h.requestType, h.status]), [
      ['ProfileList', 'NotNow'],
      ['DeviceLock', 'Acknowledged'],
    ]);
    assert.equal(dev.state.locked, true);
    assert.equal((await result(profiles, dev.udid)).status, 'not_now');
    assert.equal((await result(lock, dev.udid)).status, 'acknowledged');
    const second = await dev.connect();
    assert.deepEqual(second.map((h) => [h.requestType, h.status]), [['ProfileList', 'Acknowledged']]);
    assert.equal((await result(profiles, dev.udid)).status, 'acknowledged');
    assert.deepEqual(await dev.connect(), []);

    // Errors from the device are stored with their ErrorChain.
    const loc = await send([dev.udid], 'DeviceLocation');
    assert.deepEqual((await dev.connect()).map((h) => h.status), ['Error']);
    const locResult = await result(loc, dev.udid);
    assert.equal(locResult.status, 'error');
    assert.ok(Array.isArray(locResult.errorChain));
  } finally {
    dev.close();
  }
});

test('a command that does not fit Apple\'s schema is refused before it is queued', async () => {
  const dev = simDevice(server, identities[1]!, caPem);
  try {
    await dev.enroll();
    const bad = await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: 'DeviceLock', payload: { PIN: 12 } });
    assert.equal(bad.status, 400);
    const unknown = await api(server, 'POST', '/api/v1/commands', { deviceIds: [dev.udid], requestType: 'FormatHardDisk', payload: {} });
    assert.equal(unknown.status, 400);
    assert.deepEqual(await dev.connect(), [], 'nothing was queued');
  } finally {
    dev.close();
  }
});

test('the identity certificate is bound at Authenticate: another certificate cannot speak for the device', async () => {
  const owner = simDevice(server, identities[2]!, caPem);
  const impostor = simDevice(server, identities[1]!, caPem, { udid: owner.udid });
  try {
    await owner.enroll();
    assert.equal((await impostor.authenticate()).status, 401);
    assert.equal((await impostor.tokenUpdate()).status, 401);
    await assert.rejects(impostor.connect(), /401/);
    // The owner is unaffected.
    assert.deepEqual(await owner.connect(), []);
  } finally {
    owner.close();
    impostor.close();
  }
});

function rawPut(path: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const base = new URL(server.deviceUrl);
    const req = https.request({ host: base.hostname, port: base.port, path, method: 'PUT', ca: caPem, headers: { 'content-length': String(body.length), ...headers } }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('unauthenticated and malformed device-plane requests get 401/404 with fixed bodies', async () => {
  const unsigned = await rawPut('/mdm/checkin', Buffer.from('<plist><dict></dict></plist>'));
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.body, 'unauthorized\n');
  const garbageSig = await rawPut('/mdm/checkin', Buffer.from('x'), { 'mdm-signature': 'AAAA' });
  assert.equal(garbageSig.status, 401);
  const entity = await rawPut('/mdm/connect', Buffer.from('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), { 'mdm-signature': '!!!' });
  assert.equal(entity.status, 401);
  for (const p of ['/mdm/../mdm/checkin', '/MDM/checkin', '//mdm/checkin', '/mdm/checkin/', '/api/v1/devices', '/api/v1/health', '/metrics']) {
    const r = await rawPut(p, Buffer.from('x'));
    assert.equal(r.status, 404, p);
    assert.equal(r.body, 'not found\n');
  }
  // A signed request whose body is not a plist: 400 with a short message, nothing stored.
  const dev = simDevice(server, identities[0]!, caPem);
  try {
    const r = await dev.put('/mdm/checkin', Buffer.from('<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string>'));
    assert.equal(r.status, 400);
    assert.equal(Buffer.from(r.body).toString(), 'bad request\n');
  } finally {
    dev.close();
  }
});
