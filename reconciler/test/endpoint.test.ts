import { describe, expect, it } from 'vitest';
import { connectOptions, tcpAddress, tcpEndpoint } from '../src/endpoint.ts';
import { inSubnet } from '../src/runtimes/swarm.ts';

describe('instance endpoints', () => {
  it('are unix socket paths or tcp://host:port, each turned into what http.request takes', () => {
    expect(connectOptions('/data/instances/a-1/sock/mcp.sock')).toEqual({
      socketPath: '/data/instances/a-1/sock/mcp.sock',
    });
    expect(tcpEndpoint('203.0.113.7', 8080)).toBe('tcp://203.0.113.7:8080');
    expect(connectOptions('tcp://203.0.113.7:8080')).toEqual({ host: '203.0.113.7', port: 8080 });
    expect(tcpAddress(tcpEndpoint('2001:db8::5', 8080))).toEqual({ host: '2001:db8::5', port: 8080 });
    expect(tcpAddress('/tmp/tcp://x:1')).toBeUndefined();
    expect(tcpAddress('tcp://host:99999999')).toBeUndefined();
  });
});

describe('inSubnet', () => {
  it('tells whether an IPv4 address lies in a CIDR block', () => {
    expect(inSubnet('203.0.113.70', '203.0.113.64/26')).toBe(true);
    expect(inSubnet('203.0.113.130', '203.0.113.64/26')).toBe(false);
    expect(inSubnet('10.1.2.3', '0.0.0.0/0')).toBe(true);
    expect(inSubnet('203.0.113.64', '203.0.113.64/32')).toBe(true);
    expect(inSubnet('fe80::1', '203.0.113.64/26')).toBe(false);
    expect(inSubnet('203.0.113.70', 'garbage')).toBe(false);
  });
});
