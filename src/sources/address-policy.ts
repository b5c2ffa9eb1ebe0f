/**
 * Which IP addresses segserve may fetch images from on a client's behalf. Anything that reaches the machine
 * itself, its private networks or a cloud metadata service is refused unless the operator allow-lists it;
 * otherwise a `{"url": ...}` request would let any client read internal services (SSRF). Addresses are judged
 * as bytes, never as strings, so `::ffff:127.0.0.1`, `::ffff:7f00:1` and `127.0.0.1` get the same answer.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { SegserveError } from '../errors.js';

interface Range {
  bytes: Uint8Array;
  prefix: number;
}

interface NamedRange extends Range {
  name: string;
}

function parseIPv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

function parseIPv6(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let body = text.replace(/%.*$/, '');
  // A dotted IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  const dotted = body.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = parseIPv4(dotted[1]);
    body = `${body.slice(0, -dotted[1].length)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const [head, tail] = body.includes('::') ? body.split('::') : [body, undefined];
  const groups = (part: string | undefined) =>
    part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [];
  const headGroups = groups(head);
  const tailGroups = groups(tail);
  const all = [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** 4 bytes for IPv4, 16 for IPv6; undefined when the text is not an IP address. */
export function parseAddress(text: string): Uint8Array | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(bare)) return parseIPv4(bare);
  if (isIPv6(bare)) return parseIPv6(bare);
  return undefined;
}

function parseRange(cidr: string): Range {
  const [address, prefixText] = cidr.split('/');
  const bytes = parseAddress(address);
  const bits = bytes ? bytes.length * 8 : 0;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!bytes || !Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `"${cidr}" is not an IP address or CIDR range (e.g. 10.1.2.0/24, fd00::/8)`,
    });
  }
  return { bytes, prefix };
}

function inRange(address: Uint8Array, range: Range): boolean {
  if (address.length !== range.bytes.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole] & mask) === (range.bytes[whole] & mask);
}

const named = (name: string, cidrs: string[]): NamedRange[] =>
  cidrs.map((cidr) => ({ name, ...parseRange(cidr) }));

/** Checked in order: the most specific name wins (metadata before link-local). */
const FORBIDDEN: NamedRange[] = [
  // AWS, GCP, Azure, OpenStack (169.254.169.254), AWS ECS task metadata, AWS IMDS over IPv6.
  ...named('cloud metadata', ['169.254.169.254/32', '169.254.170.2/32', 'fd00:ec2::254/128']),
  ...named('unspecified', ['0.0.0.0/8', '::/128']),
  ...named('loopback', ['127.0.0.0/8', '::1/128']),
  ...named('private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fec0::/10']),
  ...named('carrier-grade NAT', ['100.64.0.0/10']),
  ...named('link-local', ['169.254.0.0/16', 'fe80::/10']),
  ...named('multicast', ['224.0.0.0/4', 'ff00::/8']),
  ...named('reserved', [
    '192.0.0.0/24',
    '192.0.2.0/24',
    '198.18.0.0/15',
    '198.51.100.0/24',
    '203.0.113.0/24',
    // Future use and the limited broadcast address 255.255.255.255.
    '240.0.0.0/4',
    '64:ff9b:1::/48',
    '100::/64',
    '2001::/32',
    '2001:db8::/32',
  ]),
];

/** IPv6 forms that carry an IPv4 address the packets end up at: the IPv4 address decides. */
const EMBEDS_IPV4: Array<Range & { offset: number; via: string }> = [
  { ...parseRange('::ffff:0:0/96'), offset: 12, via: 'IPv4-mapped' },
  { ...parseRange('64:ff9b::/96'), offset: 12, via: 'NAT64' },
  { ...parseRange('::/96'), offset: 12, via: 'IPv4-compatible' },
  { ...parseRange('2002::/16'), offset: 2, via: '6to4' },
];

export class AddressPolicy {
  readonly #allowed: Range[];

  /** `allow`: addresses or CIDR ranges that may be fetched from although they are in a refused range. */
  constructor(allow: readonly string[] = []) {
    this.#allowed = allow.map(parseRange);
  }

  /** The name of the refused range `address` lies in, or undefined when segserve may connect to it. */
  refusal(address: string): string | undefined {
    const bytes = parseAddress(address);
    if (!bytes) return 'not an IP address';
    return this.#judge(bytes, undefined);
  }

  #judge(bytes: Uint8Array, via: string | undefined): string | undefined {
    if (this.#allowed.some((range) => inRange(bytes, range))) return undefined;
    const forbidden = FORBIDDEN.find((range) => inRange(bytes, range));
    // :: and ::1 lie inside ::/96 but are IPv6 addresses in their own right, named above.
    if (forbidden) return via ? `${forbidden.name}, ${via}` : forbidden.name;
    if (bytes.length === 16) {
      const embedding = EMBEDS_IPV4.find((range) => inRange(bytes, range));
      if (embedding) return this.#judge(bytes.slice(embedding.offset, embedding.offset + 4), embedding.via);
    }
    return undefined;
  }
}
