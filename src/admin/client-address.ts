// The admin API's idea of where a request came from. Without trusted proxies
// (the default) it is the TCP peer, whatever the headers say. With
// RAMPART_TRUST_PROXY, X-Forwarded-For is read right to left while the hop
// that added an entry is one of those proxies: the first address added by
// anything else (or the leftmost, when every hop is trusted) is the client.
// A malformed entry stops the walk at the last trusted hop, so a header can
// never yield something that is not an IP address. Used for sign-in
// throttling, network-bound tokens and the audit source. Pure: no I/O.
import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../authz/cidr.ts';

/** Most X-Forwarded-For entries read (a longer chain is cut, keeping the rightmost). */
export const MAX_FORWARDED_HOPS = 16;
const MAX_HEADER_CHARS = 2048;

function unmap(a: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  return m ? m[1]! : a;
}

export type ClientAddress = (peer: string | undefined, forwardedFor: string | string[] | undefined) => string;

/** Throws on a malformed CIDR (the configuration is validated before this). */
export function createClientAddress(trustedProxies: readonly string[]): ClientAddress {
  if (trustedProxies.length === 0) return (peer) => unmap(peer ?? '');
  const list = new BlockList();
  for (const t of trustedProxies) {
    const c = parseCidr(t);
    if (!c) throw new Error(`not a CIDR: ${t}`);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  const trusted = (addr: string): boolean => {
    const v = isIP(addr);
    return v !== 0 && list.check(addr, v === 4 ? 'ipv4' : 'ipv6');
  };
  return (peer, forwardedFor) => {
    let addr = unmap(peer ?? '');
    if (!trusted(addr) || forwardedFor === undefined) return addr;
    // Several X-Forwarded-For headers are one list, in order.
    const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
    if (header.length > MAX_HEADER_CHARS) return addr;
    const hops = header.split(',').slice(-MAX_FORWARDED_HOPS);
    for (let i = hops.length - 1; i >= 0; i--) {
      const entry = unmap(hops[i]!.trim());
      if (isIP(entry) === 0) return addr;
      addr = entry;
      if (!trusted(addr)) return addr;
    }
    return addr;
  };
}
