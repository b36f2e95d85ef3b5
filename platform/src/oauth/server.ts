import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import { type Request, type Response, Router } from 'express';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import { type ExternalIdpConfig, ExternalSignIn } from '../accounts/external.ts';
import type { WebSessions } from '../accounts/sessions.ts';
import { LoginThrottle, RateLimiter } from '../accounts/throttle.ts';
import { notFound } from '../errors.ts';
import { FactCache } from '../gateway/cache.ts';
import type { PublicBase } from '../http/public-url.ts';
import type { InvalidationBus } from '../invalidation.ts';
import type { Logger } from '../logger.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { sweepExpiredPayloads } from './adapter.ts';
import { InteractionPages } from './interactions.ts';
import { loadSigningKeys, rotateSigningKey, type Sealer, type SigningKeySet } from './keys.ts';
import { createProvider } from './provider.ts';
import {
  baseOfResource,
  DEFAULT_SCOPE,
  ManifestCache,
  parseResource,
  resourceUrl,
  type ServerScopes,
  scopesOf,
} from './resources.ts';

type LocalJwks = ReturnType<typeof createLocalJWKSet>;
type ProviderCallback = (req: IncomingMessage, res: ServerResponse) => void;

/** What a verified access token says. */
export interface AccessTokenClaims {
  sub: string;
  clientId: string;
  scopes: string[];
  /** The stored hash of the token's grant. */
  grant: string | undefined;
  exp: number;
  /** When it was issued (seconds since the epoch; 0 when the token does not say). */
  iat: number;
}

/** An access token the gateway refuses; `message` says why (it reaches the client). */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

export interface AuthorizationServerDeps {
  db: PrismaClient;
  git: GitProvider;
  sealer: Sealer;
  keyring: Keyring;
  log: Logger;
  /** Registrations per client IP: burst and refill per minute (default 10 and 10). */
  registrationLimit?: { burst: number; perMinute: number };
  /** Failed sign-ins per email (and per IP, ×4) within 15 minutes before sign-in is refused (default 5). */
  loginFailureLimit?: number;
  /** Client ID Metadata Document fetch guard (tests replace the DNS check). */
  allowMetadataFetch?: (url: URL) => Promise<boolean>;
  /** Browser sessions (an external sign-in outside an OAuth flow starts one). */
  sessions: WebSessions;
  /** A company OpenID provider people may sign in with. */
  external?: ExternalIdpConfig | undefined;
  /** Where grant revocations are announced to every process (the gateway caches which grants exist). */
  invalidations?: InvalidationBus;
  /** Verified custom domains: each one's MCP URL is a resource of its server. */
  domains?: { lookup(hostname: string): { server: string } | undefined };
}

const KEY_RELOAD_MS = 10_000;
const CLOCK_TOLERANCE_S = 5;
const MAX_VERIFIED_TOKENS = 10_000;
const SWEEP_MS = 10 * 60_000;

/** Derives a 32-byte key for `purpose` from every master key, current first. */
export function derivedKeys(keyring: Keyring, purpose: string): Buffer[] {
  const versions = [keyring.current, ...[...keyring.keys.keys()].filter((v) => v !== keyring.current)];
  return versions.map((v) =>
    Buffer.from(hkdfSync('sha256', keyring.keys.get(v) as Buffer, Buffer.alloc(0), `bmms:${purpose}`, 32)),
  );
}

/**
 * The platform's OAuth 2.1 authorization server (oidc-provider at /oauth), its sign-in and consent pages,
 * the RFC 8414/9728 metadata, and access-token verification for the gateway.
 */
export class AuthorizationServer {
  readonly manifests: ManifestCache;
  readonly #deps: AuthorizationServerDeps;
  readonly #registrations: RateLimiter;
  /** Failed sign-ins, shared with POST /auth/login. */
  readonly logins: LoginThrottle;
  /** One provider per public base (the default, and each allowed host): an issuer is one URL. */
  readonly #providers = new Map<string, { provider: Provider; callback: ProviderCallback }>();
  #publicBase: PublicBase | undefined;
  #keys: SigningKeySet = { privateJwks: [], publicJwks: [] };
  #jwks: LocalJwks | undefined;
  #keysLoadedAt = 0;
  readonly #pages: InteractionPages;
  #sweeper: NodeJS.Timeout | undefined;
  /** Grant id → when it expires (null: never, 0: unknown or revoked), so verifying a token reads no database. */
  readonly #grants: FactCache<number | null>;
  /** Access tokens whose signature and claims were verified, by token: only expiry and grant are checked again. */
  readonly #verified = new Map<string, { audience: string; payload: JWTPayload }>();

