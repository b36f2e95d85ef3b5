import { createHmac, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import express, { type Request, type Response, Router } from 'express';
import type Provider from 'oidc-provider';
import { checkSignInProof, type ExternalSignIn, ExternalSignInError, signInProof } from '../accounts/external.ts';
import { DUMMY_HASH, verifyPassword } from '../accounts/passwords.ts';
import { cookieOf, safeEqual, setCookie, type WebSessions } from '../accounts/sessions.ts';
import type { LoginThrottle } from '../accounts/throttle.ts';
import { audit } from '../audit.ts';
import { storableInput } from '../http/middleware.ts';
import type { Logger } from '../logger.ts';
import { consentPage, loginPage, messagePage, PAGE_HEADERS } from './pages.ts';
import { DEFAULT_SCOPE, type DomainServer, routeOfResource, SCOPE_DESCRIPTIONS } from './resources.ts';

const CSRF_COOKIE = 'bmms_csrf';
const PROOF_COOKIE = 'bmms_ext_proof';

/** What the sign-in and consent pages need. */
export interface InteractionDeps {
  db: PrismaClient;
  log: Logger;
  sessions: WebSessions;
  logins: LoginThrottle;
  /** Signs CSRF tokens and external sign-in proofs. */
  csrfKey: Buffer;
  external: ExternalSignIn | undefined;
  /** The running provider of the request's base (it is rebuilt when the signing key rotates). */
  provider(req: Request): Provider;
  /** The platform's base URL for the request. */
  base(req: Request): string;
  /** The server a verified custom domain serves. */
  domainServer?: DomainServer;
}

/**
 * The authorization server's pages at /oauth/interaction/<uid>: sign-in (password, the platform session,
 * or the company OpenID provider) and consent, each form guarded by a CSRF token bound to the browser and
 * the interaction; plus the company provider's callback at /auth/oidc.
 */
export class InteractionPages {
  readonly #deps: InteractionDeps;
  readonly #csrfKey: Buffer;
  readonly #external: ExternalSignIn | undefined;
  readonly logins: LoginThrottle;

  constructor(deps: InteractionDeps) {
    this.#deps = deps;
    this.#csrfKey = deps.csrfKey;
    this.#external = deps.external;
    this.logins = deps.logins;
  }

  #provider(req: Request): Provider {
    return this.#deps.provider(req);
  }

  /** The routes of the pages (mounted before the provider's own /oauth routes). */
  routes(): Router {
    const router = Router();
    // Parsed, then refused when a field holds what the database cannot store (a NUL): 400, never a 500.
    const parse = express.urlencoded({ extended: false, limit: '16kb' });
    const storable = storableInput();
    router.get('/oauth/interaction/:uid', (req, res) => this.#interaction(req, res));
    router.post('/oauth/interaction/:uid/login', parse, storable, (req, res) => this.#login(req, res));
    router.post('/oauth/interaction/:uid/confirm', parse, storable, (req, res) => this.#confirm(req, res));
    router.post('/oauth/interaction/:uid/abort', parse, storable, (req, res) => this.#abort(req, res));
    router.post('/oauth/interaction/:uid/session', parse, storable, (req, res) => this.#continueSession(req, res));
    router.post('/oauth/interaction/:uid/external', parse, storable, (req, res) => this.#externalStart(req, res));
    router.get('/oauth/interaction/:uid/external', (req, res) => this.#externalDone(req, res));
    router.get('/auth/oidc/start', async (req, res) => {
      if (!this.#external)
        return void this.#send(res, 404, messagePage('Not available', 'No company sign-in is configured.'));
      await this.#external.start(req, res, undefined);
    });
    router.get('/auth/oidc/callback', (req, res) => this.#externalCallback(req, res));
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

  #csrfRefused(res: Response): void {
    this.#send(
      res,
      403,
      messagePage('Request refused', 'The form was not sent from this page (CSRF check failed). Reload and try again.'),
    );
  }

  #send(res: Response, status: number, html: string): void {
    res.set(PAGE_HEADERS).status(status).type('html').send(html);
  }

  /** The interaction of the request, or null after answering with an "expired" page. */
  async #details(req: Request, res: Response) {
    try {
      const details = await this.#provider(req).interactionDetails(req, res);
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

  async #describe(req: Request, details: Awaited<ReturnType<Provider['interactionDetails']>>) {
    const params = details.params as Record<string, unknown>;
    const client = await this.#provider(req)
      .Client.find(String(params.client_id))
      .catch(() => undefined);
    const resources = [params.resource].flat().filter((r): r is string => typeof r === 'string');
    const parsed =
      resources.length === 1
        ? routeOfResource(this.#deps.base(req), resources[0] as string, this.#deps.domainServer)
        : null;
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
    const about = await this.#describe(req, details);
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
    if (!this.#checkCsrf(req, uid)) return this.#csrfRefused(res);
    const body = req.body as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase().slice(0, 320) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const about = await this.#describe(req, details);
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
    await this.#provider(req).interactionFinished(
      req,
      res,
      { login: { accountId: user.id, amr: ['pwd'] } },
      { mergeWithLastSubmission: false },
    );
  }

  async #confirm(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) return this.#csrfRefused(res);
    const accountId = details.session?.accountId;
    if (details.prompt.name !== 'consent' || !accountId) {
      this.#send(res, 400, messagePage('Cannot continue', 'Sign in first.'));
      return;
    }
    const about = await this.#describe(req, details);
    const refusal = await this.#refusal(about, accountId);
    if (refusal) {
      this.#send(res, 403, messagePage('Cannot connect', refusal));
      return;
    }
    const { Grant } = this.#provider(req);
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
    const server = await this.#deps.db.server.findUnique({ where: { name: String(about.server) } });
    await audit(
      this.#deps.db,
      { userId: accountId, orgId: server?.orgId ?? '', apiKeyId: null, role: '', scopes: [] },
      'oauth.consent',
      { type: 'oauth_client', id: String(params.client_id), ...(server ? { orgId: server.orgId } : {}) },
      { server: about.server, client: about.clientName, resources: prompt.missingResourceScopes ?? {} },
    );
    this.#deps.log.info('client connected', {
      requestId: res.locals.requestId,
      client: String(params.client_id),
      server: about.route,
    });
    await this.#provider(req).interactionFinished(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  }

  /** Signs in with the browser's platform session ("Continue as …"). */
  async #continueSession(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) return this.#csrfRefused(res);
    const session = await this.#deps.sessions.resolve(req);
    if (!session) {
      this.#send(res, 401, messagePage('Not signed in', 'Your session ended. Sign in with your email and password.'));
      return;
    }
    await this.#provider(req).interactionFinished(
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
    if (!this.#checkCsrf(req, details.uid)) return this.#csrfRefused(res);
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
      res.redirect(303, '/dashboard/');
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
    await this.#provider(req).interactionFinished(
      req,
      res,
      { login: { accountId: userId, amr: ['ext'] } },
      { mergeWithLastSubmission: false },
    );
  }

  async #abort(req: Request, res: Response): Promise<void> {
    const details = await this.#details(req, res);
    if (!details) return;
    if (!this.#checkCsrf(req, details.uid)) return this.#csrfRefused(res);
    await this.#provider(req).interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user did not allow access' },
      { mergeWithLastSubmission: false },
    );
  }
}
