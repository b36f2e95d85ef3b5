import path from 'node:path';
import { DEPLOY_STEPS, type DeployStep, type LogBounds, parseUidRange, type UidRange } from '@bmms/reconciler';
import { parseTestPublicRanges } from '@bmms/runner-template';
import { z } from 'zod';
import type { ExternalIdpConfig } from './accounts/external.ts';
import { parseDnsServers } from './domains/dns.ts';
import { DEFAULT_FAIR_SHARE_UTILIZATION } from './gateway/fair-share.ts';
import type { RateLimitRule } from './gateway/rate-limit.ts';
import { parseRedisUrl } from './gateway/redis-url.ts';
import { type GenerationConfig, generationConfigFromEnv } from './generation/config.ts';
import { isBaseUrl, parseAllowedHosts, parseTrustedProxies } from './http/public-url.ts';
import { DEFAULT_PLAN, PLAN_IDS, type PlanId } from './plans.ts';
import { DEFAULT_TRACED_CALLS_PER_SECOND, type TracingConfig, tracingFromEnv } from './telemetry/tracing.ts';

/** `<requests>/<seconds>`, e.g. `600/60`: at most that many requests in any window of that many seconds. */
const rateRule = z
  .string()
  .regex(/^\d+\/\d+$/, 'must be <requests>/<seconds>, e.g. 600/60')
  .transform((text) => {
    const [limit, seconds] = text.split('/').map(Number) as [number, number];
    return { limit, windowMs: seconds * 1000 };
  })
  .refine((r) => r.limit >= 1 && r.windowMs >= 1000, 'needs at least 1 request in at least 1 second');

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  BMMS_DATA_DIR: z.string().default('./.data'),
  DATABASE_URL: z.string().url().optional(),
  BMMS_PUBLIC_URL: z
    .string()
    .url()
    .refine(isBaseUrl, 'must be an http(s) URL with no credentials, query or fragment, such as https://mcp.example.com')
    .optional(),
  BMMS_TRUSTED_PROXIES: z.string().optional(),
  BMMS_ALLOWED_HOSTS: z.string().optional(),
  BMMS_RUNTIME: z.enum(['process', 'confined', 'docker', 'swarm']).default('process'),
  BMMS_DOCKER_IMAGE: z.string().min(1).optional(),
  BMMS_SWARM_CONSTRAINTS: z.string().optional(),
  BMMS_SWARM_NETWORK: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a Docker network name')
    .optional(),
  BMMS_INSECURE_NO_SANDBOX: z.enum(['0', '1', 'true', 'false']).optional(),
  BMMS_INSTANCE_UID_RANGE: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseUidRange(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  BMMS_INSTANCE_DISK_MB: z.coerce.number().int().min(1).optional(),
  BMMS_INSTANCE_LOG_LINES_PER_SECOND: z.coerce.number().positive().optional(),
  BMMS_INSTANCE_LOG_BYTES_PER_SECOND: z.coerce.number().int().positive().optional(),
  BMMS_INSTANCE_LOG_LINE_BYTES: z.coerce.number().int().min(80).optional(),
  BMMS_INSTANCE_LOG_FILE_BYTES: z.coerce.number().int().min(4096).optional(),
  BMMS_INSTANCE_LOG_FILES: z.coerce.number().int().min(0).max(100).optional(),
  BMMS_INSTANCE_LOG_MEMORY_BYTES: z.coerce.number().int().min(65536).optional(),
  BMMS_RESYNC_SECONDS: z.coerce.number().positive().default(10),
  BMMS_ROLLBACK_WINDOW_SECONDS: z.coerce.number().min(0).default(300),
  BMMS_IDLE_MINUTES: z.coerce.number().min(0).default(15),
  BMMS_LOG_RETENTION_DAYS: z.coerce.number().positive().max(3650).default(7),
  BMMS_BACKUP_DIR: z.string().optional(),
  BMMS_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(25),
  BMMS_BACKUP_KEEP: z.coerce.number().int().min(1).default(7),
  BMMS_BACKUP_INTERVAL_HOURS: z.coerce.number().positive().default(24),
  // `<step>`: a production deploy's step; `preview:<step>`: a preview deploy's.
  BMMS_TEST_KILL_AT: z.enum([...DEPLOY_STEPS, ...DEPLOY_STEPS.map((s) => `preview:${s}` as const)]).optional(),
  BMMS_TEST_PUBLIC_RANGES: z.string().optional(),
  BMMS_TEST_DOMAIN_SUFFIXES: z.string().optional(),
  BMMS_DNS_SERVERS: z.string().optional(),
  BMMS_SIGNUP: z.enum(['open', 'invite']).default('invite'),
  BMMS_OIDC_ISSUER: z.string().url().optional(),
  BMMS_OIDC_CLIENT_ID: z.string().min(1).optional(),
  BMMS_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  BMMS_OIDC_NAME: z.string().min(1).max(60).default('your company account'),
  BMMS_METRICS: z.enum(['off', 'token', 'open']).default('off'),
  BMMS_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  BMMS_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BMMS_METRICS_HOST: z.string().default('127.0.0.1'),
  BMMS_CALL_OBSERVERS: z.enum(['on', 'off']).default('on'),
  BMMS_METERING: z.enum(['on', 'off']).default('on'),
  BMMS_TRACE_CALLS_PER_SECOND: z.coerce.number().min(0).default(DEFAULT_TRACED_CALLS_PER_SECOND),
  BMMS_DEFAULT_PLAN: z.enum(PLAN_IDS).default(DEFAULT_PLAN),
  BMMS_RATE_LIMIT_ADDRESS: rateRule.optional(),
  BMMS_RATE_LIMIT_TOKEN: rateRule.optional(),
  REDIS_URL: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseRedisUrl(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  BMMS_USAGE_FLUSH_SECONDS: z.coerce.number().min(0.05).max(3600).default(10),
  BMMS_FAIR_SHARE_UTILIZATION: z.coerce.number().gt(0).max(1).default(DEFAULT_FAIR_SHARE_UTILIZATION),
  BMMS_GITHUB_POLL_SECONDS: z.coerce.number().min(0).default(60),
  GITHUB_API_URL: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL, such as https://github.example.com/api/v3')
    .optional(),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret key (sk_… or rk_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\w+$/, 'must be a webhook signing secret (whsec_…)')
    .optional(),
  STRIPE_PUBLISHABLE_KEY: z
    .string()
    .regex(/^pk_(test|live)_\w+$/, 'must be a publishable key (pk_…)')
    .optional(),
  STRIPE_PRICE_PRO: z
    .string()
    .regex(/^price_\w+$/, 'must be a price id (price_…)')
    .optional(),
  STRIPE_PRICE_TEAM: z
    .string()
    .regex(/^price_\w+$/, 'must be a price id (price_…)')
    .optional(),
  BMMS_STRIPE_API_URL: z.string().url().optional(),
});

