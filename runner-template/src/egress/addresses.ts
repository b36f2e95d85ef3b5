import { isIP } from 'node:net';

/** Where an address stands: public (the egress proxy may connect), or refused with the range that refuses it. */
export type AddressClass = { public: true } | { public: false; range: string };

type Net = { bits: 32 | 128; base: bigint; prefix: number; what: string; cidr: string };

function net(cidr: string, what: string): Net {
  const [address = '', prefix = ''] = cidr.split('/');
  const value = toBigInt(address);
  if (value === null) throw new Error(`bad range ${cidr}`);
  return { bits: value.bits, base: value.value, prefix: Number(prefix), what, cidr };
}

const inNet = (value: bigint, n: Net): boolean =>
  value >> BigInt(n.bits - n.prefix) === n.base >> BigInt(n.bits - n.prefix);

/**
 * IPv4 ranges that are not public unicast (IANA special-purpose registry), most specific first so the message
 * names the narrowest one. An instance must never reach the platform's own network, the cloud's metadata
 * service, or anything that is not a host on the internet.
 */
const IPV4: readonly Net[] = [
  net('169.254.169.254/32', 'cloud metadata (AWS, Azure, GCP, OpenStack, DigitalOcean)'),
  net('169.254.170.2/32', 'cloud metadata (AWS ECS)'),
  net('169.254.169.123/32', 'cloud metadata (AWS time sync)'),
  net('100.100.100.200/32', 'cloud metadata (Alibaba Cloud)'),
  net('192.0.0.192/32', 'cloud metadata (Oracle Cloud)'),
  net('255.255.255.255/32', 'broadcast'),
  net('0.0.0.0/8', 'this network'),
  net('10.0.0.0/8', 'private'),
  net('100.64.0.0/10', 'carrier-grade NAT'),
  net('127.0.0.0/8', 'loopback'),
  net('169.254.0.0/16', 'link-local'),
  net('172.16.0.0/12', 'private'),
  net('192.0.0.0/24', 'IETF protocol assignments'),
  net('192.0.2.0/24', 'documentation'),
  net('192.88.99.0/24', '6to4 relay anycast'),
  net('192.168.0.0/16', 'private'),
  net('198.18.0.0/15', 'benchmarking'),
  net('198.51.100.0/24', 'documentation'),
  net('203.0.113.0/24', 'documentation'),
  net('224.0.0.0/4', 'multicast'),
  net('240.0.0.0/4', 'reserved'),
];

/** IPv6 ranges refused outright (embedding forms judged by their IPv4 are handled before these). */
const IPV6: readonly Net[] = [
  net('::/128', 'unspecified'),
  net('::1/128', 'loopback'),
  net('::/96', 'IPv4-compatible (deprecated)'),
  net('64:ff9b:1::/48', 'NAT64 local-use (can translate to any IPv4 address, private ones included)'),
  net('100::/64', 'discard-only'),
  net('2001::/32', 'Teredo (tunnels to a host behind NAT through a relay)'),
  net('2001:db8::/32', 'documentation'),
  net('2001::/23', 'IETF protocol assignments'),
  net('3fff::/20', 'documentation'),
  net('fd00:ec2::254/128', 'cloud metadata (AWS)'),
  net('fd00:ec2::23/128', 'cloud metadata (AWS time sync)'),
  net('fc00::/7', 'unique local'),
  net('fe80::/10', 'link-local'),
  net('fec0::/10', 'site-local (deprecated)'),
  net('ff00::/8', 'multicast'),
];
const GLOBAL_UNICAST = net('2000::/3', 'global unicast');

/** IPv6 forms that carry an IPv4 address the packet ends up at: judged by that address. */
const EMBEDDING: readonly { net: Net; ipv4: (value: bigint) => bigint }[] = [
  { net: net('::ffff:0:0/96', 'IPv4-mapped'), ipv4: (v) => v & 0xffffffffn },
  { net: net('64:ff9b::/96', 'NAT64'), ipv4: (v) => v & 0xffffffffn },
  { net: net('2002::/16', '6to4'), ipv4: (v) => (v >> 80n) & 0xffffffffn },
];

