import { afterEach, describe, expect, it, vi } from 'vitest';
import { CredentialError, createCredentialVerifier } from '../src/runtime/credential.ts';
import { gatewayCredential, gatewayKeys } from './gateway-credential.ts';

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const { privateKey, pem } = gatewayKeys();

function credential(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'EdDSA' },
  key = privateKey,
) {
  return gatewayCredential(key, claims, header);
}

describe('the gateway credential check of the base runtime', () => {
  const verify = createCredentialVerifier(pem, 'demo');

  it('accepts a fresh credential for this server and returns the caller', () => {
    expect(verify(credential({}))).toEqual({ subject: 'u1', client: 'c', scopes: ['mcp:tools'] });
  });

  it.each([
    ['no header', undefined, 'missing gateway credential: calls reach this server only through the platform'],
    ['another server', credential({ aud: 'other' }), 'gateway credential: issued for another server'],
    ['an expired one', credential({ exp: 1_700_000_000 }), 'gateway credential: expired'],
    ['another issuer', credential({ iss: 'someone' }), 'gateway credential: wrong issuer'],
    ['alg none', credential({}, { alg: 'none' }), 'gateway credential: algorithm not allowed'],
    ['another key', credential({}, { alg: 'EdDSA' }, gatewayKeys().privateKey), 'gateway credential: bad signature'],
    [
      'a client OAuth token',
      'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
      'gateway credential: algorithm not allowed',
    ],
  ])('refuses %s', (_what, header, message) => {
    expect(() => verify(header)).toThrow(new CredentialError(message));
  });

  describe('verified once, checked for expiry on every use', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('refuses a reused credential once it expired, and a tampered copy of an accepted one', () => {
      const once = createCredentialVerifier(pem, 'demo');
      const header = credential({});
      expect(once(header)).toEqual({ subject: 'u1', client: 'c', scopes: ['mcp:tools'] });
      expect(once(header)).toEqual({ subject: 'u1', client: 'c', scopes: ['mcp:tools'] });
      const [h, p, s] = header.slice('Bearer '.length).split('.') as [string, string, string];
      const elevated = b64(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: '*' }));
      expect(() => once(`Bearer ${h}.${elevated}.${s}`)).toThrow(
        new CredentialError('gateway credential: bad signature'),
      );
      vi.useFakeTimers({ now: Date.now() + 66_000 });
      expect(() => once(header)).toThrow(new CredentialError('gateway credential: expired'));
    });
  });
});
