import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type GitProvider, InternalGitProvider } from '@bmms/gitserver';
import { type Database, openDatabase, type PrismaClient } from '@bmms/prisma';
import {
  AdvisoryLockLeadership,
  BundleCache,
  DockerRuntime,
  isPreviewTarget,
  ProcessRuntime,
  Reconciler,
  RouteTable,
  type Runtime,
  ServerFiles,
  SoloLeadership,
  SwarmRuntime,
  whileLeading,
} from '@bmms/reconciler';
import express from 'express';
import { ensureOwner, OWNER_KEY_FILE } from './accounts/bootstrap.ts';
import { WebSessions } from './accounts/sessions.ts';
import { issueSetupToken, ownerWithoutPassword, setupPath } from './accounts/setup.ts';
import { createApp } from './app.ts';
import { type BackupSummary, createBackup } from './backup/backup.ts';
import { BackupSchedule } from './backup/schedule.ts';
import { OrgPlans } from './billing/org-plans.ts';
import { StripeBilling, stripeClient } from './billing/stripe-billing.ts';
import { allChecks } from './checks/index.ts';
import { CheckService } from './checks/suites.ts';
import type { Config } from './config.ts';
import type { PlatformContext } from './context.ts';
import { lockDataDir } from './datadir-lock.ts';
import { DomainDirectory } from './domains/directory.ts';
import { txtLookup } from './domains/dns.ts';
import type { ReservedHosts } from './domains/hostnames.ts';
import { DomainKeeper } from './domains/keeper.ts';
import { EgressProxy, type EgressProxyOptions, egressProvisioner } from './egress/index.ts';
import { shuttingDown } from './errors.ts';
import { CallObservers } from './gateway/calls.ts';
import { GatewayCredentials } from './gateway/credentials.ts';
import { GatewayDirectory } from './gateway/directory.ts';
import { FairShare } from './gateway/fair-share.ts';
import { GatewayRateLimits, type RateLimitStore } from './gateway/rate-limit.ts';
import { PostgresRateLimitStore } from './gateway/rate-limit-store.ts';
import { RouteSharing } from './gateway/shared-routes.ts';
import { generationConfigFromEnv } from './generation/config.ts';
import { Generation } from './generation/index.ts';
import type { Model } from './generation/model.ts';
import { GitHubConnections } from './github/connections.ts';
import { GitHubPoller } from './github/poller.ts';
import { ServerRepos } from './github/repos.ts';
import { GitHubServers } from './github/servers.ts';
import { DrainingServer } from './http/drain.ts';
import { errorHandler } from './http/middleware.ts';
import { PublicBase } from './http/public-url.ts';
import { type InvalidationBus, LocalInvalidationBus, PostgresInvalidationBus } from './invalidation.ts';
import { createLogger, type Logger } from './logger.ts';
import { deployEntry, outputEntry } from './logs/records.ts';
import { startServerLogs } from './logs/start.ts';
import type { LogWriter } from './logs/writer.ts';
import { CallMetrics } from './metrics/aggregator.ts';
import { PlatformMetrics, serveOpenMetrics, tokenGuardedScrape } from './metrics/prometheus.ts';
import { AuthorizationServer, type AuthorizationServerDeps, derivedKeys } from './oauth/server.ts';
import { PreviewManager, smokeTest } from './previews.ts';
import { combineProvisioners } from './provisioners.ts';
import { ReplayPlayer } from './replay/player.ts';
import { ReplayRecorder } from './replay/recorder.ts';
import { confinementOf, createRuntime, hardenedRuntime, jobRunner, UnhardenedSignupError } from './runtime.ts';
import { type Keyring, loadKeyring } from './secrets/keyring.ts';
import { secretsProvisioner } from './secrets/provisioner.ts';
import { SecretStore } from './secrets/store.ts';
import { resumeDeletions } from './services/deletion.ts';
import { sweepOrphanFiles } from './services/server-removal.ts';
import { sweepOrphanRepos } from './services/servers.ts';
import { startTelemetry } from './telemetry/index.ts';
import { UsageMeter } from './usage/meter.ts';
import { Quotas } from './usage/quota.ts';

