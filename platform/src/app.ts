import { existsSync } from 'node:fs';
import path from 'node:path';
import { createGitHttpHandler } from '@bmms/gitserver';
import express, { type Express } from 'express';
import { basicPassword, bearerToken, type Principal, principalForKey } from './accounts/principal.ts';
import { can } from './accounts/roles.ts';
import { authRouter } from './accounts/routes.ts';
import { setupRouter } from './accounts/setup.ts';
import { apiRouter } from './api/router.ts';
import type { PlatformContext } from './context.ts';
import { customDomainRoutes } from './domains/routes.ts';
import { notFound } from './errors.ts';
import { mcpGateway } from './gateway/mcp.ts';
import { githubWebhookRouter } from './github/webhook-route.ts';
import { accessLog, errorHandler, requestId } from './http/middleware.ts';
import { baseSecurityHeaders, sitePages } from './http/site.ts';
import { handlePush } from './services/changes.ts';
import { requestSpans } from './telemetry/request-spans.ts';
import { activeTracing } from './telemetry/tracing.ts';

// How the parts get what they use: every router, handler and service declares the dependencies it actually uses,
// as its own small interface (`ChangeDeps`, `GatewayDeps`, `KeysApiDeps`…: one JSDoc line per member, typed by the
// low-level types it needs: PrismaClient, GitProvider, Logger, CheckService…), and a function that uses only part
// of them takes `Pick<XDeps, 'db' | 'git'>`; a router that mounts others takes the intersection of theirs
// (`ApiDeps`). Only the top assembles the whole: boot.ts builds the `PlatformContext` (context.ts), and this file
// hands it to each router, which takes it as its narrower deps. Nothing below app.ts and boot.ts imports
// context.ts (platform/test/import-cycles.test.ts holds that), so the parts stay below the whole.

/** The platform's HTTP app: REST API, git smart HTTP, MCP gateway and the site. */
export function createApp(ctx: PlatformContext, reposRoot: string): Express {
  const app = express();
  app.disable('x-powered-by');
  // X-Forwarded-For/-Proto/-Host (req.ip, req.protocol, req.host) only from the configured proxies; nobody by default.
  app.set('trust proxy', ctx.trustedProxies.length > 0 ? ctx.trustedProxies : false);
  app.use(requestId());
  if (ctx.prometheus) app.use(ctx.prometheus.metrics.middleware());
  app.use(accessLog(ctx.log));
  app.use(baseSecurityHeaders());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Prometheus, when BMMS_METRICS=token (off: 404 like any unknown path; open: on a port of its own).
  if (ctx.prometheus?.scrape) app.get('/metrics', ctx.prometheus.scrape);

  // First after the request id and access log: MCP calls are the hot path and need no other middleware.
  // A verified custom domain answers its server's /mcp and resource metadata, and nothing else of the platform
  // (one map lookup per request, none while no domain is verified).
  app.use(customDomainRoutes(ctx));
  app.all('/s/:name/mcp', mcpGateway(ctx));
  app.use(ctx.oauth.router());
  app.use('/auth', setupRouter(ctx));
  app.use(
    '/auth',
    authRouter({ db: ctx.db, sessions: ctx.sessions, logins: ctx.oauth.logins }, { signup: ctx.signup }),
  );
  // GitHub's deliveries: signed raw bodies, before any JSON parser reads them.
  app.use(githubWebhookRouter(ctx));
  const tracing = activeTracing();
  if (tracing) app.use('/api/v1', requestSpans(tracing, '/api/v1'));
  app.use('/api/v1', apiRouter(ctx));
  app.use('/api', (req) => {
    throw notFound(`${req.method} ${req.originalUrl.split('?')[0]}`, 'unknown API version, use /api/v1');
  });

  const git = createGitHttpHandler({
    root: reposRoot,
    authenticate: async (req): Promise<(Principal & { id: string }) | null> => {
      const key = basicPassword(req.headers.authorization) ?? bearerToken(req.headers.authorization);
      const principal = key ? await principalForKey(ctx.db, key) : null;
      // A key limited to other scopes (api, mcp:…) does not open Git.
      if (!principal || !(principal.scopes.includes('*') || principal.scopes.includes('git'))) return null;
      return { ...principal, id: principal.userId };
    },
    authorize: async (principal, { repo, service }) => {
      const server = await ctx.db.server.findUnique({ where: { name: repo } });
      if (!server || server.orgId !== principal.orgId) return { allowed: false, canPushMain: false };
      const allowed = can(principal.role, service === 'receive-pack' ? 'write' : 'read');
      return { allowed, canPushMain: can(principal.role, 'push_main') };
    },
    // Awaited before the push's response ends: when `git push` returns, its changes are re-checking.
    onPush: (repo, updates, principal) => handlePush(ctx, principal, repo, updates),
    onError: (err) => ctx.log.error('git http failed', { err }),
  });
  app.use('/git', (req, res) => git(req, res));

  if (existsSync(ctx.siteDir)) {
    app.use(sitePages({ siteDir: ctx.siteDir, signedIn: async (req) => (await ctx.sessions.resolve(req)) !== null }));
    app.use(express.static(ctx.siteDir, { extensions: ['html'], index: 'index.html' }));
    app.use((req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      res.status(404).sendFile(path.join(ctx.siteDir, '404.html'), (err) => err && next());
    });
  } else {
    app.get('/', (_req, res) => {
      res.type('text/plain').send('BuildMyMCPServer is running. The site is not built: run `npm run build -w site`.\n');
    });
  }
  app.use((req) => {
    throw notFound(`${req.method} ${req.path}`);
  });
  app.use(errorHandler(ctx.log));
  return app;
}
