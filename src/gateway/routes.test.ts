import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchDeviceRoute, PUBLIC_DEVICE_ROUTES } from './routes.ts';

test('only the listed method and path pairs match', () => {
  for (const r of PUBLIC_DEVICE_ROUTES) assert.equal(matchDeviceRoute(r.method, r.path), r);
  assert.equal(matchDeviceRoute('GET', '/mdm/checkin'), undefined);
  assert.equal(matchDeviceRoute('POST', '/mdm/connect'), undefined);
});

test('path-normalisation variants never match', () => {
  const variants = [
    '/mdm/../mdm/checkin', '/mdm/..;/mdm/checkin', '/mdm/%2e%2e/mdm/checkin', '/mdm/%2E%2E/mdm/checkin',
    '//mdm/checkin', '/mdm//checkin', '/MDM/checkin', '/mdm/Checkin', '/mdm/checkin/', '/mdm/checkin;x',
    '/mdm/checkin?x=1', '/mdm%2Fcheckin', '/./mdm/checkin', 'mdm/checkin', 'http://host/mdm/checkin',
    '/mdm/checkin%00', '/mdm/checkin#', '/api/v1/health', '/api/v1/devices', '/metrics', '/debug', '/',
  ];
  for (const v of variants) assert.equal(matchDeviceRoute('PUT', v), undefined, v);
});
