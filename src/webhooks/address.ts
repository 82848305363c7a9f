import { lookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/*
 * Which addresses a webhook may reach (decision 0022): public unicast only. Everything a
 * request could use to reach the server itself, its network or its cloud's metadata service
 * is refused: unspecified, loopback, private (RFC 1918, unique local), carrier-grade NAT,
 * link-local, multicast, broadcast and reserved ranges, and IPv6 forms that embed an IPv4
 * address (mapped, NAT64, 6to4), which are judged by that IPv4 address.
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** The IPv4 address an IPv6 address carries (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16), if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1];
  if (dotted) return dotted;
  const groups = expandIpv6(lower);
  if (!groups) return undefined;
  const toV4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && groups[5] === 0xffff) return toV4(groups[6] as number, groups[7] as number);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return toV4(groups[6] as number, groups[7] as number);
  if (groups[0] === 0x2002) return toV4(groups[1] as number, groups[2] as number);
  if (zeros(0, 6)) return toV4(groups[6] as number, groups[7] as number); // deprecated IPv4-compatible
  return undefined;
}

/** The 8 groups of an IPv6 address in hex-only notation, or undefined. */
function expandIpv6(address: string): number[] | undefined {
  if (address.includes('.')) return undefined;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = 8 - left.length - right.length;
  if (fill < 0 || (tail === undefined && fill !== 0)) return undefined;
  return [...left, ...new Array<number>(fill).fill(0), ...right];
}

/** True when a literal IP address is public unicast (see above). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blocked.check(address, 'ipv4');
  if (family !== 6) return false;
  const bare = address.replace(/%.*$/, ''); // zone ids are link-local anyway
  const v4 = embeddedIpv4(bare);
  if (v4 !== undefined && isIP(v4) === 4) return !blocked.check(v4, 'ipv4') && !blocked.check(bare, 'ipv6');
  return !blocked.check(bare, 'ipv6');
}

export class RefusedAddressError extends Error {
  readonly code = 'WEBHOOK_ADDRESS_REFUSED';
}

/**
 * A `lookup` for http(s).request that resolves every address of the host, refuses the
 * connection if any one of them is not public, and hands the socket the address it checked,
 * so a second resolution (DNS rebinding) cannot swap in another.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const list = addresses as { address: string; family: number }[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (list.length === 0 || bad)
      return callback(
        new RefusedAddressError(`refused: ${hostname} resolves to a non-public address (${bad?.address ?? 'none'})`),
        '',
        0,
      );
    const first = list[0] as { address: string; family: number };
    if ((options as { all?: boolean }).all) return (callback as (e: null, a: typeof list) => void)(null, list);
    return callback(null, first.address, first.family);
  });
};
