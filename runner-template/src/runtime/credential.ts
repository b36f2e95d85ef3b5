import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/** Who a call is for, as the platform's gateway vouches. */
export interface Caller {
  /** The user id (or `platform` for the deploy probe). */
  subject: string;
  /** The OAuth client, or `api-key:<prefix>`. */
  client: string;
  scopes: readonly string[];
}

/** Why a gateway credential was refused. */
export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

const SKEW_SECONDS = 5;
/** Verified credentials kept (the gateway reuses one per caller for a few seconds). */
const MAX_VERIFIED = 1000;

/**
 * Verifies the gateway's internal credential (`Authorization: Bearer <EdDSA JWT>`) with the public key
 * from BMMS_GATEWAY_KEY: signature, issuer `bmms-gateway`, audience = this server's name, not expired.
 */
export function createCredentialVerifier(publicKeyPem: string, server: string): (header: string | undefined) => Caller {
  const key: KeyObject = createPublicKey(publicKeyPem);
  // A credential whose signature and claims were checked once is only checked for expiry again.
  const verified = new Map<string, { caller: Caller; exp: number }>();
  return (header) => {
    const known = header === undefined ? undefined : verified.get(header);
    if (known) {
      if (known.exp + SKEW_SECONDS >= Math.floor(Date.now() / 1000)) return known.caller;
      verified.delete(header as string);
    }
    const caller = verifyCredential(key, server, header);
    if (verified.size >= MAX_VERIFIED) verified.clear();
    verified.set(header as string, caller);
    return caller.caller;
  };
}

/** Checks signature and claims of one credential; throws CredentialError saying what is wrong. */
function verifyCredential(key: KeyObject, server: string, header: string | undefined): { caller: Caller; exp: number } {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) throw new CredentialError('missing gateway credential: calls reach this server only through the platform');
  const [, h, p, s] = m as unknown as [string, string, string, string];
  let head: { alg?: unknown };
  let claims: Record<string, unknown>;
  try {
    head = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CredentialError('malformed gateway credential');
  }
  if (head.alg !== 'EdDSA') throw new CredentialError('gateway credential: algorithm not allowed');
  if (!verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
    throw new CredentialError('gateway credential: bad signature');
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== 'bmms-gateway') throw new CredentialError('gateway credential: wrong issuer');
  if (claims.aud !== server) throw new CredentialError('gateway credential: issued for another server');
  if (typeof claims.exp !== 'number' || claims.exp + SKEW_SECONDS < now) {
    throw new CredentialError('gateway credential: expired');
  }
  if (typeof claims.iat === 'number' && claims.iat - SKEW_SECONDS > now) {
    throw new CredentialError('gateway credential: issued in the future');
  }
  const caller: Caller = {
    subject: String(claims.sub ?? ''),
    client: String(claims.client_id ?? ''),
    scopes: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [],
  };
  return { caller, exp: claims.exp };
}
