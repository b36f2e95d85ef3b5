import { describe, expect, it } from 'vitest';
import { egressRefusal, parseEgressEntry, splitEgressEntry } from '../src/egress/policy.ts';
import { ManifestError, validateManifest } from '../src/index.ts';

// The entry syntax of the shared egress policy; platform/test/egress-policy.test.ts runs the request table
// through the checks, ctx.fetch and the proxy.

describe('parseEgressEntry', () => {
  it.each([
    ['api.example.com', { host: 'api.example.com', wildcard: false, port: undefined }],
    ['api.example.com:443', { host: 'api.example.com', wildcard: false, port: '443' }],
    ['*.api.example.com', { host: 'api.example.com', wildcard: true, port: undefined }],
    ['*.example.com:8443', { host: 'example.com', wildcard: true, port: '8443' }],
    ['localhost', { host: 'localhost', wildcard: false, port: undefined }],
    ['93.184.216.34', { host: '93.184.216.34', wildcard: false, port: undefined }],
    ['xn--bcher-kva.example', { host: 'xn--bcher-kva.example', wildcard: false, port: undefined }],
  ])('accepts %s', (text, entry) => {
    expect(parseEgressEntry(text)).toEqual({ ok: true, entry });
  });

  it.each([
    ['*', 'egress-wildcard', 'only a single leading "*." label'],
    ['*.*.example.com', 'egress-wildcard', 'only a single leading "*." label'],
    ['api.*.example.com', 'egress-wildcard', 'only a single leading "*." label'],
    ['a*.example.com', 'egress-wildcard', 'only a single leading "*." label'],
    ['*.com', 'egress-wildcard', 'at least two labels'],
    ['*.1.2.3.4', 'egress-wildcard', 'at least two labels'],
    ['API.example.com', 'egress-syntax', 'write it in lowercase'],
    ['api.example.com.', 'egress-syntax', 'lowercase hostname'],
    ['https://api.example.com', 'egress-syntax', 'not a URL'],
    ['api.example.com/v1', 'egress-syntax', 'not a URL'],
    ['api.example.com:0', 'egress-syntax', 'port must be 1-65535'],
    ['api.example.com:65536', 'egress-syntax', 'port must be 1-65535'],
    ['api.example.com:0443', 'egress-syntax', 'port must be 1-65535'],
    ['[::1]:8080', 'egress-syntax', "IPv6 addresses can't be listed"],
    ['2001:db8::1', 'egress-syntax', "IPv6 addresses can't be listed"],
    ['127.1', 'egress-syntax', 'write it as a.b.c.d'],
    ['2130706433', 'egress-syntax', 'write it as a.b.c.d'],
    ['0x7f000001', 'egress-syntax', 'write it as a.b.c.d'],
    ['010.0.0.1', 'egress-syntax', 'write it as a.b.c.d'],
    ['', 'egress-syntax', 'lowercase hostname'],
    [`${'a'.repeat(64)}.example.com`, 'egress-syntax', 'lowercase hostname'],
  ])('refuses %s (%s)', (text, rule, message) => {
    const parsed = parseEgressEntry(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problem.rule).toBe(rule);
    expect(parsed.problem.message).toContain(message);
  });

  it('is what the manifest schema applies', () => {
    const manifest = (egress: string[]) => ({
      name: 'demo',
      version: '1.0.0',
      description: 'Demo.',
      tools: [{ name: 'echo', description: 'Echo.', inputSchema: { type: 'object' } }],
      egress,
    });
    expect(validateManifest(manifest(['*.api.example.com', 'api.example.com:443'])).egress).toEqual([
      '*.api.example.com',
      'api.example.com:443',
    ]);
    expect(() => validateManifest(manifest(['*.*.example.com']))).toThrow(ManifestError);
    expect(() => validateManifest(manifest(['*.*.example.com']))).toThrow(/only a single leading "\*\." label/);
  });

  it('splits host and port without judging them', () => {
    expect(splitEgressEntry('[::1]:8080')).toEqual({ host: '::1', port: '8080', ipv6: true });
    expect(splitEgressEntry('fd00:ec2::254')).toEqual({ host: 'fd00:ec2::254', port: undefined, ipv6: true });
    expect(splitEgressEntry('API.example.com:99999')).toEqual({ host: 'API.example.com', port: '99999', ipv6: false });
  });
});

describe('egressRefusal', () => {
  it('an invalid entry never matches anything', () => {
    expect(egressRefusal(new URL('https://a.b.example.com/'), ['*.*.example.com'])?.code).toBe(
      'egress_host_not_allowed',
    );
    expect(egressRefusal(new URL('https://api.example.com/'), ['API.example.com'])?.code).toBe(
      'egress_host_not_allowed',
    );
  });

  it('says what to list', () => {
    expect(egressRefusal(new URL('http://api.example.com:443/'), ['api.example.com'])?.message).toBe(
      'Egress to "api.example.com:443" is not allowed: port 443 is not listed for "api.example.com" (an entry without a port allows only the scheme\'s default port, http 80 and https 443); list "api.example.com:443" in "egress" to allow it.',
    );
    expect(egressRefusal(new URL('gopher://api.example.com/'), ['api.example.com'])?.message).toBe(
      'Egress over "gopher" is not allowed: tools may use http and https only.',
    );
  });
});
