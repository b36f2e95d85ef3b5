import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatewayCredentials } from './credentials.ts';

const claims = { server: 'demo', sub: 'u1', scopes: ['tools:call'], client: 'c1' };

/** Whether `token`'s signature holds under `publicKeyPem`. */
function verifies(token: string, publicKeyPem: string): boolean {
  const [header, payload, signature] = token.split('.');
  return verify(
    null,
    Buffer.from(`${header}.${payload}`),
    createPublicKey(publicKeyPem),
    Buffer.from(signature ?? '', 'base64url'),
  );
}

describe('gateway credentials', () => {
  it('derive one key pair from one seed, so an instance one process started accepts another process’s credentials', () => {
    const seed = randomBytes(32);
    const a = new GatewayCredentials(seed);
    const b = new GatewayCredentials(Buffer.from(seed));
    expect(b.publicKeyPem).toBe(a.publicKeyPem);
    expect(b.kid).toBe(a.kid);
    expect(verifies(b.mint(claims), a.publicKeyPem)).toBe(true);
  });

  it('differ between seeds, and are random without one', () => {
    const a = new GatewayCredentials(randomBytes(32));
    const b = new GatewayCredentials(randomBytes(32));
    expect(b.publicKeyPem).not.toBe(a.publicKeyPem);
    expect(verifies(b.mint(claims), a.publicKeyPem)).toBe(false);
    expect(new GatewayCredentials().publicKeyPem).not.toBe(new GatewayCredentials().publicKeyPem);
  });

  it('refuse a seed that is not 32 bytes', () => {
    expect(() => new GatewayCredentials(randomBytes(16))).toThrow(/32 bytes/);
  });
});
