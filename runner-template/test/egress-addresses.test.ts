import { describe, expect, it } from 'vitest';
import {
  addressClassifier,
  classifyAddress,
  isPublicAddress,
  parseTestPublicRanges,
  TestPublicRangeError,
} from '../src/egress/addresses.ts';

// The classifier is proved by this table alone: no address here is ever contacted.

const PUBLIC = [
  '93.184.216.34',
  '8.8.8.8',
  '1.1.1.1',
  '11.0.0.1',
  '100.63.255.255', // just below carrier-grade NAT
  '100.128.0.0', // just above it
  '126.255.255.255',
  '128.0.0.1',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.255',
  '192.88.100.1',
  '192.169.0.1',
  '198.17.255.255',
  '198.20.0.0',
  '198.51.99.255',
  '198.51.101.0',
  '223.255.255.255',
  '2606:2800:220:1:248:1893:25c8:1946',
  '2a00:1450:4001:82a::200e',
  '2001:4860:4860::8888',
  '::ffff:93.184.216.34', // IPv4-mapped: judged by the IPv4 address it carries
  '::ffff:5db8:d822', // the same, in hex
  '64:ff9b::93.184.216.34', // NAT64 well-known prefix, carrying a public address
  '2002:5db8:d822::1', // 6to4 of 93.184.216.34
];

