import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/** A gateway signing key pair as the platform has one: the private key signs, the PEM goes to BMMS_GATEWAY_KEY. */
export function gatewayKeys(): { privateKey: KeyObject; pem: string } {
  const keys = generateKeyPairSync('ed25519');
  return { privateKey: keys.privateKey, pem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/**
 * An `Authorization` header with a gateway credential: a fresh, valid one for server `demo` unless `claims` (merged
 * over the defaults) or `header` say otherwise.
 */
export function gatewayCredential(
  privateKey: KeyObject,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = { alg: 'EdDSA' },
): string {
  const now = Math.floor(Date.now() / 1000);
  const h = b64(JSON.stringify(header));
  const p = b64(
    JSON.stringify({
      iss: 'bmms-gateway',
      aud: 'demo',
      sub: 'u1',
      scope: 'mcp:tools',
      client_id: 'c',
      iat: now,
      exp: now + 60,
      ...claims,
    }),
  );
  return `Bearer ${h}.${p}.${b64(sign(null, Buffer.from(`${h}.${p}`), privateKey))}`;
}
