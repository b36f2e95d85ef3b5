/**
 * Benchmark: the call path. `tools/call add` on the echo template through the gateway (with an API key and with an
 * OAuth access token) against a bare MCP SDK server built from the same tools (bench/bare-server.ts), in one run, at
 * 1 and 16 connections, on the embedded database (PGlite) and on Postgres. Load comes from a separate process
 * (bench/load.ts) over keep-alive connections. Targets: at 1 connection the gateway's p50 ≤ 1.15 × the bare p50
 * + 1 ms; at 16 connections ≥ 85 % of the bare throughput.
 *
 * With BENCH_FLOOD_SECONDS=60 it also floods one server (16 connections) and measures another one's p95 at one
 * connection with and without the flood (target: within 2×), twice: the flood's generator sharing the cores, and at
 * nice 19 (it gets only the CPU nothing else wants, as a flood from other machines takes none of the platform's).
 *
 * First, unless BENCH_METERING=0: the gateway metering calls and enforcing limits (usage counted, a Pro plan's quota
 * checked, rate limits per address and per token taken) next to BMMS_METERING=off, two platforms measured alternately
 * (observers off on both). Target: ≥ 95 % of the throughput at 16 connections.
 *
 * Then, unless BENCH_OBSERVABILITY=0: the gateway with everything that observes calls (call metrics, logs, traces
 * exported to a local OTLP receiver; the Prometheus endpoint on) next to all of it off (BMMS_CALL_OBSERVERS=off,
 * BMMS_METRICS=off), two platforms measured alternately. Targets: ≥ 90 % of the throughput at 16 connections, p50 ≤
 * 1.1× at 1 connection. Both comparisons run on each database of BENCH_DATABASES (on Postgres each platform has a
 * database of its own, and what the database does runs in its own processes instead of the platform's thread).
 *
 * Last, unless BENCH_FLOOR=0, the gateway against the bare server.
 *
 *   node bench/gateway.ts   (BENCH_SECONDS=10 per measurement, BENCH_COMPARISON_ROUNDS=3, BENCH_DATABASES=pglite,postgres,
 *                            BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres to create a database on)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import pg from 'pg';
import { startPlatform } from '../platform/src/boot.ts';
import type { Config } from '../platform/src/config.ts';
import { batchedSink, createLogger } from '../platform/src/logger.ts';
import { connectWithOpenidClient } from '../platform/test/oauth-helpers.ts';
import { benchConfig, HAS_BWRAP, until } from './common.ts';
import { cpuSpent, sampleCpu, throttling } from './cpu.ts';

const SECONDS = Math.max(2, Number(process.env.BENCH_SECONDS ?? 10));
const DATABASES = (process.env.BENCH_DATABASES ?? 'pglite,postgres').split(',');
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,16').split(',').map(Number);
const PROFILE_DIR = process.env.BENCH_PROFILE;
const FLOOD_SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 0);
/** The other server's client during a flood: connections, each calling one call at a time (default 1). */
const FLOOD_VICTIM_CONNECTIONS = Math.max(1, Number(process.env.BENCH_FLOOD_VICTIM_CONNECTIONS ?? 1));
const COMPARISON_ROUNDS = Math.max(
  1,
  Number(process.env.BENCH_COMPARISON_ROUNDS ?? process.env.BENCH_OBSERVABILITY_ROUNDS ?? 3),
);
const PG_SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = 'bench password, not a secret';
const CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'add', arguments: { a: 2, b: 3 } },
});
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
};
const run = promisify(execFile);
const here = import.meta.dirname;

interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  rps: number;
  /** CPU ms per answered call: this process (the platform), the instance (every other child) and the bare server. */
  cpu: { platform: number; instance: number; bare: number };
  /** Share of the instance's CPU quota periods in which it was throttled (cgroup cpu.stat). */
  throttled: number;
  /** Bytes this process (the platform) allocated on its V8 heap per answered call. */
  allocated: number;
}

/** Bytes allocated on this process's V8 heap since it started (Node 26: `total_allocated_bytes`). */
function allocatedBytes(): number {
  return (v8.getHeapStatistics() as { total_allocated_bytes?: number }).total_allocated_bytes ?? 0;
}