/** The Stripe variables; all of them, or none (billing not configured). */
const STRIPE_VARS = [
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'STRIPE_PUBLISHABLE_KEY',
  'STRIPE_PRICE_PRO',
  'STRIPE_PRICE_TEAM',
] as const;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  publicUrl: string | undefined;
  /** Direct peers (addresses, CIDRs) whose X-Forwarded-For/-Proto are believed (BMMS_TRUSTED_PROXIES); default none. */
  trustedProxies?: string[];
  /** Without publicUrl: hosts (`host[:port]`) a request may name to get URLs under its own address (BMMS_ALLOWED_HOSTS). */
  allowedHosts?: string[];
  /** Resolvers custom domains' TXT records are looked up with (BMMS_DNS_SERVERS, `ip[:port]`); default: the system's. */
  dnsServers?: string[];
  /** Tests only: special-use suffixes (`test`) custom domains may be claimed under (BMMS_TEST_DOMAIN_SUFFIXES). */
  testDomainSuffixes?: string[];
  /** `process`: bubblewrap, else the confined layer (Node's permission model); `confined`: that layer always. */
  runtime: 'process' | 'confined' | 'docker' | 'swarm';
  /** Instance image for docker/swarm; default: an offline base image built from the platform's node binary. */
  dockerImage: string | undefined;
  /** Swarm placement constraints, e.g. `node.labels.bmms==1` (comma-separated). */
  swarmConstraints: string[];
  /** The overlay network swarm instances serve on (reached from any platform replica attached to it). */
  swarmNetwork?: string;
  insecureNoSandbox: boolean;
  /** Host uids instances run as (BMMS_INSTANCE_UID_RANGE), one per server; default 200000-299999. */
  instanceUids?: UidRange;
  /** Size in MiB of every writable path of an instance (BMMS_INSTANCE_DISK_MB). */
  instanceDiskMb?: number;
  /** Bounds on instance logs (BMMS_INSTANCE_LOG_*); unset ones keep their defaults. */
  instanceLogs?: Partial<LogBounds>;
  resyncMs: number;
  /** How long a superseded instance stays warm so a revert to its tree needs no cold start. */
  rollbackWindowMs: number;
  /** Servers with no call for this long are stopped until their next call (0: never). */
  idleMs: number;
  /** How long server logs (calls, output, deploy events) are kept (BMMS_LOG_RETENTION_DAYS, default 7 days). */
  logRetentionMs?: number;
  /** Scheduled backups (BMMS_BACKUP_DIR, BMMS_BACKUP_KEEP, BMMS_BACKUP_INTERVAL_HOURS); none when unset. */
  backups?: { dir: string; keep: number; intervalMs: number };
  /** How long SIGTERM waits for requests in flight before cutting them (BMMS_SHUTDOWN_GRACE_SECONDS, default 25 s). */
  shutdownGraceMs?: number;
  /** Fault-injection tests only: the platform SIGKILLs itself when a deploy (production or preview) reaches this step. */
  testKillAt?: { step: DeployStep; preview: boolean };
  /** Tests only: parts of documentation ranges the egress proxy treats as public (stand-in hosts in a netns). */
  testPublicRanges?: string[];
  /** Generation settings (model, OpenAPI hosts); default: read from the environment at boot. */
  generation?: GenerationConfig;
  /** `open`: anyone may sign up (and gets an org); `invite`: only with an invitation. */
  signup?: 'open' | 'invite';
  /** A company OpenID provider people may sign in with (BMMS_OIDC_ISSUER, _CLIENT_ID, _CLIENT_SECRET, _NAME). */
  oidc?: ExternalIdpConfig | undefined;
  /** OpenTelemetry traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT or _TRACES_ENDPOINT); nothing is sent when unset. */
  tracing?: TracingConfig | undefined;
  /** Where unexpected errors go besides the log (SENTRY_DSN); nowhere when unset. */
  sentryDsn?: string | undefined;
  /** The Prometheus endpoint /metrics (BMMS_METRICS, _TOKEN, _PORT, _HOST); default off. */
  prometheus?: PrometheusConfig;
  /** Whether gateway calls are observed at all (logs, metrics, traces); BMMS_CALL_OBSERVERS=off for benchmarks. */
  callObservers?: boolean;
  /** Whether gateway calls are metered and limited (usage, quotas, rate limits); BMMS_METERING=off for benchmarks. */
  metering?: boolean;
  /** The plan of every org billing has not put on another (BMMS_DEFAULT_PLAN, default self-hosted: no limits). */
  defaultPlan?: PlanId;
  /** Gateway rate limits per client address and per token (BMMS_RATE_LIMIT_ADDRESS, _TOKEN); unset: none. */
  rateLimits?: { address?: RateLimitRule | undefined; token?: RateLimitRule | undefined };
  /** Where the platform processes share their rate-limit counts (REDIS_URL); unset: Postgres, or none on PGlite. */
  redisUrl?: string | undefined;
  /**
   * The gateway's event-loop utilization (0–1) above which a server sending more than its fair share of the calls
   * has the calls it may have in flight cut (BMMS_FAIR_SHARE_UTILIZATION; `1`: never).
   */
  fairShareUtilization?: number;
  /** How often usage counts are written (BMMS_USAGE_FLUSH_SECONDS, default 10 s): what a crash may lose at most. */
  usageFlushMs?: number;
  /** GitHub's REST API for new GitHub connections (GITHUB_API_URL; default https://api.github.com). */
  githubApiUrl?: string | undefined;
  /** Stripe billing (STRIPE_SECRET_KEY, _WEBHOOK_SECRET, _PUBLISHABLE_KEY, _PRICE_PRO, _PRICE_TEAM); unset: none. */
  stripe?: StripeConfig | undefined;
  /** How often servers on GitHub are polled for what webhooks missed (BMMS_GITHUB_POLL_SECONDS, default 60 s; 0: never). */
  githubPollMs?: number;
}

