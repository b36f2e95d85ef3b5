import type { PrismaClient } from '@bmms/prisma';
import type { Reconciler, RouteTable } from '@bmms/reconciler';
import type { RequestHandler } from 'express';
import type { WebSessions } from './accounts/sessions.ts';
import type { SignupMode } from './accounts/signup.ts';
import type { OrgPlans } from './billing/org-plans.ts';
import type { StripeBilling } from './billing/stripe-billing.ts';
import type { CheckService } from './checks/suites.ts';
import type { DomainDirectory } from './domains/directory.ts';
import type { TxtLookup } from './domains/dns.ts';
import type { ReservedHosts } from './domains/hostnames.ts';
import type { CallObservers } from './gateway/calls.ts';
import type { GatewayCredentials } from './gateway/credentials.ts';
import type { GatewayDirectory } from './gateway/directory.ts';
import type { FairShare } from './gateway/fair-share.ts';
import type { GatewayRateLimits } from './gateway/rate-limit.ts';
import type { Generation } from './generation/index.ts';
import type { GitHubConnections } from './github/connections.ts';
import type { ServerRepos } from './github/repos.ts';
import type { GitHubServers } from './github/servers.ts';
import type { PublicBase } from './http/public-url.ts';
import type { InvalidationBus } from './invalidation.ts';
import type { Logger } from './logger.ts';
import type { LogWriter } from './logs/writer.ts';
import type { CallMetrics } from './metrics/aggregator.ts';
import type { PlatformMetrics } from './metrics/prometheus.ts';
import type { AuthorizationServer } from './oauth/server.ts';
import type { PreviewManager } from './previews.ts';
import type { ReplayRecorder } from './replay/recorder.ts';
import type { SecretStore } from './secrets/store.ts';
import type { UsageMeter } from './usage/meter.ts';
import type { Quotas } from './usage/quota.ts';

/**
 * The whole that boot.ts assembles; app.ts hands it to each router, which takes it as the narrower deps it declares.
 * Only the top (app.ts, boot.ts) and tests import this file: a module below declares its own deps instead.
 */
export interface PlatformContext {
  db: PrismaClient;
  /** Every server's repository, in the internal store or on GitHub. */
  git: ServerRepos;
  /** The orgs' connections to GitHub (a token or an app installation), encrypted at rest. */
  githubConnections: GitHubConnections;
  /** Servers on GitHub: where a new one goes, its pull requests. */
  github: GitHubServers;
  checks: CheckService;
  reconciler: Reconciler;
  routes: RouteTable;
  previews: PreviewManager;
  /** Per-server encrypted secrets. */
  secrets: SecretStore;
  log: Logger;
  /** Server generation: from a prompt (model) and from OpenAPI documents. */
  generation: Generation;
  /** The platform's public base URL (BMMS_PUBLIC_URL, else the listening address): never from a request header. */
  publicBase: PublicBase;
  /** Direct peers whose X-Forwarded-For/-Proto express believes (`trust proxy`); empty: none. */
  trustedProxies: string[];
  /** Where the built site lives (served at /). */
  siteDir: string;
  /** The OAuth 2.1 authorization server (oidc-provider at /oauth) and access-token verification. */
  oauth: AuthorizationServer;
  /** Browser sign-in sessions. */
  sessions: WebSessions;
  /** Whether people may sign up without an invitation. */
  signup: SignupMode;
  /** The internal credentials the gateway sends to instances instead of the client's token. */
  credentials: GatewayCredentials;
  /** Tells every platform process sharing the database that a cached fact changed (key revoked, member removed…). */
  invalidations: InvalidationBus;
  /** The gateway's cached view of keys, memberships and servers (no database on the call path). */
  directory: GatewayDirectory;
  /** The verified custom domains, in memory (a request's Host is matched without the database). */
  domains: DomainDirectory;
  /** Looks up the TXT record that verifies a custom domain (BMMS_DNS_SERVERS, else the system's resolvers). */
  lookupTxt: TxtLookup;
  /** The platform's own hosts (never a custom domain), the CNAME target and the scheme of the domains' URLs. */
  domainHosts: () => ReservedHosts & { target: string; scheme: 'http' | 'https' };
  /** Who hears of every MCP call through the gateway (logs, metrics): one record per request, after it ended. */
  calls: CallObservers;
  /** Per-server and per-tool call metrics (counted from `calls`, written once a minute). */
  metrics: CallMetrics;
  /** The platform's own Prometheus metrics (BMMS_METRICS); `scrape` answers /metrics on the main port (token mode). */
  prometheus?: { metrics: PlatformMetrics; scrape?: RequestHandler };
  /** Meters every gateway request (per org, server, tool, status, month), written in batches. */
  usage: UsageMeter;
  /** Records a consented sample of production calls for the replay check (sealed, batched off the call path). */
  replay: ReplayRecorder;
  /** Which plan each org is on (cached). */
  plans: OrgPlans;
  /** Stripe billing (checkout, portal, invoices, webhooks); absent when the platform takes no payments. */
  billing?: StripeBilling;
  /** The plans' monthly calls at the gateway. */
  quotas: Quotas;
  /** The gateway's rate limits (per address, per token), shared through Postgres when there is one. */
  rateLimits: GatewayRateLimits;
  /** Shares the gateway between servers when it is saturated (a flood of one server cannot starve the others). */
  fairShare: FairShare;
  /** The servers' logs (calls, instance output, deploy events): written in batches, read by the logs API. */
  logs: LogWriter;
}