/** Runs bench/load.ts against `url` and returns what it measured. */
async function load(
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds = SECONDS,
  options: { nice?: number } = {},
): Promise<LoadResult> {
  const spec = JSON.stringify({ url, headers: { ...MCP_HEADERS, ...headers }, body: CALL, connections, seconds });
  const separate = bare.child.pid === undefined ? [] : [bare.child.pid];
  const before = sampleCpu(separate);
  const allocatedBefore = allocatedBytes();
  const quota = throttling(separate);
  // `nice`: the generator gets only the CPU nothing else here wants, as a client on other machines takes none of ours.
  const command: [string, string[]] =
    options.nice === undefined
      ? [process.execPath, [path.join(here, 'load.ts'), spec]]
      : ['nice', ['-n', String(options.nice), process.execPath, path.join(here, 'load.ts'), spec]];
  const { stdout } = await run(command[0], command[1], { maxBuffer: 1 << 20 });
  // The load generator has exited (its CPU is not counted); the bare server's tree is counted on its own.
  const spent = cpuSpent(before, sampleCpu(separate));
  const quotaAfter = throttling(separate);
  const periods = quotaAfter.periods - quota.periods;
  const throttled = periods > 0 ? (quotaAfter.throttled - quota.throttled) / periods : 0;
  const allocated = allocatedBytes() - allocatedBefore;
  const result = JSON.parse(stdout) as Omit<LoadResult, 'cpu' | 'allocated'>;
  const calls = Math.max(1, result.requests);
  const cpu = { platform: spent.self / calls, instance: spent.others / calls, bare: (spent.separate[0] ?? 0) / calls };
  return { ...result, cpu, throttled, allocated: allocated / calls };
}

