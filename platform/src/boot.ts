import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { InternalGitProvider } from '@bmms/gitserver';
import { openDatabase } from '@bmms/prisma';
import {
  AdvisoryLockLeadership,
  BundleCache,
  DockerRuntime,
  isPreviewTarget,
  ProcessRuntime,
  Reconciler,
  RouteTable,
  type Runtime,
  SoloLeadership,
  SwarmRuntime,
  whileLeading,
} from '@bmms/reconciler';
import { ensureOwner, OWNER_KEY_FILE } from './accounts/bootstrap.ts';
import { WebSessions } from './accounts/sessions.ts';
import { issueSetupToken, ownerWithoutPassword, setupPath } from './accounts/setup.ts';
import { createApp } from './app.ts';
import { createBackup } from './backup/backup.ts';
import { BackupSchedule } from './backup/schedule.ts';
import { allChecks } from './checks/index.ts';
import { CheckService } from './checks/suites.ts';
import type { Config } from './config.ts';
import type { PlatformContext } from './context.ts';
import { lockDataDir } from './datadir-lock.ts';
import { EgressProxy, type EgressProxyOptions, egressProvisioner } from './egress/index.ts';
import { GatewayCredentials } from './gateway/credentials.ts';
import { GatewayDirectory } from './gateway/directory.ts';
import { generationConfigFromEnv } from './generation/config.ts';
import { Generation } from './generation/index.ts';
import type { Model } from './generation/model.ts';
import { PublicBase } from './http/public-url.ts';
import { type InvalidationBus, LocalInvalidationBus, PostgresInvalidationBus } from './invalidation.ts';
import { createLogger, type Logger } from './logger.ts';
import { AuthorizationServer, type AuthorizationServerDeps, derivedKeys } from './oauth/server.ts';
import { PreviewManager, smokeTest } from './previews.ts';
import { combineProvisioners } from './provisioners.ts';
import { createRuntime } from './runtime.ts';
import { loadKeyring } from './secrets/keyring.ts';
import { secretsProvisioner } from './secrets/provisioner.ts';
import { SecretStore } from './secrets/store.ts';
import { sweepOrphanRepos } from './services/servers.ts';

export const SITE_DIR = path.resolve(import.meta.dirname, '../../site/dist');