export const SITE_DIR = path.resolve(import.meta.dirname, '../../site/dist');
/** How long close() lets requests in flight finish when the configuration does not say (loadConfig says 25 s). */
const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** A running platform. */
export interface Platform {
  /** The base URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** Where Prometheus scrapes /metrics when BMMS_METRICS=open (its own port), e.g. http://127.0.0.1:9464/metrics. */
  metricsUrl: string | undefined;
  ctx: PlatformContext;
  /** Polls servers on GitHub for what webhooks missed (tests drive a pass). */
  githubPoller: GitHubPoller;
  /** The instance runtime (tests inspect and kill instances through it). */
  runtime: Runtime;
  /** The owner key file, when this start created it. */
  ownerKeyFile: string | undefined;
  /** A one-time set-password link token for the owner, while the owner has no password. */
  setupToken: string | undefined;
  /**
   * Writes a consistent backup while running: into `dir` when given (new or empty), else as the next
   * scheduled one in BMMS_BACKUP_DIR. Returns the backup's directory.
   */
  backup(dir?: string, options?: { includeKeyFile?: boolean }): Promise<string>;
  /** Stops serving, stops the loop and every instance, closes the database. */
  close(): Promise<void>;
}

/** Parts a caller may supply instead of the ones the configuration selects (tests, embedding). */
export interface PlatformParts {
  runtime?: Runtime;
  /** The master key(s), as BMMS_MASTER_KEY would give them (default: that variable, else the data dir's key file). */
  masterKey?: string;
  /** Test-only egress overrides (name resolution, private addresses, upstream CA and port) to reach local fakes. */
  egress?: Pick<EgressProxyOptions, 'lookup' | 'allowPrivate' | 'ca' | 'upstreamPort'>;
  /** The model behind generation from a prompt (default: the Anthropic API as configured). */
  model?: Model;
  /** Authorization server limits and guards (tests lower the rate limits). */
  oauth?: Partial<Pick<AuthorizationServerDeps, 'registrationLimit' | 'loginFailureLimit' | 'allowMetadataFetch'>>;
  /** The built site to serve (default: site/dist; browser tests build a fresh one elsewhere). */
  siteDir?: string;
  /** The clock of metering, quotas and rate limits (tests roll the month over). */
  clock?: () => number;
}

