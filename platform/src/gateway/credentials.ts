import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign,
} from 'node:crypto';
import type { InstanceProvisioner } from '@bmms/reconciler';

/** The environment variable an instance reads the gateway's verification key from (PEM, Ed25519 public key). */
export const GATEWAY_KEY_ENV = 'BMMS_GATEWAY_KEY';
/** The issuer of internal credentials. */
export const CREDENTIAL_ISSUER = 'bmms-gateway';
const TTL_SECONDS = 60;
/** How long one minted credential is reused for the same caller and server (its remaining life stays ≥ 50 s). */
const REUSE_SECONDS = 10;
const MAX_REUSED = 10_000;

/** Who the gateway forwards a call for. */
export interface CallerClaims {
  /** The server the call is for (the instance checks it against its manifest name). */
  server: string;
  /** The user id, or `platform` for the deploy probe. */
  sub: string;
  scopes: string[];
  /** The OAuth client id, or `api-key:<prefix>` for an API key. */
  client: string;
}

/** An Ed25519 private key in PKCS #8 (RFC 8410) is this DER prefix followed by its 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const b64 = (value: Buffer | string) => Buffer.from(value).toString('base64url');

/**
 * Internal credentials: the client's token never leaves the gateway; the instance receives a short-lived
 * EdDSA JWT the gateway signs, bound to that server by `aud`, and verifies it with the public key it gets
 * in BMMS_GATEWAY_KEY. An instance holds no key that could mint credentials for another server.
 */
export class GatewayCredentials {
  readonly #privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly kid: string;
  /** Caller and server → a credential minted less than REUSE_SECONDS ago. */
  readonly #recent = new Map<string, { token: string; iat: number }>();

  /**
   * `seed` (32 bytes) makes the key pair: processes that share a database derive it from the master key, so an
   * instance one of them started accepts the credentials of every other. A random one without it.
   */
  constructor(seed: Buffer = randomBytes(32)) {
    if (seed.length !== 32) throw new Error('a gateway key seed has 32 bytes');
    this.#privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    this.publicKeyPem = createPublicKey(this.#privateKey).export({ type: 'spki', format: 'pem' }).toString();
    this.kid = createHash('sha256').update(this.publicKeyPem).digest('hex').slice(0, 16);
  }

  /** A credential for one call (valid 60 s). */
  mint(claims: CallerClaims, now = Math.floor(Date.now() / 1000)): string {
    const header = b64(JSON.stringify({ alg: 'EdDSA', typ: 'bmms-call+jwt', kid: this.kid }));
    const payload = b64(
      JSON.stringify({
        iss: CREDENTIAL_ISSUER,
        aud: claims.server,
        sub: claims.sub,
        scope: claims.scopes.join(' '),
        client_id: claims.client,
        iat: now,
        exp: now + TTL_SECONDS,
        jti: randomUUID(),
      }),
    );
    const signature = sign(null, Buffer.from(`${header}.${payload}`), this.#privateKey);
    return `${header}.${payload}.${b64(signature)}`;
  }

  /**
   * The credential for a call: one minted for the same caller and server within the last 10 s is reused (signing
   * per call is the gateway's largest fixed cost), so each is still valid ≥ 50 s when sent.
   */
  forCall(claims: CallerClaims, now = Math.floor(Date.now() / 1000)): string {
    const key = `${claims.server}\n${claims.sub}\n${claims.client}\n${claims.scopes.join(' ')}`;
    const recent = this.#recent.get(key);
    if (recent && now - recent.iat < REUSE_SECONDS && recent.iat <= now) return recent.token;
    const token = this.mint(claims, now);
    if (this.#recent.size >= MAX_REUSED) this.#recent.clear();
    this.#recent.set(key, { token, iat: now });
    return token;
  }

  /** The headers the deploy probe sends to `server`'s instance. */
  probeHeaders(server: string): Record<string, string> {
    return { authorization: `Bearer ${this.mint({ server, sub: 'platform', scopes: [], client: 'bmms-probe' })}` };
  }

  /** The environment an instance verifies credentials with. */
  env(): Record<string, string> {
    return { [GATEWAY_KEY_ENV]: this.publicKeyPem };
  }

  /** Gives every production instance the verification key; a new key (platform restart) rolls them. */
  provisioner(): InstanceProvisioner {
    return {
      fingerprint: async () => `gateway:${this.kid}`,
      setup: async () => ({ env: this.env(), release: async () => {} }),
    };
  }
}
