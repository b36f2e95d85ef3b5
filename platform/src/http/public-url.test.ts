import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { directHost, listenUrl, PublicBase } from './public-url.ts';

describe('the public base URL', () => {
  it('is BMMS_PUBLIC_URL when configured, whatever the platform listens on', () => {
    const base = new PublicBase('https://mcp.example.com');
    base.listening('127.0.0.1', 8080);
    expect(base.url).toBe('https://mcp.example.com');
  });

  it('is the listening address otherwise: a wildcard bind is localhost, IPv6 is bracketed', () => {
    expect(listenUrl('127.0.0.1', 8080)).toBe('http://127.0.0.1:8080');
    expect(listenUrl('0.0.0.0', 8080)).toBe('http://localhost:8080');
    expect(listenUrl('::', 8080)).toBe('http://localhost:8080');
    expect(listenUrl('::1', 9000)).toBe('http://[::1]:9000');
    const base = new PublicBase(undefined);
    expect(() => base.url).toThrow(/before the platform listens/);
    base.listening('0.0.0.0', 8080);
    expect(base.url).toBe('http://localhost:8080');
  });

  it('follows the request only to a host on the allowlist, and never when BMMS_PUBLIC_URL is set', () => {
    const base = new PublicBase(undefined, ['mcp.internal', 'localhost:8080']);
    base.listening('127.0.0.1', 8080);
    expect(base.of({ host: 'MCP.internal', protocol: 'https' })).toBe('https://mcp.internal');
    expect(base.of({ host: 'localhost:8080', protocol: 'http' })).toBe('http://localhost:8080');
    expect(base.of({ host: 'localhost:8081', protocol: 'http' })).toBe('http://127.0.0.1:8080');
    expect(base.of({ host: 'mcp.internal:444', protocol: 'https' })).toBe('http://127.0.0.1:8080');
    expect(base.of({ host: 'evil.example', protocol: 'https' })).toBe('http://127.0.0.1:8080');
    const configured = new PublicBase('https://mcp.example.com', ['mcp.internal']);
    expect(configured.of({ host: 'mcp.internal', protocol: 'http' })).toBe('https://mcp.example.com');
  });

  it('reads the called host from Host only, refusing what is not a host', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as never;
    expect(directHost(req({ host: 'LocalHost:8080', 'x-forwarded-host': 'evil.example' }))).toEqual({
      host: 'localhost:8080',
      hostname: 'localhost',
    });
    expect(directHost(req({ host: '[::1]:8080' }))?.hostname).toBe('[::1]');
    expect(directHost(req({ 'x-forwarded-host': 'localhost' }))).toBeUndefined();
    for (const host of ['evil.example/x', 'user@localhost', 'localhost#x', 'a b', 'localhost:99999']) {
      expect(directHost(req({ host })), host).toBeUndefined();
    }
  });
});

describe('BMMS_PUBLIC_URL', () => {
  it('drops a trailing slash', () => {
    expect(loadConfig({ BMMS_PUBLIC_URL: 'https://mcp.example.com/' }).publicUrl).toBe('https://mcp.example.com');
  });

  it('refuses what cannot start a URL', () => {
    for (const bad of [
      'javascript:alert(1)',
      'ftp://x.example',
      'https://u:p@x.example',
      'https://x.example/?a=1',
      'https://x.example/#f',
    ]) {
      expect(() => loadConfig({ BMMS_PUBLIC_URL: bad }), bad).toThrow(/BMMS_PUBLIC_URL: must be an http\(s\) URL/);
    }
  });
});

describe('BMMS_ALLOWED_HOSTS', () => {
  it('takes host names and host:port, lower-cased', () => {
    expect(loadConfig({ BMMS_ALLOWED_HOSTS: 'MCP.internal, localhost:8080,[::1]:8080' }).allowedHosts).toEqual([
      'mcp.internal',
      'localhost:8080',
      '[::1]:8080',
    ]);
    expect(loadConfig({}).allowedHosts).toEqual([]);
  });

  it('refuses what a Host header cannot be, naming it', () => {
    for (const bad of ['http://x.example', 'x.example/a', '*.example.com', 'u@x.example', 'x.example:80', 'x:99999']) {
      expect(() => loadConfig({ BMMS_ALLOWED_HOSTS: bad }), bad).toThrow(
        `BMMS_ALLOWED_HOSTS: "${bad}" is not a host name or host:port, as clients send it in the Host header`,
      );
    }
  });
});

describe('BMMS_TRUSTED_PROXIES', () => {
  it('trusts nobody by default', () => {
    expect(loadConfig({}).trustedProxies).toEqual([]);
  });

  it('takes addresses, CIDRs and the named ranges', () => {
    const config = loadConfig({ BMMS_TRUSTED_PROXIES: ' 10.0.0.0/8, ::1 ,loopback,fd00::/8,192.0.2.7' });
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '::1', 'loopback', 'fd00::/8', '192.0.2.7']);
  });

  it('refuses a start with an entry that is not an address, naming it', () => {
    for (const bad of ['proxy.internal', '10.0.0.0/33', '::1/129', '10.0.0.1/8/1', '*', '10.0.0.0/-1']) {
      expect(() => loadConfig({ BMMS_TRUSTED_PROXIES: bad }), bad).toThrow(
        `BMMS_TRUSTED_PROXIES: "${bad}" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`,
      );
    }
  });
});