/** Documentation ranges: the only ones a test may declare public (BMMS_TEST_PUBLIC_RANGES). */
const DOCUMENTATION: readonly Net[] = [
  net('192.0.2.0/24', 'documentation'),
  net('198.51.100.0/24', 'documentation'),
  net('203.0.113.0/24', 'documentation'),
  net('2001:db8::/32', 'documentation'),
  net('3fff::/20', 'documentation'),
];

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Value(address: string): bigint {
  let text = address;
  const groups: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (dotted) {
    const v = Number(ipv4Value(dotted[1] as string));
    tail = [Math.floor(v / 0x10000), v % 0x10000];
    text = text.slice(0, -(dotted[1] as string).length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  groups.push(...left, ...Array(8 - left.length - right.length - tail.length).fill(0), ...right, ...tail);
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function toBigInt(address: string): { bits: 32 | 128; value: bigint } | null {
  const bare = address.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 4) return { bits: 32, value: ipv4Value(bare) };
  if (family === 6) return { bits: 128, value: ipv6Value(bare) };
  return null;
}

function ipv4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

const refused = (n: Net): AddressClass => ({ public: false, range: `${n.what}, ${n.cidr}` });

/** Thrown when a test-only public range is not inside a documentation range. */
export class TestPublicRangeError extends Error {
  readonly code = 'test_public_range_invalid';
  constructor(range: string) {
    super(
      `"${range}" can't be treated as public: only parts of the documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 and 3fff::/20 can (tests only).`,
    );
    this.name = 'TestPublicRangeError';
  }
}

/** Parses one CIDR (`198.51.100.0/24`); null when it is not one. */
function parseCidr(text: string): Net | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  const value = m ? toBigInt(m[1] as string) : null;
  if (!m || !value) return null;
  const prefix = Number(m[2]);
  if (prefix > value.bits) return null;
  return { bits: value.bits, base: value.value, prefix, what: 'test public range', cidr: text.trim() };
}

/**
 * Parses `BMMS_TEST_PUBLIC_RANGES` (comma-separated CIDRs) for tests whose stand-in "public" host lives in a
 * network namespace; throws TestPublicRangeError unless every range lies inside a documentation range.
 */
export function parseTestPublicRanges(text: string | undefined): string[] {
  const ranges = (text ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const range of ranges) {
    const n = parseCidr(range);
    const inside =
      n !== null && DOCUMENTATION.some((d) => d.bits === n.bits && n.prefix >= d.prefix && inNet(n.base, d));
    if (!inside) throw new TestPublicRangeError(range);
  }
  return ranges;
}

/**
 * Builds the address classifier. `testPublicRanges` (tests only) are parts of documentation ranges that count
 * as public; anything else in them throws TestPublicRangeError.
 */
export function addressClassifier(testPublicRanges: readonly string[] = []): (address: string) => AddressClass {
  const testNets = parseTestPublicRanges(testPublicRanges.join(',')).map((r) => parseCidr(r) as Net);
  const classify = (address: string): AddressClass => {
    const parsed = toBigInt(address);
    if (parsed === null) return { public: false, range: 'not an IP address' };
    const { bits, value } = parsed;
    if (testNets.some((n) => n.bits === bits && inNet(value, n))) return { public: true };
    if (bits === 32) {
      const hit = IPV4.find((n) => inNet(value, n));
      return hit ? refused(hit) : { public: true };
    }
    for (const e of EMBEDDING) {
      if (!inNet(value, e.net)) continue;
      const ipv4 = ipv4Text(e.ipv4(value));
      const inner = classify(ipv4);
      return inner.public
        ? inner
        : { public: false, range: `${e.net.what} ${e.net.cidr} carrying ${ipv4}: ${inner.range}` };
    }
    const hit = IPV6.find((n) => inNet(value, n));
    if (hit) return refused(hit);
    return inNet(value, GLOBAL_UNICAST)
      ? { public: true }
      : { public: false, range: 'reserved, outside global unicast 2000::/3' };
  };
  return classify;
}

/** Classifies an IP address with the production table (no test ranges). */
export const classifyAddress: (address: string) => AddressClass = addressClassifier();

/** True when `address` is an IP literal outside every refused range (public unicast). */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).public;
}