/** What taking payments with Stripe needs. */
export interface StripeConfig {
  secretKey: string;
  /** Signs the webhook events Stripe sends to /api/v1/billing/webhook. */
  webhookSecret: string;
  /** Given to the browser for Embedded Checkout. */
  publishableKey: string;
  /** The recurring price of each plan sold through Checkout. */
  prices: { pro: string; team: string };
  /** Where the Stripe API is (BMMS_STRIPE_API_URL, tests: a local stand-in); default Stripe's own. */
  apiUrl?: string | undefined;
}

/**
 * Who may read /metrics: nobody (`off`), a caller with the Bearer token (`token`, on the main port), or anyone who
 * reaches the separate port (`open`, bound to 127.0.0.1 unless BMMS_METRICS_HOST says otherwise).
 */
export type PrometheusConfig =
  | { mode: 'off' }
  | { mode: 'token'; token: string }
  | { mode: 'open'; port: number; host: string };

/** BMMS_METRICS and its companions, checked together. */
function prometheusConfig(e: z.infer<typeof Env>): PrometheusConfig {
  if (e.BMMS_METRICS === 'token') {
    if (!e.BMMS_METRICS_TOKEN) throw new Error('invalid configuration:\n  BMMS_METRICS=token needs BMMS_METRICS_TOKEN');
    return { mode: 'token', token: e.BMMS_METRICS_TOKEN };
  }
  if (e.BMMS_METRICS === 'open') {
    if (e.BMMS_METRICS_PORT === undefined) {
      throw new Error('invalid configuration:\n  BMMS_METRICS=open needs BMMS_METRICS_PORT (a port of its own)');
    }
    return { mode: 'open', port: e.BMMS_METRICS_PORT, host: e.BMMS_METRICS_HOST };
  }
  return { mode: 'off' };
}