/** Refused addresses and (part of) the range the classifier names. */
const REFUSED: [string, string][] = [
  ['0.0.0.0', 'this network, 0.0.0.0/8'],
  ['0.255.255.255', 'this network'],
  ['10.0.0.1', 'private, 10.0.0.0/8'],
  ['10.255.255.255', 'private, 10.0.0.0/8'],
  ['100.64.0.0', 'carrier-grade NAT, 100.64.0.0/10'],
  ['100.127.255.255', 'carrier-grade NAT'],
  ['127.0.0.1', 'loopback, 127.0.0.0/8'],
  ['127.255.255.254', 'loopback'],
  ['169.254.0.1', 'link-local, 169.254.0.0/16'],
  ['169.254.255.255', 'link-local'],
  ['169.254.169.254', 'cloud metadata'],
  ['169.254.170.2', 'cloud metadata'],
  ['100.100.100.200', 'cloud metadata'],
  ['192.0.0.192', 'cloud metadata'],
  ['172.16.0.0', 'private, 172.16.0.0/12'],
  ['172.31.255.255', 'private, 172.16.0.0/12'],
  ['192.0.0.8', 'IETF protocol assignments, 192.0.0.0/24'],
  ['192.0.2.1', 'documentation, 192.0.2.0/24'],
  ['192.88.99.1', '6to4 relay anycast'],
  ['192.168.0.1', 'private, 192.168.0.0/16'],
  ['192.168.255.255', 'private'],
  ['198.18.0.1', 'benchmarking, 198.18.0.0/15'],
  ['198.19.255.255', 'benchmarking'],
  ['198.51.100.2', 'documentation, 198.51.100.0/24'],
  ['203.0.113.10', 'documentation, 203.0.113.0/24'],
  ['224.0.0.1', 'multicast, 224.0.0.0/4'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved, 240.0.0.0/4'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['::', 'unspecified'],
  ['::1', 'loopback, ::1/128'],
  ['::127.0.0.1', 'IPv4-compatible'],
  ['::8.8.8.8', 'IPv4-compatible'],
  ['::ffff:127.0.0.1', 'IPv4-mapped ::ffff:0:0/96 carrying 127.0.0.1: loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped ::ffff:0:0/96 carrying 127.0.0.1: loopback'],
  ['::ffff:10.0.0.1', 'carrying 10.0.0.1: private'],
  ['::ffff:169.254.169.254', 'carrying 169.254.169.254: cloud metadata'],
  ['::ffff:198.51.100.2', 'documentation'],
  ['64:ff9b::10.0.0.1', 'NAT64 64:ff9b::/96 carrying 10.0.0.1: private'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 64:ff9b::/96 carrying 169.254.169.254: cloud metadata'],
  ['64:ff9b::7f00:1', 'carrying 127.0.0.1: loopback'],
  ['64:ff9b:1::1', 'NAT64 local-use'],
  ['64:ff9b:1:ffff::5db8:d822', 'NAT64 local-use'],
  ['2002:a00:1::1', '6to4 2002::/16 carrying 10.0.0.1: private'],
  ['2002:7f00:1::', '6to4 2002::/16 carrying 127.0.0.1: loopback'],
  ['2002:c0a8:101::1', 'carrying 192.168.1.1: private'],
  ['2002:a9fe:a9fe::', 'carrying 169.254.169.254: cloud metadata'],
  ['2001::1', 'Teredo'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
  ['2001:2::1', 'IETF protocol assignments'],
  ['2001:db8::1', 'documentation, 2001:db8::/32'],
  ['3fff::1', 'documentation, 3fff::/20'],
  ['100::1', 'discard-only'],
  ['fc00::1', 'unique local, fc00::/7'],
  ['fd12:3456::1', 'unique local'],
  ['fd00:ec2::254', 'cloud metadata'],
  ['fe80::1', 'link-local, fe80::/10'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fec0::1', 'site-local'],
  ['feff::1', 'site-local'],
  ['ff02::1', 'multicast, ff00::/8'],
  ['ff05::1:3', 'multicast'],
  ['4000::1', 'reserved, outside global unicast 2000::/3'],
  ['5f00::1', 'reserved'],
  ['1::1', 'reserved'],
];

describe('address classifier', () => {
  it.each(PUBLIC)('%s is public', (address) => {
    expect(classifyAddress(address)).toEqual({ public: true });
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each(REFUSED)('%s is refused (%s)', (address, range) => {
    const got = classifyAddress(address);
    expect(got.public).toBe(false);
    expect(got.public ? '' : got.range).toContain(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['', 'localhost', 'api.example.com', '1.2.3', '256.1.1.1', '::g', '[::1]'])(
    '"%s" is not an address, so not public',
    (text) => {
      expect(classifyAddress(text)).toEqual({ public: false, range: 'not an IP address' });
    },
  );
});

describe('test-only public ranges (BMMS_TEST_PUBLIC_RANGES)', () => {
  it('accepts parts of documentation ranges and treats exactly them as public', () => {
    expect(parseTestPublicRanges(' 198.51.100.0/24, 2001:db8:1::/48 ')).toEqual(['198.51.100.0/24', '2001:db8:1::/48']);
    expect(parseTestPublicRanges(undefined)).toEqual([]);
    const classify = addressClassifier(['198.51.100.0/24']);
    expect(classify('198.51.100.2')).toEqual({ public: true });
    expect(classify('::ffff:198.51.100.2')).toEqual({ public: true });
    expect(classify('192.0.2.1').public).toBe(false);
    expect(classify('203.0.113.1').public).toBe(false);
    expect(classify('10.0.0.1').public).toBe(false);
    expect(classify('127.0.0.1').public).toBe(false);
    // The production classifier is untouched by a test classifier.
    expect(classifyAddress('198.51.100.2').public).toBe(false);
  });

  it.each([
    '10.0.0.0/8',
    '127.0.0.0/8',
    '169.254.169.254/32',
    '198.51.0.0/16', // wider than the documentation range
    '0.0.0.0/0',
    '::/0',
    'fd00::/8',
    '2001:db8::/16',
    '198.51.100.0/33',
    'garbage',
    '198.51.100.2',
  ])('refuses %s: only documentation ranges may be declared public', (range) => {
    expect(() => parseTestPublicRanges(range)).toThrow(TestPublicRangeError);
    expect(() => addressClassifier([range])).toThrow(/only parts of the documentation ranges/);
  });
});
