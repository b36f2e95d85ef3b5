import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GitProvider } from '@bmms/gitserver';
import type { PrismaClient } from '@bmms/prisma';
import express, { type Request, type Response, Router } from 'express';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import {
  checkSignInProof,
  type ExternalIdpConfig,
  ExternalSignIn,
  ExternalSignInError,
  signInProof,
} from '../accounts/external.ts';
import { DUMMY_HASH, verifyPassword } from '../accounts/passwords.ts';
import { cookieOf, safeEqual, setCookie, type WebSessions } from '../accounts/sessions.ts';
import { LoginThrottle, RateLimiter } from '../accounts/throttle.ts';
import type { Logger } from '../logger.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { sweepExpiredPayloads } from './adapter.ts';
import { loadSigningKeys, rotateSigningKey, type Sealer, type SigningKeySet } from './keys.ts';
import { consentPage, loginPage, messagePage, PAGE_HEADERS } from './pages.ts';
import { createProvider } from './provider.ts';
import {
  DEFAULT_SCOPE,
  ManifestCache,
  parseResource,
  resourceUrl,
  SCOPE_DESCRIPTIONS,
  type ServerScopes,
  scopesOf,
} from './resources.ts';

type LocalJwks = ReturnType<typeof createLocalJWKSet>;

/** What a verified access token says. */
export interface AccessTokenClaims {
  sub: string;
  clientId: string;
  scopes: string[];
  /** The stored hash of the token's grant. */
  grant: string | undefined;
  exp: number;
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
}