/** The Stripe variables, checked together: all of them or none. */
function stripeConfig(e: z.infer<typeof Env>): StripeConfig | undefined {
  const missing = STRIPE_VARS.filter((name) => e[name] === undefined);
  if (missing.length === STRIPE_VARS.length) return undefined;
  if (missing.length > 0) {
    throw new Error(`invalid configuration:\n  billing with Stripe also needs ${missing.join(', ')}`);
  }
  return {
    secretKey: e.STRIPE_SECRET_KEY as string,
    webhookSecret: e.STRIPE_WEBHOOK_SECRET as string,
    publishableKey: e.STRIPE_PUBLISHABLE_KEY as string,
    prices: { pro: e.STRIPE_PRICE_PRO as string, team: e.STRIPE_PRICE_TEAM as string },
    apiUrl: e.BMMS_STRIPE_API_URL,
  };
}

/** Reads the platform's configuration from the environment; throws with every bad variable named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const oidcVars = [e.BMMS_OIDC_ISSUER, e.BMMS_OIDC_CLIENT_ID, e.BMMS_OIDC_CLIENT_SECRET];
  if (oidcVars.some((v) => v !== undefined) && !oidcVars.every((v) => v !== undefined)) {
    throw new Error(
      'invalid configuration:\n  BMMS_OIDC_ISSUER, BMMS_OIDC_CLIENT_ID and BMMS_OIDC_CLIENT_SECRET go together',
    );
  }
  const stripe = stripeConfig(e);
  const proxies = parseTrustedProxies(e.BMMS_TRUSTED_PROXIES);
  if ('problem' in proxies) throw new Error(`invalid configuration:\n  BMMS_TRUSTED_PROXIES: ${proxies.problem}`);
  const hosts = parseAllowedHosts(e.BMMS_ALLOWED_HOSTS);
  if ('problem' in hosts) throw new Error(`invalid configuration:\n  BMMS_ALLOWED_HOSTS: ${hosts.problem}`);
  const dns = parseDnsServers(e.BMMS_DNS_SERVERS);
  if ('problem' in dns) throw new Error(`invalid configuration:\n  BMMS_DNS_SERVERS: ${dns.problem}`);
  const testDomainSuffixes = (e.BMMS_TEST_DOMAIN_SUFFIXES ?? '')
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
  if (testDomainSuffixes.some((x) => !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(x))) {
    throw new Error('invalid configuration:\n  BMMS_TEST_DOMAIN_SUFFIXES: give domain suffixes such as "test"');
  }
  let testPublicRanges: string[];
  try {
    testPublicRanges = parseTestPublicRanges(e.BMMS_TEST_PUBLIC_RANGES);
  } catch (err) {
    throw new Error(`invalid configuration:\n  BMMS_TEST_PUBLIC_RANGES: ${(err as Error).message}`);
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.BMMS_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    publicUrl: e.BMMS_PUBLIC_URL?.replace(/\/+$/, ''),
    trustedProxies: proxies.entries,
    allowedHosts: hosts.entries,
    dnsServers: dns.entries,
    testDomainSuffixes,
    runtime: e.BMMS_RUNTIME,
    dockerImage: e.BMMS_DOCKER_IMAGE,
    swarmConstraints: (e.BMMS_SWARM_CONSTRAINTS ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    ...(e.BMMS_SWARM_NETWORK ? { swarmNetwork: e.BMMS_SWARM_NETWORK } : {}),
    insecureNoSandbox: e.BMMS_INSECURE_NO_SANDBOX === '1' || e.BMMS_INSECURE_NO_SANDBOX === 'true',
    ...(e.BMMS_INSTANCE_UID_RANGE ? { instanceUids: e.BMMS_INSTANCE_UID_RANGE } : {}),
    ...(e.BMMS_INSTANCE_DISK_MB ? { instanceDiskMb: e.BMMS_INSTANCE_DISK_MB } : {}),
    instanceLogs: Object.fromEntries(
      Object.entries({
        linesPerSecond: e.BMMS_INSTANCE_LOG_LINES_PER_SECOND,
        bytesPerSecond: e.BMMS_INSTANCE_LOG_BYTES_PER_SECOND,
        lineBytes: e.BMMS_INSTANCE_LOG_LINE_BYTES,
        fileBytes: e.BMMS_INSTANCE_LOG_FILE_BYTES,
        rotatedFiles: e.BMMS_INSTANCE_LOG_FILES,
        totalMemoryBytes: e.BMMS_INSTANCE_LOG_MEMORY_BYTES,
      }).filter(([, v]) => v !== undefined),
    ),
    resyncMs: e.BMMS_RESYNC_SECONDS * 1000,
    rollbackWindowMs: e.BMMS_ROLLBACK_WINDOW_SECONDS * 1000,
    idleMs: e.BMMS_IDLE_MINUTES * 60_000,
    logRetentionMs: e.BMMS_LOG_RETENTION_DAYS * 86_400_000,
    shutdownGraceMs: e.BMMS_SHUTDOWN_GRACE_SECONDS * 1000,
    ...(e.BMMS_BACKUP_DIR
      ? {
          backups: {
            dir: path.resolve(e.BMMS_BACKUP_DIR),
            keep: e.BMMS_BACKUP_KEEP,
            intervalMs: e.BMMS_BACKUP_INTERVAL_HOURS * 3_600_000,
          },
        }
      : {}),
    ...(e.BMMS_TEST_KILL_AT
      ? {
          testKillAt: {
            step: e.BMMS_TEST_KILL_AT.replace(/^preview:/, '') as DeployStep,
            preview: e.BMMS_TEST_KILL_AT.startsWith('preview:'),
          },
        }
      : {}),
    ...(testPublicRanges.length > 0 ? { testPublicRanges } : {}),
    generation: generationConfigFromEnv(env),
    signup: e.BMMS_SIGNUP,
    prometheus: prometheusConfig(e),
    callObservers: e.BMMS_CALL_OBSERVERS === 'on',
    metering: e.BMMS_METERING === 'on',
    // With billing, an org that pays for nothing is on Hobby unless the operator said otherwise.
    defaultPlan: stripe && !env.BMMS_DEFAULT_PLAN ? 'hobby' : e.BMMS_DEFAULT_PLAN,
    stripe,
    usageFlushMs: e.BMMS_USAGE_FLUSH_SECONDS * 1000,
    rateLimits: { address: e.BMMS_RATE_LIMIT_ADDRESS, token: e.BMMS_RATE_LIMIT_TOKEN },
    redisUrl: e.REDIS_URL,
    fairShareUtilization: e.BMMS_FAIR_SHARE_UTILIZATION,
    oidc:
      e.BMMS_OIDC_ISSUER && e.BMMS_OIDC_CLIENT_ID && e.BMMS_OIDC_CLIENT_SECRET
        ? {
            issuer: e.BMMS_OIDC_ISSUER,
            clientId: e.BMMS_OIDC_CLIENT_ID,
            clientSecret: e.BMMS_OIDC_CLIENT_SECRET,
            name: e.BMMS_OIDC_NAME,
          }
        : undefined,
    githubApiUrl: e.GITHUB_API_URL?.replace(/\/+$/, ''),
    githubPollMs: e.BMMS_GITHUB_POLL_SECONDS * 1000,
    tracing: tracedFromEnv(env, e.BMMS_TRACE_CALLS_PER_SECOND),
    sentryDsn: env.SENTRY_DSN || undefined,
  };
}

/** Tracing as the OTEL_* variables configure it, with the gateway's calls traced per second. */
function tracedFromEnv(env: NodeJS.ProcessEnv, callsPerSecond: number): TracingConfig | undefined {
  const tracing = tracingFromEnv(env);
  return tracing && { ...tracing, callsPerSecond };
}
