import { describe, expect, it } from 'vitest';
import { canonicalHostname } from './hostnames.ts';

const platform = { hostnames: ['bmms.example.net', 'mcp.internal-name.org'] };

describe('canonicalHostname', () => {
  it('folds case, the trailing dot and IDNs into one form', () => {
    expect(canonicalHostname(' MCP.Example.COM. ', platform)).toEqual({ hostname: 'mcp.example.com' });
    expect(canonicalHostname('bücher.example.com', platform)).toEqual({ hostname: 'xn--bcher-kva.example.com' });
  });

  it("refuses the platform's own hosts and every name under them", () => {
    for (const name of ['bmms.example.net', 'x.bmms.example.net', 'a.b.MCP.internal-name.org']) {
      expect(canonicalHostname(name, platform), name).toEqual({ problem: expect.stringContaining("platform's own") });
    }
    // A name that merely ends with the same letters is someone else's.
    expect(canonicalHostname('notbmms.example.net', platform)).toEqual({ hostname: 'notbmms.example.net' });
  });

  it('refuses special-use names unless a test allows their suffix', () => {
    for (const name of ['a.localhost', 'printer.local', 'db.internal', 'shop.test', 'x.home.arpa', 'y.onion']) {
      expect(canonicalHostname(name, platform), name).toEqual({ problem: expect.stringContaining('reserved') });
    }
    expect(canonicalHostname('shop.test', { ...platform, allowSuffixes: ['test'] })).toEqual({ hostname: 'shop.test' });
    expect(canonicalHostname('printer.local', { ...platform, allowSuffixes: ['test'] })).toHaveProperty('problem');
  });

  it('refuses what is not a DNS name a client can reach', () => {
    const bad = [
      '10.0.0.1',
      '::1',
      '1.2.3',
      'example',
      'a..b.com',
      'a.b.123',
      'x_y.example.com',
      'exa mple.com',
      'example.com:443',
      'example.com/mcp',
      'user@example.com',
      '*.example.com',
      'xn--.example.com',
      `${'a'.repeat(64)}.com`,
    ];
    for (const name of bad) expect(canonicalHostname(name, platform), name).toHaveProperty('problem');
  });
});
