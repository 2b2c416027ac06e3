// Source-network lists for API tokens: IPv4 and IPv6 CIDR blocks, matched
// with node:net's BlockList. IPv4-mapped IPv6 sources (::ffff:a.b.c.d) are
// matched as IPv4.
import { BlockList, isIP, SocketAddress } from 'node:net';
import { badRequest } from '../lib/errors.ts';

export const MAX_NETWORKS = 32;

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses "a.b.c.d/n" or "x::y/n" (a bare address is a /32 or /128); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const v = isIP(m[1]!);
  if (v === 0) return undefined;
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  const address = SocketAddress.parse(`${v === 6 ? `[${m[1]}]` : m[1]}:1`)?.address ?? m[1]!;
  return { address, prefix, family };
}

/** Canonical text of a CIDR list; throws bad_request naming nothing but the position. */
export function normalizeNetworks(list: readonly string[]): string[] {
  if (!Array.isArray(list) || list.length > MAX_NETWORKS) throw badRequest('invalid networks');
  const out = new Set<string>();
  list.forEach((t) => {
    const c = parseCidr(t);
    if (!c) throw badRequest('invalid networks');
    out.add(`${c.address}/${c.prefix}`);
  });
  return [...out];
}

function unmap(source: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(source);
  return m ? m[1]! : source;
}

/** True when the source address is inside one of the networks. */
export function inNetworks(source: string | undefined, networks: readonly string[]): boolean {
  if (source === undefined) return false;
  const addr = unmap(source);
  const v = isIP(addr);
  if (v === 0) return false;
  const list = new BlockList();
  for (const n of networks) {
    const c = parseCidr(n);
    if (c) list.addSubnet(c.address, c.prefix, c.family);
  }
  return list.check(addr, v === 4 ? 'ipv4' : 'ipv6');
}
