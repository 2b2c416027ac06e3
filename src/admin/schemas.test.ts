import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTES } from './routes/index.ts';
import { EnqueueBody, LimitString, IsoTimeString, PAYLOAD_KEY_PATTERN } from './schemas.ts';

type S = { type?: string; properties?: Record<string, S>; items?: S; anyOf?: S[]; patternProperties?: Record<string, S>; additionalProperties?: unknown; pattern?: string };

function walk(s: S, path: string, visit: (s: S, path: string) => void): void {
  visit(s, path);
  for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}/${k}`, visit);
  for (const [k, v] of Object.entries(s.patternProperties ?? {})) walk(v, `${path}/[${k}]`, visit);
  if (s.items) walk(s.items, `${path}/items`, visit);
  for (const [i, v] of (s.anyOf ?? []).entries()) walk(v, `${path}/anyOf${i}`, visit);
}

describe('route schemas', () => {
  it('every object in every request and response schema is closed', () => {
    for (const r of ROUTES) {
      const parts = { params: r.schema.params, querystring: r.schema.querystring, body: r.schema.body, ...r.schema.response };
      for (const [where, schema] of Object.entries(parts)) {
        if (!schema) continue;
        walk(JSON.parse(JSON.stringify(schema)) as S, `${r.id}.${where}`, (s, p) => {
          if (s.type === 'object') assert.equal(s.additionalProperties, false, p);
        });
      }
    }
  });

  it('query-string and path values are strings with patterns or fixed values', () => {
    for (const r of ROUTES) {
      for (const part of [r.schema.params, r.schema.querystring]) {
        if (!part) continue;
        const obj = JSON.parse(JSON.stringify(part)) as S;
        for (const [k, v] of Object.entries(obj.properties ?? {})) {
          const strings = v.anyOf ?? [v];
          for (const x of strings) {
            assert.equal(x.type, 'string', `${r.id} ${k}`);
            assert.ok(x.pattern !== undefined || (x as { const?: string }).const !== undefined, `${r.id} ${k}`);
          }
        }
      }
    }
  });

  it('patterns mean what they say', () => {
    const limit = new RegExp((LimitString as unknown as { pattern: string }).pattern);
    for (const ok of ['1', '99', '1000']) assert.ok(limit.test(ok));
    for (const bad of ['0', '01', '1001', '-1', '1e3', ' 1', '']) assert.ok(!limit.test(bad), bad);
    const iso = new RegExp((IsoTimeString as unknown as { pattern: string }).pattern);
    assert.ok(iso.test('2026-01-01T00:00:00Z') && iso.test('2026-01-01T00:00:00.123+02:00'));
    assert.ok(!iso.test('2026-01-01') && !iso.test('yesterday'));
    const key = new RegExp(PAYLOAD_KEY_PATTERN);
    assert.ok(key.test('Message') && !key.test('RequestType') && !key.test('__proto__') && !key.test('a b'));
    assert.equal((EnqueueBody as unknown as { additionalProperties: boolean }).additionalProperties, false);
  });
});