const CSRF_COOKIE = 'bmms_csrf';
const PROOF_COOKIE = 'bmms_ext_proof';
const KEY_RELOAD_MS = 10_000;
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
  readonly #csrfKey: Buffer;
  readonly #registrations: RateLimiter;
  /** Failed sign-ins, shared with POST /auth/login. */
  readonly logins: LoginThrottle;
  #provider: Provider | undefined;
  #callback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  #base = '';
  #keys: SigningKeySet = { privateJwks: [], publicJwks: [] };
  #jwks: LocalJwks | undefined;
  #keysLoadedAt = 0;
  #external: ExternalSignIn | undefined;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: AuthorizationServerDeps) {
    this.#deps = deps;
    this.manifests = new ManifestCache(deps.git);
    this.#csrfKey = derivedKeys(deps.keyring, 'csrf')[0] as Buffer;
    const reg = deps.registrationLimit ?? { burst: 10, perMinute: 10 };
    this.#registrations = new RateLimiter(reg);
    this.logins = new LoginThrottle(deps.loginFailureLimit ?? 5);
  }

  /** Loads (or creates) the signing keys and starts the provider for the platform at `base`. */
  async start(base: string): Promise<void> {
    this.#base = base;
    if (this.#deps.external) {
      this.#external = new ExternalSignIn({
        config: this.#deps.external,
        db: this.#deps.db,
        log: this.#deps.log,
        key: this.#csrfKey,
        callbackUrl: () => `${this.#base}/auth/oidc/callback`,
      });
    }
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

  /** `<base>/oauth`. */
  get issuer(): string {
    return `${this.#base}/oauth`;
  }

  /** The platform's base URL the issuer and every resource live under. */
  get base(): string {
    return this.#base;
  }

  /** The running oidc-provider (after start). */
  get provider(): Provider {
    if (!this.#provider) throw new Error('the authorization server has not started');
    return this.#provider;
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
   * Verifies an access token for `audience` (a server's MCP URL): ES256 only, this issuer, that audience,
   * not expired, typ at+jwt, its grant not revoked. Throws InvalidTokenError saying why.
   */
  async verifyAccessToken(token: string, audience: string): Promise<AccessTokenClaims> {
    const payload = await this.#verify(token, audience);
    const clientId = payload.client_id;
    if (typeof payload.sub !== 'string' || typeof clientId !== 'string' || typeof payload.exp !== 'number') {
      throw new InvalidTokenError('the access token lacks sub, client_id or exp');
    }
    const grant = typeof payload.gid === 'string' ? payload.gid : undefined;
    if (grant !== undefined) {
      const row = await this.#deps.db.oauthPayload.findFirst({ where: { model: 'Grant', grantId: grant } });
      if (!row || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) {
        throw new InvalidTokenError('the access token was revoked');
      }
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    return { sub: payload.sub, clientId, scopes, grant, exp: payload.exp };
  }

  async #verify(token: string, audience: string): Promise<JWTPayload> {
    const options = {
      issuer: this.issuer,
      audience,
      algorithms: ['ES256'],
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub'],
      clockTolerance: 5,
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
    this.#provider = createProvider({
      db: this.#deps.db,
      log: this.#deps.log,
      issuer: this.issuer,
      base: this.#base,
      keys: this.#keys,
      cookieKeys: derivedKeys(this.#deps.keyring, 'oidc-cookies'),
      serverScopes: (name) => this.serverScopes(name),
      ...(this.#deps.allowMetadataFetch ? { allowMetadataFetch: this.#deps.allowMetadataFetch } : {}),
    });
    this.#callback = this.#provider.callback();
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
    return keys.length;
  }

  /** Express routes: well-known metadata, sign-in/consent pages, registration guard, and the provider at /oauth. */
  router(): Router {
    const router = Router();
    const forms = express.urlencoded({ extended: false, limit: '16kb' });

    const discovery = (req: Request, res: Response) => {
      if (!this.#callback) return void res.status(503).json({ error: 'temporarily_unavailable' });
      // As if asked at /oauth/.well-known/openid-configuration: the provider derives its mount path from this.
      req.url = '/.well-known/openid-configuration';
      req.originalUrl = '/oauth/.well-known/openid-configuration';
      this.#callback(req, res);
    };
    router.get('/.well-known/oauth-authorization-server', discovery);
    router.get('/.well-known/oauth-authorization-server/oauth', discovery);
    router.get('/.well-known/openid-configuration/oauth', discovery);

    router.get('/.well-known/oauth-protected-resource/s/:name/mcp', async (req, res) => {
      const name = String(req.params.name);
      const parsed = parseResource(this.#base, resourceUrl(this.#base, name));
      const scopes = parsed ? await this.serverScopes(parsed.server) : null;
      if (!parsed || !scopes) {
        return void res.status(404).json({ error: { code: 'not_found', message: `MCP server "${name}" not found` } });
      }
      res.set('Cache-Control', 'public, max-age=300');
      res.json({
        resource: resourceUrl(this.#base, name),
        authorization_servers: [this.issuer],
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

    router.get('/oauth/interaction/:uid', (req, res) => this.#interaction(req, res));
    router.post('/oauth/interaction/:uid/login', forms, (req, res) => this.#login(req, res));
    router.post('/oauth/interaction/:uid/confirm', forms, (req, res) => this.#confirm(req, res));
    router.post('/oauth/interaction/:uid/abort', forms, (req, res) => this.#abort(req, res));
    router.post('/oauth/interaction/:uid/session', forms, (req, res) => this.#continueSession(req, res));
    router.post('/oauth/interaction/:uid/external', forms, (req, res) => this.#externalStart(req, res));
    router.get('/oauth/interaction/:uid/external', (req, res) => this.#externalDone(req, res));
    router.get('/auth/oidc/start', async (req, res) => {
      if (!this.#external)
        return void this.#send(res, 404, messagePage('Not available', 'No company sign-in is configured.'));
      await this.#external.start(req, res, undefined);
    });
    router.get('/auth/oidc/callback', (req, res) => this.#externalCallback(req, res));

    router.use('/oauth', (req, res) => {
      if (!this.#callback) return void res.status(503).json({ error: 'temporarily_unavailable' });
      this.#callback(req, res);
    });
    return router;
  }

  /** The CSRF token of interaction `uid` for this browser (double submit: bound to the bmms_csrf cookie). */
  #csrf(req: Request, res: Response, uid: string): string {
    let browser = cookieOf(req, CSRF_COOKIE);
    if (!browser || !/^[A-Za-z0-9_-]{32,64}$/.test(browser)) {
      browser = randomBytes(24).toString('base64url');
      setCookie(req, res, CSRF_COOKIE, browser, 24 * 60 * 60 * 1000);
    }
    return createHmac('sha256', this.#csrfKey).update(`interaction|${uid}|${browser}`).digest('base64url');
  }

  #checkCsrf(req: Request, uid: string): boolean {
    const browser = cookieOf(req, CSRF_COOKIE);
    if (!browser) return false;
    const expected = createHmac('sha256', this.#csrfKey).update(`interaction|${uid}|${browser}`).digest('base64url');
    const given = (req.body as Record<string, unknown> | undefined)?.csrf;
    return safeEqual(expected, typeof given === 'string' ? given : undefined);
  }

  #send(res: Response, status: number, html: string): void {
    res.set(PAGE_HEADERS).status(status).type('html').send(html);
  }

  /** The interaction of the request, or null after answering with an "expired" page. */
  async #details(req: Request, res: Response) {
    try {
      const details = await this.provider.interactionDetails(req, res);
      if (details.uid !== req.params.uid) throw new Error('interaction mismatch');
      return details;
    } catch {
      this.#send(
        res,
        400,
        messagePage('Sign-in expired', 'This sign-in request is unknown or expired. Start again from your app.'),
      );
      return null;
    }
  }

  async #describe(details: Awaited<ReturnType<Provider['interactionDetails']>>) {
    const params = details.params as Record<string, unknown>;
    const client = await this.provider.Client.find(String(params.client_id)).catch(() => undefined);
    const resources = [params.resource].flat().filter((r): r is string => typeof r === 'string');
    const parsed = resources.length === 1 ? parseResource(this.#base, resources[0] as string) : null;
    const redirect = URL.parse(String(params.redirect_uri ?? ''));
    return {
      clientName: client?.clientName ?? String(params.client_id),
      clientUri: client?.clientUri,
      resource: parsed ? (resources[0] as string) : undefined,
      route: parsed?.route,
      server: parsed?.server,
      redirectHost: redirect ? redirect.host || redirect.protocol : '',
    };
  }

  async #interaction(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    const uid = details.uid;
    const about = await this.#describe(details);
    const csrf = this.#csrf(req, res, uid);
    if (details.prompt.name === 'login') {
      const session = await this.#deps.sessions.resolve(req);
      const user = session ? await this.#deps.db.user.findUnique({ where: { id: session.userId } }) : null;
      this.#send(
        res,
        200,
        loginPage({
          action: `/oauth/interaction/${uid}/login`,
          csrf,
          client: about.clientName,
          server: about.route,
          ...this.#externalButton(uid),
          ...(user ? { sessionAction: `/oauth/interaction/${uid}/session`, sessionEmail: user.email } : {}),
        }),
      );
      return;
    }
    const accountId = details.session?.accountId;
    const refusal = await this.#refusal(about, accountId);
    if (refusal) {
      this.#send(
        res,
        403,
        messagePage('Cannot connect', refusal, {
          action: `/oauth/interaction/${uid}/abort`,
          csrf,
          label: `Return to ${about.clientName}`,
        }),
      );
      return;
    }
    const user = await this.#deps.db.user.findUnique({ where: { id: accountId as string } });
    const server = await this.#deps.db.server.findUnique({
      where: { name: about.server as string },
      include: { org: true },
    });
    const missing = (details.prompt.details.missingResourceScopes ?? {}) as Record<string, string[]>;
    const asked = missing[about.resource as string] ?? [DEFAULT_SCOPE];
    this.#send(
      res,
      200,
      consentPage({
        action: `/oauth/interaction/${uid}/confirm`,
        abortAction: `/oauth/interaction/${uid}/abort`,
        csrf,
        client: about.clientName,
        clientUri: about.clientUri,
        redirectHost: about.redirectHost,
        server: about.route as string,
        org: server?.org.name ?? '',
        user: user?.email ?? '',
        scopes: asked.map((name) => ({
          name,
          description: SCOPE_DESCRIPTIONS[name] ?? `use the tools of this server that require "${name}"`,
        })),
      }),
    );
  }

  /** Why this account may not connect this client to the server named by the request, or undefined. */
  async #refusal(
    about: { resource: string | undefined; server: string | undefined },
    accountId: string | undefined,
  ): Promise<string | undefined> {
    if (!about.resource || !about.server) {
      return 'The app did not say which MCP server it wants to use (one "resource" parameter naming a server URL is required).';
    }
    const server = await this.#deps.db.server.findUnique({ where: { name: about.server } });
    if (!server) return `There is no MCP server "${about.server}".`;
    const member = accountId
      ? await this.#deps.db.membership.findUnique({
          where: { orgId_userId: { orgId: server.orgId, userId: accountId } },
        })
      : null;
    if (!member) return `Your account is not a member of the organization that owns "${about.server}".`;
    return undefined;
  }

  async #login(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    const uid = details.uid;
    if (!this.#checkCsrf(req, uid)) {
      this.#send(
        res,
        403,
        messagePage(
          'Request refused',
          'The form was not sent from this page (CSRF check failed). Reload and try again.',
        ),
      );
      return;
    }
    const body = req.body as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase().slice(0, 320) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const about = await this.#describe(details);
    const form = (error: string) =>
      loginPage({
        action: `/oauth/interaction/${uid}/login`,
        csrf: this.#csrf(req, res, uid),
        client: about.clientName,
        server: about.route,
        email,
        error,
        ...this.#externalButton(uid),
      });
    const ip = `ip:${req.ip ?? 'unknown'}`;
    const wait = this.logins.retryAfter(email, ip);
    if (wait > 0) {
      res.set('Retry-After', String(wait));
      this.#send(res, 429, form(`Too many failed sign-ins. Try again in ${Math.ceil(wait / 60)} minute(s).`));
      return;
    }
    const user = email ? await this.#deps.db.user.findUnique({ where: { email } }) : null;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      this.logins.fail(email, ip);
      this.#deps.log.warn('sign-in failed', { requestId: res.locals.requestId });
      this.#send(res, 401, form('Wrong email or password.'));
      return;
    }
    this.logins.succeed(email);
    await this.provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.id, amr: ['pwd'] } },
      { mergeWithLastSubmission: false },
    );
  }

  async #confirm(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) {
      this.#send(
        res,
        403,
        messagePage(
          'Request refused',
          'The form was not sent from this page (CSRF check failed). Reload and try again.',
        ),
      );
      return;
    }
    const accountId = details.session?.accountId;
    if (details.prompt.name !== 'consent' || !accountId) {
      this.#send(res, 400, messagePage('Cannot continue', 'Sign in first.'));
      return;
    }
    const about = await this.#describe(details);
    const refusal = await this.#refusal(about, accountId);
    if (refusal) {
      this.#send(res, 403, messagePage('Cannot connect', refusal));
      return;
    }
    const { Grant } = this.provider;
    const params = details.params as Record<string, unknown>;
    const grant = details.grantId
      ? ((await Grant.find(details.grantId)) ?? new Grant({ accountId, clientId: String(params.client_id) }))
      : new Grant({ accountId, clientId: String(params.client_id) });
    const prompt = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (prompt.missingOIDCScope) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
    if (prompt.missingOIDCClaims) grant.addOIDCClaims(prompt.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    this.#deps.log.info('client connected', {
      requestId: res.locals.requestId,
      client: String(params.client_id),
      server: about.route,
    });
    await this.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  /** Signs in with the browser's platform session ("Continue as …"). */
  async #continueSession(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) {
      this.#send(
        res,
        403,
        messagePage(
          'Request refused',
          'The form was not sent from this page (CSRF check failed). Reload and try again.',
        ),
      );
      return;
    }
    const session = await this.#deps.sessions.resolve(req);
    if (!session) {
      this.#send(res, 401, messagePage('Not signed in', 'Your session ended. Sign in with your email and password.'));
      return;
    }
    await this.provider.interactionFinished(
      req,
      res,
      { login: { accountId: session.userId, amr: ['session'] } },
      { mergeWithLastSubmission: false },
    );
  }

  #externalButton(uid: string): { externalAction?: string; externalName?: string } {
    return this.#external
      ? { externalAction: `/oauth/interaction/${uid}/external`, externalName: this.#external.config.name }
      : {};
  }

  async #externalStart(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) {
      this.#send(
        res,
        403,
        messagePage(
          'Request refused',
          'The form was not sent from this page (CSRF check failed). Reload and try again.',
        ),
      );
      return;
    }
    if (!this.#external) {
      this.#send(res, 404, messagePage('Not available', 'No company sign-in is configured.'));
      return;
    }
    await this.#external.start(req, res, details.uid);
  }

  async #externalCallback(req: Request, res: Response): Promise<void> {
    if (!this.#external) {
      this.#send(res, 404, messagePage('Not available', 'No company sign-in is configured.'));
      return;
    }
    let result: { userId: string; uid: string | undefined };
    try {
      result = await this.#external.callback(req, res);
    } catch (err) {
      if (!(err instanceof ExternalSignInError)) throw err;
      this.#send(res, 403, messagePage('Sign-in refused', err.message));
      return;
    }
    if (result.uid === undefined) {
      await this.#deps.sessions.start(req, res, result.userId);
      res.redirect(303, '/');
      return;
    }
    // The interaction's own cookie is scoped to its path: finish there, with a proof only that path sees.
    res.cookie(PROOF_COOKIE, signInProof(this.#csrfKey, result.userId, result.uid), {
      httpOnly: true,
      sameSite: 'lax',
      secure: req.secure,
      path: `/oauth/interaction/${result.uid}`,
      maxAge: 60_000,
    });
    res.redirect(303, `/oauth/interaction/${result.uid}/external`);
  }

  async #externalDone(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    const userId = checkSignInProof(this.#csrfKey, cookieOf(req, PROOF_COOKIE), details.uid);
    res.clearCookie(PROOF_COOKIE, { path: `/oauth/interaction/${details.uid}` });
    if (!userId) {
      this.#send(
        res,
        403,
        messagePage('Sign-in refused', 'The company sign-in could not be confirmed. Start again from your app.'),
      );
      return;
    }
    await this.provider.interactionFinished(
      req,
      res,
      { login: { accountId: userId, amr: ['ext'] } },
      { mergeWithLastSubmission: false },
    );
  }

  async #abort(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) {
      this.#send(
        res,
        403,
        messagePage(
          'Request refused',
          'The form was not sent from this page (CSRF check failed). Reload and try again.',
        ),
      );
      return;
    }
    await this.provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user did not allow access' },
      { mergeWithLastSubmission: false },
    );
  }
}

/** A client a user connected, as the API lists it. */
export interface ConnectedClient {
  clientId: string;
  clientName: string;
  resources: { resource: string; scopes: string[] }[];
  grantedAt: string;
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
