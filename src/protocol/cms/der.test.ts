import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DerError, MAX_DEPTH, TAG, children, encodeOid, encodeSmallInt, encodeTime, octets, oid, parse, raw, setOf, smallInt, time,
  tlv, toDefinite,
} from './der.ts';

const b = (...x: number[]): Uint8Array => new Uint8Array(x);

describe('der reader', () => {
  it('parses definite and long-form lengths', () => {
    const long = tlv(TAG.OCTET_STRING, new Uint8Array(300));
    assert.deepEqual([...long.subarray(0, 4)], [0x04, 0x82, 0x01, 0x2c]);
    const n = parse(long);
    assert.equal(n.contentEnd - n.contentStart, 300);
  });

  it('parses nested indefinite lengths and finds the right end', () => {
    const ber = b(0x30, 0x80, 0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00, 0x04, 0x01, 0x09, 0x00, 0x00);
    const n = parse(ber);
    const [inner, os] = children(n);
    assert.equal(smallInt(children(inner as never)[0]), 5);
    assert.deepEqual(octets(os), b(9));
    assert.deepEqual(toDefinite(n), b(0x30, 0x08, 0x30, 0x03, 0x02, 0x01, 0x05, 0x04, 0x01, 0x09));
  });

  it('concatenates constructed OCTET STRING chunks', () => {
    assert.deepEqual(octets(parse(b(0x24, 0x80, 0x04, 0x01, 1, 0x04, 0x02, 2, 3, 0x00, 0x00))), b(1, 2, 3));
  });

  it('refuses truncation, trailing data, high tags, indefinite primitives, overlong lengths', () => {
    for (const bad of [b(0x30), b(0x30, 0x03, 0x02, 0x01), b(0x05, 0x00, 0x00), b(0x1f, 0x01, 0x00), b(0x04, 0x80, 0x00, 0x00),
      b(0x04, 0x85, 1, 1, 1, 1, 1), b(0x30, 0x80, 0x05, 0x00), b(0x00, 0x00)]) {
      assert.throws(() => {
        const n = parse(bad);
        if (n.constructed) children(n);
      }, DerError, Buffer.from(bad).toString('hex'));
    }
  });

  it('refuses nesting beyond MAX_DEPTH', () => {
    let x = b(0x05, 0x00);
    for (let i = 0; i <= MAX_DEPTH + 1; i++) x = new Uint8Array([0x30, 0x80, ...x, 0, 0]);
    assert.throws(() => parse(x), DerError);
  });

  it('OIDs round-trip', () => {
    for (const o of ['1.2.840.113549.1.7.2', '2.16.840.1.101.3.4.2.1', '1.3.14.3.2.26', '2.999.3', '0.9.2342.19200300.100.1.1']) {
      assert.equal(oid(parse(encodeOid(o))), o);
    }
    assert.throws(() => oid(parse(b(0x06, 0x02, 0x2a, 0x86))), DerError);
    assert.throws(() => oid(parse(b(0x06, 0x02, 0x80, 0x01))), DerError);
  });

  it('times: UTCTime and GeneralizedTime, strictly', () => {
    for (const d of ['1999-12-31T23:59:59Z', '2049-01-02T03:04:05Z', '2050-01-01T00:00:00Z', '2150-06-07T08:09:10Z']) {
      assert.equal(time(parse(encodeTime(new Date(d)))).toISOString(), new Date(d).toISOString());
    }
    const enc = (tag: number, s: string): Uint8Array => tlv(tag, new TextEncoder().encode(s));
    for (const [tag, s] of [[TAG.UTCTime, '2402301200Z'], [TAG.UTCTime, '240230120000Z'], [TAG.UTCTime, '240101120000+0100'],
      [TAG.GeneralizedTime, '20240101120000.5Z'], [TAG.UTCTime, '24010112000aZ']] as const) {
      assert.throws(() => time(parse(enc(tag, s))), DerError, s);
    }
  });

  it('integers and DER SET OF ordering', () => {
    assert.equal(smallInt(parse(encodeSmallInt(128))), 128);
    assert.deepEqual(encodeSmallInt(128), b(0x02, 0x02, 0x00, 0x80));
    const s = setOf([b(0x04, 0x01, 0x02), b(0x02, 0x01, 0x07), b(0x04, 0x00)]);
    assert.deepEqual(s, b(0x31, 0x08, 0x02, 0x01, 0x07, 0x04, 0x00, 0x04, 0x01, 0x02));
    assert.deepEqual(raw(parse(s)), s);
  });

  it('random input only ever raises DerError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (x) => {
      try {
        const walk = (n: ReturnType<typeof parse>): void => {
          if (n.constructed) for (const k of children(n)) walk(k);
        };
        walk(parse(x));
        return true;
      } catch (e) {
        return e instanceof DerError;
      }
    }), { numRuns: 3000 });
  });
});