/** With BENCH_PROFILE=<dir>: a CPU profile of this process (the platform) until the returned function is called. */
async function profiled(name: string): Promise<() => Promise<void>> {
  if (!PROFILE_DIR) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(path.join(PROFILE_DIR, `platform-${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** The bare SDK server in its own process; resolves with its URL. */
async function startBare(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [path.join(here, 'bare-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}/mcp`, child };
}

/** A fresh Postgres database for one run, or undefined when the server does not answer. */
async function postgresDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const name = `bmms_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_SERVER });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
  } catch {
    return undefined;
  } finally {
    await admin.end().catch(() => {});
  }
  const url = new URL(PG_SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_SERVER });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Another server's p95 at one connection, alone and while `bench` is flooded. */
interface Flood {
  database: string;
  /** Where the flood comes from: a generator sharing the cores, or one at nice 19 (as if from other machines). */
  from: 'this machine' | 'elsewhere (nice 19)';
  alone: LoadResult;
  flooded: LoadResult;
  flood: LoadResult;
}
const floods: Flood[] = [];

interface Row {
  database: string;
  auth: string;
  connections: number;
  gateway: LoadResult;
  bare: LoadResult;
}

/** A platform on its own data dir with helpers to call its API and deploy the echo template. */
async function benchPlatform(overrides: Partial<Config>) {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-gw-'));
  // Logs are written as in production (one access line per call, batched per turn of the event loop), to /dev/null.
  const devnull = createWriteStream('/dev/null');
  const platform = await startPlatform(
    benchConfig(path.join(scratch, 'data'), overrides),
    createLogger(
      { svc: 'platform' },
      batchedSink((chunk) => devnull.write(chunk)),
    ),
  );
  const key = (await readFile(path.join(scratch, 'data', 'owner-api-key'), 'utf8')).trim();
  const api = async <T>(method: string, p: string, body?: unknown) => {
    const res = await fetch(`${platform.url}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };
  const deploy = async (name: string) => {
    const created = await api('POST', '/servers', { name, template: 'echo' });
    if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.body)}`);
    await until('checks', async () => {
      const c = await api<{ checkSuite?: { conclusion: string | null } }>('GET', `/servers/${name}/changes/1`);
      return c.body.checkSuite?.conclusion ? true : undefined;
    });
    await api('POST', `/servers/${name}/changes/1/merge`);
    await until('serving', async () => {
      const s = await api<{ conditions: { type: string; status: string }[] }>('GET', `/servers/${name}`);
      return s.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });
  };
  const close = async () => {
    await platform.close();
    devnull.end();
    await rm(scratch, { recursive: true, force: true });
  };
  return { platform, key, api, deploy, close };
}

/** One platform on `databaseUrl` (undefined: PGlite): deploys the echo template and measures every case. */
async function measure(database: string, databaseUrl: string | undefined, bareUrl: string): Promise<Row[]> {
  const { platform, key, api, deploy, close } = await benchPlatform({ databaseUrl });
  const rows: Row[] = [];
  try {
    await api('PUT', '/me/password', { password: PASSWORD });
    await deploy('bench');
    const mcpUrl = `${platform.url}/s/bench/mcp`;
    const { accessToken } = await connectWithOpenidClient(platform.url, mcpUrl, {
      email: 'owner@localhost',
      password: PASSWORD,
    });
    const auths = [
      { auth: 'api key', headers: { authorization: `Bearer ${key}` } },
      { auth: 'oauth token', headers: { authorization: `Bearer ${accessToken}` } },
    ];
    // Warm up both paths (JIT, caches, pooled connections).
    await load(bareUrl, {}, 4, 2);
    for (const a of auths) await load(mcpUrl, a.headers, 4, 2);
    for (const connections of CONNECTIONS) {
      const bare = await load(bareUrl, {}, connections);
      for (const a of auths) {
        const profile = await profiled(`${database}-${a.auth.replace(' ', '-')}-${connections}`);
        const gateway = await load(mcpUrl, a.headers, connections);
        await profile();
        rows.push({ database, auth: a.auth, connections, gateway, bare });
      }
    }
    if (FLOOD_SECONDS > 0) {
      await deploy('other');
      const otherUrl = `${platform.url}/s/other/mcp`;
      const auth = { authorization: `Bearer ${key}` };
      await load(otherUrl, auth, 1, 2);
      const alone = await load(otherUrl, auth, FLOOD_VICTIM_CONNECTIONS, Math.min(FLOOD_SECONDS, 20));
      for (const from of ['this machine', 'elsewhere (nice 19)'] as const) {
        const flooding = load(mcpUrl, auth, 16, FLOOD_SECONDS, from === 'this machine' ? {} : { nice: 19 });
        await new Promise((r) => setTimeout(r, 2000));
        const flooded = await load(otherUrl, auth, FLOOD_VICTIM_CONNECTIONS, Math.min(FLOOD_SECONDS - 4, 20));
        floods.push({ database, from, alone, flooded, flood: await flooding });
      }
    }
  } finally {
    await close();
  }
  return rows;
}

/** The gateway with something on, next to it off (same run, alternate rounds). */
interface Comparison {
  what: 'observability' | 'metering';
  database: 'pglite' | 'postgres';
  connections: number;
  on: LoadResult;
  off: LoadResult;
  /** The median of each round's on/off throughput ratio (the two sides of a round measured back to back). */
  pairedShare: number;
  /** Each round's on/off throughput ratio. */
  shares: number[];
}

/** A local OTLP/HTTP traces receiver that takes every export (the spans' cost is the platform's, not a backend's). */
async function otlpCollector(): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The round with the median throughput. */
function medianRound(rounds: LoadResult[]): LoadResult {
  const sorted = [...rounds].sort((x, y) => x.rps - y.rps);
  return sorted[Math.floor(sorted.length / 2)] as LoadResult;
}

/** The median of `xs` (the mean of the middle two for an even count). */
function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Two platforms side by side on `database` (each its own: a PGlite data dir, or a fresh Postgres database), one
 * configured with `on`, one with `off`, measured alternately at each of `connections` in several rounds. Each round
 * measures both back to back, in the order off-on, then on-off, and so on (ABBA: what drifts during a run, such as
 * a database growing or a neighbour's load, weighs on both sides alike), and gives one on/off ratio; the target is
 * judged on the median of those ratios. Undefined when Postgres does not answer.
 */
async function compare(
  what: Comparison['what'],
  database: Comparison['database'],
  onConfig: Partial<Config>,
  offConfig: Partial<Config>,
  connections: number[],
): Promise<Comparison[] | undefined> {
  const databases = database === 'postgres' ? [await postgresDatabase(), await postgresDatabase()] : [];
  if (databases.some((d) => d === undefined)) {
    for (const d of databases) await d?.drop().catch(() => {});
    return undefined;
  }
  const urlOf = (i: number) => (databases[i] ? { databaseUrl: databases[i].url } : {});
  const on = await benchPlatform({ ...onConfig, ...urlOf(0) });
  const off = await benchPlatform({ ...offConfig, ...urlOf(1) });
  const results: Comparison[] = [];
  try {
    await on.deploy('bench');
    await off.deploy('bench');
    const target = (p: typeof on) => ({
      url: `${p.platform.url}/s/bench/mcp`,
      auth: { authorization: `Bearer ${p.key}` },
    });
    const [a, b] = [target(on), target(off)];
    await load(a.url, a.auth, 4, 2);
    await load(b.url, b.auth, 4, 2);
    for (const n of connections) {
      const offRounds: LoadResult[] = [];
      const onRounds: LoadResult[] = [];
      const shares: number[] = [];
      for (let round = 0; round < COMPARISON_ROUNDS; round++) {
        const measure = async (side: 'on' | 'off') => {
          const profile = await profiled(`${what}-${side}-${n}-${round}`);
          const result = side === 'on' ? await load(a.url, a.auth, n) : await load(b.url, b.auth, n);
          await profile();
          (side === 'on' ? onRounds : offRounds).push(result);
          return result;
        };
        const [first, second] = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
        const x = await measure(first);
        const y = await measure(second);
        const [on, off] = first === 'on' ? [x, y] : [y, x];
        shares.push(on.rps / off.rps);
      }
      results.push({
        what,
        database,
        connections: n,
        on: medianRound(onRounds),
        off: medianRound(offRounds),
        pairedShare: median(shares),
        shares,
      });
    }
  } finally {
    await Promise.all([on.close(), off.close()]);
    for (const d of databases) await d?.drop().catch(() => {});
  }
  return results;
}

/**
 * Observability: call observers (metrics, logs, traces exported to a local OTLP receiver) and the Prometheus
 * endpoint on, next to BMMS_CALL_OBSERVERS=off and BMMS_METRICS=off; at 1 and 16 connections.
 */
async function measureObservability(database: Comparison['database']): Promise<Comparison[] | undefined> {
  const collector = await otlpCollector();
  try {
    const results = await compare(
      'observability',
      database,
      {
        prometheus: { mode: 'token', token: randomBytes(24).toString('hex') },
        tracing: { url: `${collector.url}/v1/traces` },
      },
      { callObservers: false, prometheus: { mode: 'off' } },
      [1, 16],
    );
    if (results && collector.requests() === 0) throw new Error('tracing was on but no span reached the OTLP collector');
    return results;
  } finally {
    await collector.close();
  }
}

/**
 * Metering and limits: usage counted, the quota of a plan with a limit (Pro) checked and both rate limits (per
 * address and per token, too high to refuse) taken on every call, next to BMMS_METERING=off; observers off on both.
 */
async function measureMetering(database: Comparison['database']): Promise<Comparison[] | undefined> {
  const never = { limit: 1_000_000_000, windowMs: 60_000 };
  return compare(
    'metering',
    database,
    {
      callObservers: false,
      prometheus: { mode: 'off' },
      defaultPlan: 'pro',
      rateLimits: { address: never, token: never },
    },
    { callObservers: false, prometheus: { mode: 'off' }, metering: false },
    [16],
  );
}

const bare = await startBare();
const rows: Row[] = [];
const comparisons: Comparison[] = [];
try {
  for (const database of DATABASES) {
    if (database !== 'pglite' && database !== 'postgres') continue;
    // Metering and observability on and off, on this database (Postgres: each platform its own database).
    if (process.env.BENCH_METERING !== '0') comparisons.push(...((await measureMetering(database)) ?? []));
    if (process.env.BENCH_OBSERVABILITY !== '0') comparisons.push(...((await measureObservability(database)) ?? []));
  }
  for (const database of process.env.BENCH_FLOOR === '0' ? [] : DATABASES) {
    if (database === 'pglite') rows.push(...(await measure('pglite', undefined, bare.url)));
    if (database === 'postgres') {
      const db = await postgresDatabase();
      if (!db) {
        console.log(`postgres: skipped (${PG_SERVER} does not answer)`);
        continue;
      }
      try {
        rows.push(...(await measure('postgres', db.url, bare.url)));
      } finally {
        await db.drop().catch(() => {});
      }
    }
  }
} finally {
  bare.child.kill();
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const kb = (x: number) => `${(x / 1024).toFixed(1)} KiB`;
const us = (x: number) => `${(x * 1000).toFixed(0)} µs`;
console.log(
  `tools/call add (echo template), ${SECONDS} s per measurement, load from a separate process (sandbox: ${HAS_BWRAP ? 'bubblewrap' : 'none'}, ${os.cpus().length} CPUs)`,
);
for (const r of rows) {
  const g = r.gateway;
  const b = r.bare;
  const base = `${r.database.padEnd(8)} ${r.auth.padEnd(11)} ${String(r.connections).padStart(2)} conn: gateway p50 ${ms(g.p50Ms)} p99 ${ms(g.p99Ms)} ${g.rps.toFixed(0)} req/s | bare p50 ${ms(b.p50Ms)} p99 ${ms(b.p99Ms)} ${b.rps.toFixed(0)} req/s | CPU per call: platform ${ms(g.cpu.platform)} + instance ${ms(g.cpu.instance)} vs bare ${ms(b.cpu.bare)}, instance throttled in ${(g.throttled * 100).toFixed(0)}% of its CPU quota periods`;
  const errors = g.errors > 0 ? `  (${g.errors} non-200: ${JSON.stringify(g.statuses)})` : '';
  if (r.connections === 1) {
    const limit = 1.15 * b.p50Ms + 1;
    console.log(
      `${base} | p50 ${(g.p50Ms / b.p50Ms).toFixed(2)}× (target ≤ ${ms(limit)}: ${g.p50Ms <= limit ? 'met' : 'MISSED'})${errors}`,
    );
  } else {
    const share = g.rps / b.rps;
    console.log(
      `${base} | throughput ${(share * 100).toFixed(0)}% of bare (target ≥ 85%: ${share >= 0.85 ? 'met' : 'MISSED'})${errors}`,
    );
  }
}
for (const o of comparisons) {
  const share = o.pairedShare;
  const ratio = o.on.p50Ms / o.off.p50Ms;
  const floor = o.what === 'metering' ? 0.95 : 0.9;
  const target =
    o.connections === 1
      ? `p50 ${ratio.toFixed(2)}× (target ≤ 1.1×: ${ratio <= 1.1 ? 'met' : 'MISSED'})`
      : `throughput ${(share * 100).toFixed(0)}%, median of the rounds' ratios ${o.shares.map((x) => `${(x * 100).toFixed(0)}`).join('/')} (target ≥ ${floor * 100}%: ${share >= floor ? 'met' : 'MISSED'})`;
  console.log(
    `${o.database.padEnd(8)} ${o.what.padEnd(13)} ${String(o.connections).padStart(2)} conn (${COMPARISON_ROUNDS} rounds, ABBA): on p50 ${ms(o.on.p50Ms)} ${o.on.rps.toFixed(0)} req/s | off p50 ${ms(o.off.p50Ms)} ${o.off.rps.toFixed(0)} req/s | ${target} | platform CPU per call on ${us(o.on.cpu.platform)} vs off ${us(o.off.cpu.platform)}, allocated ${kb(o.on.allocated)} vs ${kb(o.off.allocated)}`,
  );
}
for (const f of floods) {
  const ratio = f.flooded.p95Ms / f.alone.p95Ms;
  console.log(
    `${f.database.padEnd(8)} flood of another server from ${f.from} (16 conn, ${f.flood.rps.toFixed(0)} req/s; the other at ${FLOOD_VICTIM_CONNECTIONS} conn, ${f.flooded.rps.toFixed(0)} req/s): p95 ${ms(f.flooded.p95Ms)} vs ${ms(f.alone.p95Ms)} alone = ${ratio.toFixed(2)}× (target ≤ 2×: ${ratio <= 2 ? 'met' : 'MISSED'})`,
  );
}
process.exit(0);