/** A running platform. */
export interface Platform {
  /** The base URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  ctx: PlatformContext;
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

async function boot(config: Config, log: Logger, parts: PlatformParts, unlock: () => Promise<void>): Promise<Platform> {
  const dataDir = config.dataDir;
  const reposRoot = path.join(dataDir, 'repos');
  const workDir = path.join(dataDir, 'tmp');
  await rm(workDir, { recursive: true, force: true });
  await Promise.all([reposRoot, workDir, path.join(dataDir, 'bundles')].map((d) => mkdir(d, { recursive: true })));

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
  // Instances reach the outside only through the egress proxy: one unix socket per instance.
  const egressRoot = path.join(dataDir, 'egress');
  await rm(egressRoot, { recursive: true, force: true });
  const egressLog = log.child({ component: 'egress' });
  if (config.testPublicRanges) {
    log.warn('BMMS_TEST_PUBLIC_RANGES: the egress proxy treats these documentation ranges as public (tests only)', {
      ranges: config.testPublicRanges,
    });
  }
  const egress = new EgressProxy({
    ...parts.egress,
    ...(config.testPublicRanges ? { testPublicRanges: config.testPublicRanges } : {}),
    root: egressRoot,
    log: ({ level, msg, ...fields }) => (level === 'info' ? egressLog.info : egressLog.warn)(String(msg), fields),
  });
  const git = new InternalGitProvider({ root: reposRoot });
  const runtime = parts.runtime ?? createRuntime(config, dataDir, log, db);
  if (runtime instanceof ProcessRuntime && runtime.unavailable) {
    log.warn('instances cannot start: no sandbox', { err: runtime.unavailable });
  }
  if (runtime instanceof DockerRuntime || runtime instanceof SwarmRuntime) {
    // Builds the offline base image now rather than on the first deploy; a missing engine is retried per deploy.
    runtime.prepare().catch((err) => log.warn(`instances cannot start yet: ${(err as Error).message}`));
  }
  const credentials = new GatewayCredentials();
  const bundles = new BundleCache({ dir: path.join(dataDir, 'bundles') });
  const routes = new RouteTable();
  let reconciler: Reconciler | undefined;
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
  });
  const checks = new CheckService({
    db,
    git,
    log: log.child({ component: 'checks' }),
    checks: allChecks(previews),
    workDir,
    onCompleted: (server, suite) => {
      reconciler?.wake(server.name);
      if (suite.conclusion === 'success') {
        // Build the bundle of a green tree now, so a merge only has to start it.
        bundles
          .ensure(suite.treeSha, (dir) => git.checkout(server.name, suite.commitSha, dir))
          .catch((err) => log.warn('bundle prebuild failed', { server: server.name, err }));
      }
    },
  });
  reconciler = new Reconciler({
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
    // Previews verify the gateway's credential like production instances, and pass the smoke test before routing.
    previews: { env: () => credentials.env(), test: smokeTest },
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
  const generation = new Generation(config.generation ?? generationConfigFromEnv(), parts.model);
  const interrupted = await generation.resume(db);
  if (interrupted > 0) log.warn('generations interrupted by a restart were marked failed', { count: interrupted });
  // With Postgres several platform processes may share the database: a revocation in one reaches all of them.
  let invalidations: InvalidationBus;
  if (config.databaseUrl) {
    const bus = new PostgresInvalidationBus({
      connectionString: config.databaseUrl,
      log: log.child({ component: 'invalidations' }),
    });
    await bus.start();
    invalidations = bus;
  } else {
    invalidations = new LocalInvalidationBus();
  }
  const directory = new GatewayDirectory({ db, invalidations, log: log.child({ component: 'gateway' }) });
  const sessions = new WebSessions({ db, csrfKey: derivedKeys(keys.keyring, 'session-csrf')[0] as Buffer });
  const publicBase = new PublicBase(config.publicUrl, config.allowedHosts);
  const ctx: PlatformContext = {
    db,
    git,
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
      keyring: keys.keyring,
      log: log.child({ component: 'oauth' }),
      sessions,
      external: config.oidc,
      invalidations,
      ...parts.oauth,
    }),
    credentials,
    invalidations,
    directory,
    signup: config.signup ?? 'invite',
    sessions,
  };

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
  const leader = whileLeading(leadership, {
    start: () => reconciler.start(),
    stop: () => reconciler.stop(),
    log: (msg, fields) => log.info(msg, fields),
  });
  await leader.settled;

  const app = createApp(ctx, reposRoot);
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = publicBase.listening(config.host, port);
  await ctx.oauth.start(publicBase);

  const backupTo = async (dir: string, includeKeyFile = false) =>
    createBackup(dir, { db, kind: database.kind, dataDir, keyring: keys.keyring, includeKeyFile });
  const schedule = config.backups
    ? new BackupSchedule({
        ...config.backups,
        backup: (dir) => backupTo(dir),
        log: log.child({ component: 'backups' }),
      })
    : undefined;
  schedule?.start();

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    ctx,
    runtime,
    ownerKeyFile,
    setupToken,
    backup: async (dir, options = {}) => {
      if (dir) return (await backupTo(dir, options.includeKeyFile)).dir;
      if (!schedule) throw new Error('no backup directory: set BMMS_BACKUP_DIR or name one');
      return schedule.runOnce();
    },
    close: () => {
      closing ??= (async () => {
        await schedule?.stop();
        server.closeIdleConnections();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        setTimeout(() => server.closeAllConnections(), 5000).unref();
        await generation.drain();
        ctx.oauth.stop();
        await leader.close();
        await egress.closeAll();
        await checks.close();
        await stopped;
        await directory.close();
        await invalidations.close();
        await database.close();
        await unlock();
      })();
      return closing;
    },
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
  const { runtime } = platform;
  if (runtime instanceof ProcessRuntime && runtime.unavailable) {
    lines.push(
      '',
      `WARNING: MCP servers cannot run: ${runtime.unavailable.message}`,
      'Install bubblewrap (Debian: apt-get install -y bubblewrap) and restart, or start with BMMS_INSECURE_NO_SANDBOX=1 on a development machine.',
    );
  } else if (runtime instanceof ProcessRuntime && runtime.sandbox === 'none') {
    lines.push(
      '',
      'WARNING: insecure mode: MCP servers run WITHOUT a sandbox (BMMS_INSECURE_NO_SANDBOX=1). Never in production.',
    );
  }
  return `${lines.join('\n')}\n`;
}
