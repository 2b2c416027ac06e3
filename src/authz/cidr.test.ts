import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inNetworks, normalizeNetworks, parseCidr } from './cidr.ts';

describe('cidr', () => {
  it('parses IPv4 and IPv6 blocks and bare addresses', () => {
    assert.deepEqual(parseCidr('10.1.0.0/16'), { address: '10.1.0.0', prefix: 16, family: 'ipv4' });
    assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
    assert.deepEqual(parseCidr('127.0.0.1'), { address: '127.0.0.1', prefix: 32, family: 'ipv4' });
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'example.com/8', '10.0.0/8', '', '1.2.3.4/-1', '1.2.3.4/8/8']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
  it('matches sources, including IPv4-mapped IPv6', () => {
    const nets = normalizeNetworks(['10.1.0.0/16', '2001:db8:1::/48']);
    assert.ok(inNetworks('10.1.200.3', nets));
    assert.ok(inNetworks('::ffff:10.1.2.3', nets));
    assert.ok(inNetworks('2001:db8:1:ffff::1', nets));
    assert.ok(!inNetworks('10.2.0.1', nets));
    assert.ok(!inNetworks('2001:db8:2::1', nets));
    assert.ok(!inNetworks(undefined, nets));
    assert.ok(!inNetworks('not an address', nets));
  });
  it('refuses malformed lists', () => {
    assert.throws(() => normalizeNetworks(['10.0.0.0/8', 'nope']), /invalid networks/);
    assert.throws(() => normalizeNetworks(Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`)), /invalid networks/);
  });
});
