import { describe, expect, it } from 'vitest';
import { resolvesToPublicOnly } from '../src/oauth/provider.ts';

// The Client ID Metadata Document fetch is guarded by the shared address classifier. Only IP literals here:
// Node answers those without asking DNS, and nothing is fetched.

describe('client metadata fetch guard', () => {
  it.each(['https://93.184.216.34/client.json', 'https://[2606:2800:220:1:248:1893:25c8:1946]/client.json'])(
    'allows a public address: %s',
    async (url) => {
      expect(await resolvesToPublicOnly(new URL(url))).toBe(true);
    },
  );

  it.each([
    'https://127.0.0.1/client.json',
    'https://10.0.0.1/client.json',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::1]/client.json',
    'https://[::ffff:127.0.0.1]/client.json',
    'https://[64:ff9b::a9fe:a9fe]/client.json',
    'https://[2002:a00:1::1]/client.json',
    'https://[fec0::1]/client.json',
    'https://198.51.100.2/client.json',
  ])('refuses a non-public address: %s', async (url) => {
    expect(await resolvesToPublicOnly(new URL(url))).toBe(false);
  });
});