/** Starts the whole platform (database, git, checks, reconciler, HTTP) from a configuration. */
export async function startPlatform(
  config: Config,
  log: Logger = createLogger({ svc: 'platform' }),
  parts: PlatformParts = {},
): Promise<Platform> {
  const dataDir = config.dataDir;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  // Before anything in the data dir is touched: two platforms on one data dir would break each other.
  const unlock = await lockDataDir(dataDir);
  try {
    return await boot(config, log, parts, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

/** Brings the platform up step by step; the data dir is locked (`unlock` releases it at close). */
async function boot(
  config: Config,
  baseLog: Logger,
  parts: PlatformParts,
  unlock: () => Promise<void>,
): Promise<Platform> {
  // Traces and error tracking, each only when configured; the logger also reports errors to the tracker.
  if (config.signup === 'open' && !hardenedRuntime(config, parts.runtime)) throw new UnhardenedSignupError();
  const telemetry = await startTelemetry(config, baseLog);
  const log = telemetry.log;
  const { reposRoot, workDir } = await prepareDataDir(config.dataDir);
  const stores = await openStores(config, log, parts);
  const replay = new ReplayRecorder({
    db: stores.db,
    secrets: stores.secrets,
    log: log.child({ component: 'replay' }),
  });
  replay.start();
  const egress = await startEgress(config, log, parts, replay);
  const logs = startServerLogs(config, log, stores.database);
  const invalidations = await startInvalidations(config, log);
  const plans = new OrgPlans({ db: stores.db, defaultPlan: config.defaultPlan, invalidations });
  const services = buildServices(config, log, parts, {
    ...stores,
    egress,
    replay,
    reposRoot,
    workDir,
    logs: logs.writer,
    plans,
    invalidations,
  });
  const { ctx, generation } = await buildContext(config, log, parts, stores, { ...services, invalidations, plans });
  logs.listen(ctx.calls);
  const keeper = new DomainKeeper({ ...ctx, log: log.child({ component: 'domains' }) });
  keeper.start();
  // Polling GitHub is the leader's job (started and stopped with its reconciler): one process asks, not every one.
  const poller = new GitHubPoller({ ...ctx, log: log.child({ component: 'github' }) }, config.githubPollMs ?? 60_000);
  const leader = await resumeWork(ctx, config, reposRoot, { sharing: services.sharing, poller });
  const { server, port, url } = await listen(ctx, config, reposRoot);
  const openMetrics =
    config.prometheus?.mode === 'open' && services.prometheus
      ? await serveOpenMetrics(services.prometheus, config.prometheus)
      : undefined;
  const { backupTo, schedule } = startBackups(config, log, stores);
  return {
    url,
    port,
    metricsUrl: openMetrics ? `http://${hostForUrl(openMetrics.host)}:${openMetrics.port}/metrics` : undefined,
    ctx,
    githubPoller: poller,
    runtime: services.runtime,
    ownerKeyFile: stores.ownerKeyFile,
    setupToken: stores.setupToken,
    backup: async (dir, options = {}) => {
      if (dir) return (await backupTo(dir, options.includeKeyFile)).dir;
      if (!schedule) throw new Error('no backup directory: set BMMS_BACKUP_DIR or name one');
      return schedule.runOnce();
    },
    // In order: stop taking calls and drain the ones in flight (bounded) → flush observers → stop instances → DB.
    close: closer(async () => {
      await schedule?.stop();
      const { cut } = await server.drain(config.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      if (cut > 0) log.warn('requests still running after the shutdown grace period were cut', { requests: cut });
      await generation.drain();
      await poller.stop();
      ctx.oauth.stop();
      await leader.close();
      await services.sharing?.close();
      await egress.closeAll();
      await ctx.checks.close();
      await openMetrics?.close();
      // The last calls' metrics and usage, before the database closes.
      await ctx.metrics.close();
      await ctx.usage.close();
      await replay.close();
      await ctx.rateLimits.close();
      ctx.fairShare.close();
      ctx.plans.close();
      // After the instances stopped (their last lines) and before the database closes.
      await logs.writer.close();
      await ctx.directory.close();
      await keeper.close();
      ctx.domains.close();
      await ctx.invalidations.close();
      await stores.database.close();
      await unlock();
      await telemetry.close();
    }),
  };
}

/** The data dir's folders; the scratch folder starts empty. */
async function prepareDataDir(dataDir: string): Promise<{ reposRoot: string; workDir: string }> {
  const reposRoot = path.join(dataDir, 'repos');
  const workDir = path.join(dataDir, 'tmp');
  await rm(workDir, { recursive: true, force: true });
  await Promise.all([reposRoot, workDir, path.join(dataDir, 'bundles')].map((d) => mkdir(d, { recursive: true })));
  return { reposRoot, workDir };
}

/** What outlives a restart: the database with its owner account, and the secrets under the master key. */
interface Stores {
  database: Database;
  db: PrismaClient;
  keyring: Keyring;
  secrets: SecretStore;
  /** The owner key file, when this start created it. */
  ownerKeyFile: string | undefined;
  /** A one-time set-password link token, while the owner has no password. */
  setupToken: string | undefined;
}

/** Opens the database (migrated, with an owner) and the secret store. */
async function openStores(config: Config, log: Logger, parts: PlatformParts): Promise<Stores> {
  const dataDir = config.dataDir;
  const database = await openDatabase({ dataDir, databaseUrl: config.databaseUrl });
  const { db } = database;
  const ownerKeyFile = await ensureOwner(db, dataDir);
  const owner = await ownerWithoutPassword(db);
  const setupToken = owner ? (await issueSetupToken(db, owner.id)).token : undefined;

  const keys = await loadKeyring(parts.masterKey ?? process.env.BMMS_MASTER_KEY, dataDir);
  if (keys.source === 'file' && config.databaseUrl) {
    log.warn('BMMS_MASTER_KEY is not set: secrets are encrypted with the key file in the data dir', {
      file: keys.file,
    });
  }
  const secrets = new SecretStore({ db, keyring: keys.keyring });
  return { database, db, keyring: keys.keyring, secrets, ownerKeyFile, setupToken };
}

/** The egress proxy: instances reach the outside only through it, one unix socket per instance. */
async function startEgress(
  config: Config,
  log: Logger,
  parts: PlatformParts,
  replay: ReplayRecorder,
): Promise<EgressProxy> {
  const egressRoot = path.join(config.dataDir, 'egress');
  await rm(egressRoot, { recursive: true, force: true });
  const egressLog = log.child({ component: 'egress' });
  if (config.testPublicRanges) {
    log.warn('BMMS_TEST_PUBLIC_RANGES: the egress proxy treats these documentation ranges as public (tests only)', {
      ranges: config.testPublicRanges,
    });
  }
  return new EgressProxy({
    ...parts.egress,
    ...(config.testPublicRanges ? { testPublicRanges: config.testPublicRanges } : {}),
    root: egressRoot,
    // Upstream answers of servers whose owner consented to recording go with their recorded calls.
    tap: { wants: (server) => replay.wantsEgress(server), exchange: (server, e) => replay.egress(server, e) },
    log: ({ level, msg, ...fields }) => (level === 'info' ? egressLog.info : egressLog.warn)(String(msg), fields),
  });
}

/** The deploy machinery: the git store, the runtime, the checks and the reconciler they gate, and previews. */
interface Services {
  git: ServerRepos;
  /** The orgs' connections to GitHub. */
  githubConnections: GitHubConnections;
  /** Servers on GitHub: pull requests, check runs. */
  github: GitHubServers;
  /** The platform's public base URL. */
  publicBase: PublicBase;
  runtime: Runtime;
  credentials: GatewayCredentials;
  routes: RouteTable;
  previews: PreviewManager;
  checks: CheckService;
  reconciler: Reconciler;
  /** The platform's Prometheus metrics, unless BMMS_METRICS=off. */
  prometheus: PlatformMetrics | undefined;
  logs: LogWriter;
  /** Recorded production calls (with consent) for the replay check. */
  replay: ReplayRecorder;
  /** With Postgres: the routes every platform process of the database shares (the leader's, mirrored by the others). */
  sharing: RouteSharing | undefined;
}

/** Wires git, runtime, checks, previews and the reconciler together (nothing starts yet). */
function buildServices(
  config: Config,
  log: Logger,
  parts: PlatformParts,
  deps: {
    db: PrismaClient;
    secrets: SecretStore;
    egress: EgressProxy;
    replay: ReplayRecorder;
    reposRoot: string;
    workDir: string;
    logs: LogWriter;
    plans: OrgPlans;
    invalidations: InvalidationBus;
    keyring: Keyring;
  },
): Services {
  const { db } = deps;
  const githubConnections = new GitHubConnections({ db, sealer: deps.secrets, apiUrl: config.githubApiUrl });
  const git = new ServerRepos({
    db,
    internal: new InternalGitProvider({ root: deps.reposRoot }),
    connections: githubConnections,
    invalidations: deps.invalidations,
  });
  const publicBase = new PublicBase(config.publicUrl, config.allowedHosts);
  const github = new GitHubServers({ db, repos: git, connections: githubConnections, baseUrl: () => publicBase.url });
  const githubLog = log.child({ component: 'github' });
  const runtime = openRuntime(config, log, parts, db, deps);
  const credentials = new GatewayCredentials(derivedKeys(deps.keyring, 'gateway-credentials')[0]);
  const bundles = new BundleCache({ dir: path.join(config.dataDir, 'bundles') });
  const routes = new RouteTable();
  let reconciler: Reconciler | undefined;
  const sharing = shareRoutes(config, log, { db, routes, invalidations: deps.invalidations }, () => reconciler);
  let prometheus: PlatformMetrics | undefined;
  const player = new ReplayPlayer(deps.egress);
  const previews = new PreviewManager({
    db,
    git,
    runtime,
    bundles,
    routes,
    reconciler: () => {
      if (!reconciler) throw new Error('the reconciler is not set up yet');
      return reconciler;
    },
    // main's own suite tries its preview without routing it: it keeps serving for the checks that call it.
    trialHoldMs: 180_000,
    // The contract and conformance checks call every tool of a preview, whatever scopes it needs.
    callHeaders: (server) => ({
      authorization: `Bearer ${credentials.forCall({ server, sub: 'platform', scopes: ['*'], client: 'bmms-checks' })}`,
    }),
  });
  const checks = new CheckService({
    db,
    git,
    log: log.child({ component: 'checks' }),
    checks: allChecks(
      previews,
      (serverName) => deps.plans.ofServer(serverName),
      jobRunner(runtime, config, config.dataDir, log, db),
      {
        sample: (serverName) => deps.replay.sample(serverName),
        serving: (serverName, tree, exchanges, secrets, call) =>
          player.serving(serverName, tree, exchanges, secrets, call),
      },
    ),
    workDir: deps.workDir,
    // Pro, Team and Enterprise suites start first when suites wait for a slot (a waiting one ages into priority).
    priorityOf: async (server) => (await deps.plans.ofServer(server.name)).priorityChecks,
    onCheckRun: (check, conclusion, ms) => prometheus?.observeCheck(check, conclusion, ms),
    onRunChanged: (server, suite, check, outcome) => {
      github
        .checkChanged(server, suite, check, outcome)
        .catch((err) => githubLog.warn('reporting a check on GitHub failed', { server: server.name, check, err }));
    },
    onCompleted: (server, suite) => {
      github
        .suiteCompleted(server, suite.treeSha)
        .catch((err) => githubLog.warn('updating pull requests failed', { server: server.name, err }));
      reconciler?.wake(server.name);
      previews.suiteDone(server.name, suite.treeSha);
      if (suite.conclusion === 'success') {
        // Build the bundle of a green tree now, so a merge only has to start it.
        bundles
          .ensure(suite.treeSha, (dir) => git.checkout(server.name, suite.commitSha, dir))
          .catch((err) => log.warn('bundle prebuild failed', { server: server.name, err }));
      }
    },
  });
  reconciler = buildReconciler(config, log, {
    ...deps,
    git,
    runtime,
    bundles,
    routes,
    checks,
    credentials,
    player,
    sharing,
  });
  if (config.prometheus && config.prometheus.mode !== 'off')
    prometheus = new PlatformMetrics({ reconciler, routes, runtime, logs: deps.logs });
  return {
    git,
    githubConnections,
    github,
    publicBase,
    runtime,
    credentials,
    routes,
    previews,
    checks,
    reconciler,
    prometheus,
    logs: deps.logs,
    replay: deps.replay,
    sharing,
  };
}

/**
 * With Postgres, several platform processes may share the database: the routes of the one whose reconciler leads
 * are every process's (mirrored from `instance_routes`). One process on PGlite has nothing to share.
 */
function shareRoutes(
  config: Config,
  log: Logger,
  deps: { db: PrismaClient; routes: RouteTable; invalidations: InvalidationBus },
  reconciler: () => Reconciler | undefined,
): RouteSharing | undefined {
  if (!config.databaseUrl) return undefined;
  return new RouteSharing({
    ...deps,
    reconciler: () => {
      const r = reconciler();
      if (!r) throw new Error('the reconciler is not set up yet');
      return r;
    },
    log: log.child({ component: 'routes' }),
  });
}

/**
 * With the swarm runtime on an overlay network, instances on any node reach the egress proxy over that network
 * (not through a bound socket); says at start whether this process is on it, as it must be to call them.
 */
function serveSwarmNetwork(runtime: SwarmRuntime, egress: EgressProxy, log: Logger): void {
  if (!runtime.network) return;
  egress.serveOnNetwork(() => runtime.localAddress());
  runtime
    .localAddress()
    .then((address) => log.info('reaching instances on the swarm network', { network: runtime.network, address }))
    .catch((err: unknown) => log.warn('instances on the swarm network will be out of reach', { err }));
}

/**
 * The owner labels of swarm services: from the master key, which every replica of one platform shares (each has a
 * data dir of its own), so a new leader removes what the last one left. Former keys give the former labels.
 */
const swarmOwners = (keyring: Keyring): string[] =>
  derivedKeys(keyring, 'swarm-owner').map((key) => key.toString('hex').slice(0, 16));

/** The runtime the configuration selects (or the caller's); a warning when it cannot start instances yet. */
function openRuntime(
  config: Config,
  log: Logger,
  parts: PlatformParts,
  db: PrismaClient,
  deps: { logs: LogWriter; keyring: Keyring; egress: EgressProxy },
): Runtime {
  const sink = (line: Parameters<typeof outputEntry>[0]) => deps.logs.add(outputEntry(line));
  const runtime = parts.runtime ?? createRuntime(config, config.dataDir, log, db, sink, swarmOwners(deps.keyring));
  if (runtime instanceof SwarmRuntime) serveSwarmNetwork(runtime, deps.egress, log);
  if (runtime instanceof ProcessRuntime && runtime.unavailable) {
    log.warn('instances cannot start: no sandbox', { err: runtime.unavailable });
  }
  const confinement = confinementOf(runtime);
  log.info('instance isolation', { layer: confinement.layer, hardened: confinement.hardened });
  if (runtime instanceof DockerRuntime || runtime instanceof SwarmRuntime) {
    // Builds the offline base image now rather than on the first deploy; a missing engine is retried per deploy.
    runtime.prepare().catch((err) => log.warn(`instances cannot start yet: ${(err as Error).message}`));
  }
  return runtime;
}

/** The reconciler, gated by the checks; its instances get secrets, egress and the gateway's credential. */
function buildReconciler(
  config: Config,
  log: Logger,
  deps: {
    db: PrismaClient;
    git: GitProvider;
    runtime: Runtime;
    bundles: BundleCache;
    routes: RouteTable;
    checks: CheckService;
    secrets: SecretStore;
    egress: EgressProxy;
    credentials: GatewayCredentials;
    logs: LogWriter;
    player: ReplayPlayer;
    sharing: RouteSharing | undefined;
  },
): Reconciler {
  const { db, git, runtime, bundles, routes, checks, secrets, egress, credentials } = deps;
  return new Reconciler({
    db,
    git,
    runtime,
    bundles,
    routes,
    gate: checks,
    log: log.child({ component: 'reconciler' }),
    resyncMs: config.resyncMs,
    standbyMs: config.rollbackWindowMs,
    idleMs: config.idleMs,
    provisioner: combineProvisioners(secretsProvisioner(secrets), egressProvisioner(egress), credentials.provisioner()),
    probeHeaders: (server) => credentials.probeHeaders(server),
    // Previews verify the gateway's credential like production instances, and pass the smoke test before routing;
    // their egress never goes out: it answers with the upstream responses the replay check recorded.
    previews: { env: () => credentials.env(), test: smokeTest, provision: deps.player.provision },
    onEvent: (event) => deps.logs.add(deployEntry(event)),
    files: new ServerFiles({ dataDir: config.dataDir }),
    ...(deps.sharing ? { elsewhere: deps.sharing } : {}),
    ...(config.testKillAt
      ? {
          onStep: (step: string, server: string) => {
            const kill = config.testKillAt;
            if (step !== kill?.step || isPreviewTarget(server) !== kill.preview) return;
            log.warn('BMMS_TEST_KILL_AT: killing the platform', { step, server });
            process.kill(process.pid, 'SIGKILL');
          },
        }
      : {}),
  });
}

/** Generation, invalidations, the gateway's directory, sessions and the authorization server, as one context. */
async function buildContext(
  config: Config,
  log: Logger,
  parts: PlatformParts,
  stores: Stores,
  services: Services & { invalidations: InvalidationBus; plans: OrgPlans },
): Promise<{ ctx: PlatformContext; generation: Generation }> {
  const { db, secrets, keyring } = stores;
  const { git, checks, reconciler, routes, previews, credentials, githubConnections, github, publicBase } = services;
  const generation = new Generation(config.generation ?? generationConfigFromEnv(), parts.model);
  const interrupted = await generation.resume(db);
  if (interrupted > 0) log.warn('generations interrupted by a restart were marked failed', { count: interrupted });
  const { invalidations, plans } = services;
  const directory = new GatewayDirectory({ db, invalidations, log: log.child({ component: 'gateway' }) });
  const domains = new DomainDirectory({ db, invalidations, log: log.child({ component: 'domains' }) });
  await domains.start();
  const sessions = new WebSessions({ db, csrfKey: derivedKeys(keyring, 'session-csrf')[0] as Buffer });
  const calls = new CallObservers(log.child({ component: 'gateway' }), config.callObservers ?? true);
  const metrics = new CallMetrics({ db, log: log.child({ component: 'metrics' }) });
  calls.add(metrics.observe);
  metrics.start();
  const usage = new UsageMeter({
    db,
    log: log.child({ component: 'usage' }),
    flushMs: config.usageFlushMs,
    enabled: config.metering ?? true,
    ...(parts.clock ? { now: parts.clock } : {}),
  });
  // What the other processes (or this data's previous runs) counted this month, before the first call is judged.
  await usage.refresh();
  usage.start();
  const quotas = new Quotas({ usage, db, log: log.child({ component: 'usage' }) });
  // BMMS_METERING=off (benchmarks) limits nothing either.
  const limits = (config.metering === false ? undefined : config.rateLimits) ?? {};
  const rateLimits = new GatewayRateLimits({
    ...limits,
    // Several processes add up their counts through Redis (REDIS_URL), else through a shared Postgres database.
    store: limits.address || limits.token ? await rateLimitStore(config, db, log) : undefined,
    processId: usage.processId,
    log: log.child({ component: 'gateway' }),
    ...(parts.clock ? { now: parts.clock } : {}),
  });
  const fairShare = new FairShare({ saturated: config.fairShareUtilization });
  const { prometheus } = services;
  if (prometheus) calls.add(prometheus.observeCall);
  const ctx: PlatformContext = {
    db,
    git,
    githubConnections,
    github,
    checks,
    reconciler,
    routes,
    previews,
    secrets,
    log,
    generation,
    publicBase,
    trustedProxies: config.trustedProxies ?? [],
    siteDir: parts.siteDir ?? SITE_DIR,
    oauth: new AuthorizationServer({
      db,
      git,
      sealer: secrets,
      keyring,
      log: log.child({ component: 'oauth' }),
      sessions,
      external: config.oidc,
      invalidations,
      domains,
      ...parts.oauth,
    }),
    credentials,
    invalidations,
    directory,
    domains,
    lookupTxt: txtLookup(config.dnsServers),
    domainHosts: () => reservedHosts(config, publicBase),
    calls,
    logs: services.logs,
    metrics,
    usage,
    replay: services.replay,
    plans,
    quotas,
    rateLimits,
    fairShare,
    ...billingOf(config, { db, plans, log }),
    ...(prometheus
      ? {
          prometheus: {
            metrics: prometheus,
            ...(config.prometheus?.mode === 'token'
              ? { scrape: tokenGuardedScrape(prometheus, config.prometheus.token) }
              : {}),
          },
        }
      : {}),
    signup: config.signup ?? 'invite',
    sessions,
  };
  return { ctx, generation };
}

/**
 * The hosts no custom domain may be (the platform's own, and names under them), the CNAME target owners point their
 * domains at (the platform's public host), and the scheme of its URLs.
 */
function reservedHosts(
  config: Config,
  publicBase: PublicBase,
): ReservedHosts & { target: string; scheme: 'http' | 'https' } {
  const base = URL.parse(publicBase.url);
  const own = [
    base?.hostname ?? '',
    ...(config.allowedHosts ?? []).map((h) => URL.parse(`http://${h}`)?.hostname ?? h),
  ];
  return {
    hostnames: own.filter(Boolean),
    ...(config.testDomainSuffixes?.length ? { allowSuffixes: config.testDomainSuffixes } : {}),
    target: base?.hostname ?? 'localhost',
    scheme: base?.protocol === 'https:' ? 'https' : 'http',
  };
}

/** With Postgres several platform processes may share the database: a revocation in one reaches all of them. */
async function startInvalidations(config: Config, log: Logger): Promise<InvalidationBus> {
  if (!config.databaseUrl) return new LocalInvalidationBus();
  const bus = new PostgresInvalidationBus({
    connectionString: config.databaseUrl,
    log: log.child({ component: 'invalidations' }),
  });
  await bus.start();
  return bus;
}

/**
 * Takes up what a previous process left (orphan repos, check suites, deploys) before listening, so the API never
 * reports stale state; returns the leadership under which this process's reconciler runs.
 */
async function resumeWork(
  ctx: PlatformContext,
  config: Config,
  reposRoot: string,
  leading: { sharing: RouteSharing | undefined; poller: GitHubPoller },
): Promise<{ close(): Promise<void> }> {
  const { sharing, poller } = leading;
  const { db, log, checks, reconciler } = ctx;
  const deletions = await resumeDeletions(ctx);
  if (deletions > 0) log.warn('finished organization deletions a previous run started', { count: deletions });
  const repoNames = (await readdir(reposRoot)).filter((f) => f.endsWith('.git')).map((f) => f.slice(0, -4));
  const swept = await sweepOrphanRepos(ctx, repoNames);
  if (swept.length > 0) log.warn('removed repositories that no server owns', { repos: swept });

  // Before listening: the API never reports what a previous process left (stale Ready, half-done deploys).
  const servers = await db.server.findMany({ select: { id: true, name: true } });
  await checks.resume(new Map(servers.map((s) => [s.id, s])));
  // With Postgres several platform processes may share the database: exactly one reconciler acts.
  const leadership = config.databaseUrl
    ? new AdvisoryLockLeadership({ connectionString: config.databaseUrl })
    : new SoloLeadership();
  // Until it leads, this process routes calls to the leader's instances (and passes wake-ups on to it).
  await sharing?.follow();
  const leader = whileLeading(leadership, {
    start: async () => {
      await sharing?.lead();
      await reconciler.start();
      poller.start();
    },
    stop: async () => {
      await poller.stop();
      await reconciler.stop();
      await sharing?.follow();
    },
    log: (msg, fields) => log.info(msg, fields),
  });
  await leader.settled;
  const files = await sweepOrphanFiles(ctx, new ServerFiles({ dataDir: config.dataDir }));
  if (files > 0) log.info('removed files that no server owns', { count: files });
  return leader;
}

/** Serves the app on the configured host and port; the authorization server starts once the URL is known. */
async function listen(
  ctx: PlatformContext,
  config: Config,
  reposRoot: string,
): Promise<{ server: DrainingServer; port: number; url: string }> {
  const app = createApp(ctx, reposRoot);
  // While draining, every new request is refused the way the API renders errors: 503 shutting_down.
  const refuse = express();
  refuse.disable('x-powered-by');
  refuse.use((_req, _res, next) => next(shuttingDown(5)));
  refuse.use(errorHandler(ctx.log));
  const draining = new DrainingServer(app, refuse);
  const server = draining.server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = ctx.publicBase.listening(config.host, port);
  await ctx.oauth.start(ctx.publicBase);
  return { server: draining, port, url };
}

/** Backups of the stores: one into a named directory on demand, and the schedule BMMS_BACKUP_DIR sets (started). */
function startBackups(
  config: Config,
  log: Logger,
  stores: Stores,
): {
  backupTo: (dir: string, includeKeyFile?: boolean) => Promise<BackupSummary>;
  schedule: BackupSchedule | undefined;
} {
  const { db, database, keyring } = stores;
  const dataDir = config.dataDir;
  const backupTo = async (dir: string, includeKeyFile = false) =>
    createBackup(dir, { db, kind: database.kind, dataDir, keyring, includeKeyFile });
  const schedule = config.backups
    ? new BackupSchedule({
        ...config.backups,
        backup: (dir) => backupTo(dir),
        log: log.child({ component: 'backups' }),
      })
    : undefined;
  schedule?.start();
  return { backupTo, schedule };
}

/** A listening host as the authority of a URL (an IPv6 address in brackets). */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A close() that runs `shutdown` once, however often it is called. */
function closer(shutdown: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= shutdown();
    return closing;
  };
}

/** The first-start banner: where the key is and how to use it. */
export function welcome(platform: Platform, dataDir: string): string {
  const keyFile = path.join(dataDir, OWNER_KEY_FILE);
  const lines = [
    `BuildMyMCPServer is listening on ${platform.url}`,
    platform.ownerKeyFile
      ? `Created the owner account. Its API key is in ${keyFile} (mode 0600); it is shown nowhere else.`
      : `Owner API key: ${keyFile}`,
    `  export KEY=$(cat ${keyFile})`,
    `  curl -s -X POST ${platform.url}/api/v1/servers -H "Authorization: Bearer $KEY" -d '{"name":"demo","template":"echo"}'`,
  ];
  if (platform.setupToken) {
    lines.push(
      '',
      'Sign in to the dashboard: open this link once (within 30 minutes) to set the owner password:',
      `  ${platform.url}${setupPath(platform.setupToken)}`,
      `A new link: curl -s -X POST ${platform.url}/api/v1/me/setup-link -H "Authorization: Bearer $KEY"`,
    );
  }
  const confinement = confinementOf(platform.runtime);
  if (confinement.lines.length > 0) lines.push('', ...confinement.lines);
  return `${lines.join('\n')}\n`;
}

/** Stripe billing when the platform is configured to take payments; nothing otherwise. */
function billingOf(
  config: Config,
  deps: { db: PrismaClient; plans: OrgPlans; log: Logger },
): { billing?: StripeBilling } {
  if (!config.stripe) return {};
  const stripe = stripeClient(config.stripe);
  return {
    billing: new StripeBilling({
      ...deps,
      stripe,
      config: config.stripe,
      log: deps.log.child({ component: 'billing' }),
    }),
  };
}

/** Where the processes share rate-limit counts: Redis when REDIS_URL is set (its client loaded only then), else Postgres. */
async function rateLimitStore(config: Config, db: PrismaClient, log: Logger): Promise<RateLimitStore | undefined> {
  if (config.redisUrl) {
    const { RedisRateLimitStore } = await import('./gateway/rate-limit-redis.ts');
    const store = new RedisRateLimitStore(config.redisUrl, log.child({ component: 'gateway' }));
    await store.connect();
    return store;
  }
  return config.databaseUrl ? new PostgresRateLimitStore(db) : undefined;
}