  constructor(deps: AuthorizationServerDeps) {
    this.#deps = deps;
    this.#grants = new FactCache({
      ttlMs: 30_000,
      negativeTtlMs: 2_000,
      isAbsent: (v) => v === 0,
      maxStaleMs: () => deps.invalidations?.maxStaleMs() ?? Number.POSITIVE_INFINITY,
    });
    deps.invalidations?.subscribe((event) => {
      if (event.kind === 'grant' || event.kind === 'all') this.#grants.clear();
    });
    this.manifests = new ManifestCache(deps.git);
    const reg = deps.registrationLimit ?? { burst: 10, perMinute: 10 };
    this.#registrations = new RateLimiter(reg);
    this.logins = new LoginThrottle(deps.loginFailureLimit ?? 5);
    const csrfKey = derivedKeys(deps.keyring, 'csrf')[0] as Buffer;
    this.#pages = new InteractionPages({
      db: deps.db,
      log: deps.log,
      sessions: deps.sessions,
      logins: this.logins,
      csrfKey,
      external: deps.external
        ? new ExternalSignIn({
            config: deps.external,
            db: deps.db,
            log: deps.log,
            key: csrfKey,
            callbackUrl: (req) => `${this.baseOf(req)}/auth/oidc/callback`,
          })
        : undefined,
      provider: (req) => this.providerFor(this.baseOf(req)),
      base: (req) => this.baseOf(req),
      domainServer: (hostname) => this.#deps.domains?.lookup(hostname)?.server,
    });
  }

  /** Loads (or creates) the signing keys and starts the provider for the platform's public base. */
  async start(publicBase: PublicBase): Promise<void> {
    this.#publicBase = publicBase;
    await this.#loadKeys();
    this.#sweeper = setInterval(() => {
      sweepExpiredPayloads(this.#deps.db).catch((err: unknown) =>
        this.#deps.log.warn('could not remove expired OAuth records', { err }),
      );
    }, SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Stops the periodic clean-up. */
  stop(): void {
    clearInterval(this.#sweeper);
  }

  /** `<base>/oauth` of the default base. */
  get issuer(): string {
    return `${this.base}/oauth`;
  }

  /** The platform's default base URL (BMMS_PUBLIC_URL or the listening address); '' before start. */
  get base(): string {
    return this.#publicBase?.url ?? '';
  }

  /** The base URL of a request (see PublicBase): its issuer and resources live under it. */
  baseOf(req: Request): string {
    return this.#publicBase?.of(req) ?? '';
  }

  /** The running oidc-provider of the default base (after start). */
  get provider(): Provider {
    return this.providerFor(this.base);
  }

  /** The provider whose issuer is `<base>/oauth`; `base` always comes from PublicBase, so there are few. */
  providerFor(base: string): Provider {
    return this.#entry(base).provider;
  }

  #entry(base: string): { provider: Provider; callback: ProviderCallback } {
    if (!this.#jwks) throw new Error('the authorization server has not started');
    let entry = this.#providers.get(base);
    if (!entry) {
      const provider = createProvider({
        db: this.#deps.db,
        log: this.#deps.log,
        issuer: `${base}/oauth`,
        base,
        keys: this.#keys,
        cookieKeys: derivedKeys(this.#deps.keyring, 'oidc-cookies'),
        serverScopes: (name) => this.serverScopes(name),
        domainServer: (hostname) => this.#deps.domains?.lookup(hostname)?.server,
        onGrantRevoked: () => this.#grantRevoked(),
        ...(this.#deps.allowMetadataFetch ? { allowMetadataFetch: this.#deps.allowMetadataFetch } : {}),
      });
      entry = { provider, callback: provider.callback() };
      this.#providers.set(base, entry);
    }
    return entry;
  }

  /** A new signing key; tokens signed by the previous one stay valid until they expire. Returns its kid. */
  async rotateSigningKey(): Promise<string> {
    const kid = await rotateSigningKey(this.#deps.db, this.#deps.sealer);
    await this.#loadKeys();
    return kid;
  }

  /** The scopes of server `name` (main's manifest), or null when there is no such server. */
  async serverScopes(name: string): Promise<ServerScopes | null> {
    const server = await this.#deps.db.server.findUnique({ where: { name } });
    if (!server) return null;
    return scopesOf(await this.manifests.at(name, 'main'));
  }

  /**
   * Verifies an access token for `audience` (a server's MCP URL): ES256 only, the issuer of `issuerBase` (by default
   * the base the audience lives under), that audience, not expired, typ at+jwt, its grant not revoked. Throws
   * InvalidTokenError saying why.
   */
  async verifyAccessToken(
    token: string,
    audience: string,
    issuerBase: string | null = baseOfResource(audience),
  ): Promise<AccessTokenClaims> {
    const base = issuerBase;
    if (base === null) throw new InvalidTokenError('the access token was issued for another resource');
    const payload = await this.#verifiedPayload(token, audience, `${base}/oauth`);
    const clientId = payload.client_id;
    if (typeof payload.sub !== 'string' || typeof clientId !== 'string' || typeof payload.exp !== 'number') {
      throw new InvalidTokenError('the access token lacks sub, client_id or exp');
    }
    const grant = typeof payload.gid === 'string' ? payload.gid : undefined;
    if (grant !== undefined) {
      const expiresAt = await this.#grants.get(grant, async () => {
        const row = await this.#deps.db.oauthPayload.findFirst({ where: { model: 'Grant', grantId: grant } });
        return row ? (row.expiresAt?.getTime() ?? null) : 0;
      });
      if (expiresAt === 0 || (expiresAt !== null && expiresAt <= Date.now())) {
        throw new InvalidTokenError('the access token was revoked');
      }
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    return { sub: payload.sub, clientId, scopes, grant, exp: payload.exp, iat: payload.iat ?? 0 };
  }

  /** The payload of a token verified before for `audience` (still unexpired), else verifies it now. */
  async #verifiedPayload(token: string, audience: string, issuer: string): Promise<JWTPayload> {
    const known = this.#verified.get(token);
    if (known && known.audience === audience && (known.payload.exp ?? 0) + CLOCK_TOLERANCE_S > Date.now() / 1000) {
      return known.payload;
    }
    const payload = await this.#verify(token, audience, issuer);
    if (this.#verified.size >= MAX_VERIFIED_TOKENS) this.#verified.clear();
    this.#verified.set(token, { audience, payload });
    return payload;
  }

  async #verify(token: string, audience: string, issuer: string): Promise<JWTPayload> {
    const options = {
      issuer,
      audience,
      algorithms: ['ES256'],
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub'],
      clockTolerance: CLOCK_TOLERANCE_S,
    };
    try {
      return (await jwtVerify(token, this.#jwks as LocalJwks, options)).payload;
    } catch (err) {
      // A key another replica rotated in: reload once in a while and try again.
      if (err instanceof joseErrors.JWKSNoMatchingKey && Date.now() - this.#keysLoadedAt > KEY_RELOAD_MS) {
        await this.#loadKeys();
        try {
          return (await jwtVerify(token, this.#jwks as LocalJwks, options)).payload;
        } catch (again) {
          throw tokenError(again);
        }
      }
      throw tokenError(err);
    }
  }

  async #loadKeys(): Promise<void> {
    this.#keys = await loadSigningKeys(this.#deps.db, this.#deps.sealer);
    this.#keysLoadedAt = Date.now();
    this.#jwks = createLocalJWKSet({ keys: this.#keys.publicJwks } as JSONWebKeySet);
    // Providers hold the signing keys: rebuilt (lazily, per base) with the new set.
    this.#providers.clear();
    this.#entry(this.base);
  }

  /** The grants (connected clients) of a user: client, resources, scopes, dates. */
  async connectedClients(userId: string): Promise<ConnectedClient[]> {
    const grants = await this.#deps.db.oauthPayload.findMany({
      where: { model: 'Grant', accountId: userId },
      orderBy: { createdAt: 'desc' },
    });
    const out: ConnectedClient[] = [];
    for (const row of grants) {
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) continue;
      const payload = row.payload as { clientId?: string; resources?: Record<string, string>; iat?: number };
      const clientId = payload.clientId ?? row.clientId ?? '';
      const client = await this.provider.Client.find(clientId).catch(() => undefined);
      out.push({
        clientId,
        clientName: client?.clientName ?? clientId,
        resources: Object.entries(payload.resources ?? {}).map(([resource, scope]) => ({
          resource,
          scopes: scope.split(' ').filter(Boolean),
        })),
        grantedAt: new Date((payload.iat ?? Math.floor(row.createdAt.getTime() / 1000)) * 1000).toISOString(),
      });
    }
    return out;
  }

  /** Revokes every grant of `userId` to `clientId` with its refresh tokens; returns how many grants. */
  async revokeClient(userId: string, clientId: string): Promise<number> {
    const grants = await this.#deps.db.oauthPayload.findMany({
      where: { model: 'Grant', accountId: userId, clientId },
      select: { grantId: true },
    });
    const keys = grants.map((g) => g.grantId).filter((k): k is string => k !== null);
    if (keys.length === 0) return 0;
    await this.#deps.db.oauthPayload.deleteMany({ where: { grantId: { in: keys } } });
    await this.#grantRevoked();
    return keys.length;
  }

  /** Every process forgets which grants it saw (revocations are rare; one database read per grant after). */
  async #grantRevoked(): Promise<void> {
    if (this.#deps.invalidations) await this.#deps.invalidations.publish({ kind: 'grant' });
    else this.#grants.clear();
  }

  /** Express routes: well-known metadata, sign-in/consent pages, registration guard, and the provider at /oauth. */
  router(): Router {
    const router = Router();
    const handOver = (req: Request, res: Response) => {
      if (!this.#jwks) return void res.status(503).json({ error: 'temporarily_unavailable' });
      const base = this.baseOf(req);
      this.#entry(base).callback(asSeenAt(req, base), res);
    };
    const discovery = (req: Request, res: Response) => {
      // As if asked at /oauth/.well-known/openid-configuration: the provider derives its mount path from this.
      req.url = '/.well-known/openid-configuration';
      req.originalUrl = '/oauth/.well-known/openid-configuration';
      handOver(req, res);
    };
    router.get('/.well-known/oauth-authorization-server', discovery);
    router.get('/.well-known/oauth-authorization-server/oauth', discovery);
    router.get('/.well-known/openid-configuration/oauth', discovery);

    router.get('/.well-known/oauth-protected-resource/s/:name/mcp', async (req, res) => {
      const name = String(req.params.name);
      const base = this.baseOf(req);
      const parsed = parseResource(base, resourceUrl(base, name));
      const scopes = parsed ? await this.serverScopes(parsed.server) : null;
      if (!parsed || !scopes) {
        throw notFound(`MCP server "${name}"`);
      }
      res.set('Cache-Control', 'public, max-age=300');
      res.json({
        resource: resourceUrl(base, name),
        authorization_servers: [`${base}/oauth`],
        scopes_supported: [...new Set([DEFAULT_SCOPE, ...scopes.all])],
        bearer_methods_supported: ['header'],
        resource_name: name,
      });
    });

    router.post('/oauth/reg', (req, res, next) => {
      const wait = this.#registrations.take(req.ip ?? 'unknown');
      if (wait > 0) {
        res.set('Retry-After', String(wait));
        return void res.status(429).json({
          error: 'rate_limited',
          error_description: `too many client registrations from this address; retry in ${wait} s`,
        });
      }
      next();
    });

    router.use(this.#pages.routes());

    router.use('/oauth', handOver);
    return router;
  }
}

/** A client a user connected, as the API lists it. */
export interface ConnectedClient {
  clientId: string;
  clientName: string;
  resources: { resource: string; scopes: string[] }[];
  grantedAt: string;
}

/**
 * The request as the provider must see it: oidc-provider builds its endpoint URLs (token, authorization,
 * jwks, registration…) from the request's scheme and host, so both are pinned to the platform's base here,
 * whatever Host or X-Forwarded-* the client sent. Its client address is the one express decided (trusted
 * proxies only).
 */
function asSeenAt(req: Request, base: string): Request {
  const url = new URL(base);
  req.headers['x-forwarded-host'] = url.host;
  req.headers['x-forwarded-proto'] = url.protocol.slice(0, -1);
  if (req.ip) req.headers['x-forwarded-for'] = req.ip;
  else delete req.headers['x-forwarded-for'];
  return req;
}

function tokenError(err: unknown): InvalidTokenError {
  if (err instanceof joseErrors.JWTExpired) return new InvalidTokenError('the access token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new InvalidTokenError('the access token was issued for another resource');
    if (err.claim === 'iss') return new InvalidTokenError('the access token was not issued by this platform');
    if (err.claim === 'typ') return new InvalidTokenError('the token is not an access token (typ at+jwt)');
    return new InvalidTokenError(`the access token's "${err.claim}" claim is invalid`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return new InvalidTokenError('the access token must be signed with ES256');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
    return new InvalidTokenError('the access token signature is invalid');
  }
  return new InvalidTokenError('the access token is malformed');
}
