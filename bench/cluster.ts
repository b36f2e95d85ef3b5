/**
 * Benchmark: a call through a platform replica on another swarm node than the instance, against the same call
 * through a replica on the instance's own node, in one run. A three-node swarm on this machine
 * (reconciler/docker/cluster.sh), instances on an overlay network (BMMS_SWARM_NETWORK), two replicas on one Postgres,
 * each in the network namespace of a container on that network (node 1 and node 2); one echo server placed on
 * node 1. Load comes from bench/load.ts started in each replica's own namespace (as a load balancer on that node
 * would send it), one connection, alternating rounds. Target: p50 through the other node ≤ 1.5× the same-node p50.
 * Needs root, dockerd and Postgres; says why and exits 0 without them.
 *
 *   node bench/cluster.ts   (BENCH_SECONDS=10 per round, BENCH_ROUNDS=3, BENCH_CONNECTIONS=1,
 *                            BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres to create a database on)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_BIN } from '@bmms/reconciler/testing';
import pg from 'pg';
import { HAS_BWRAP } from '../platform/test/harness.ts';
import { PlatformProcess, removeScratch, startForwarder } from '../platform/test/platform-process.ts';
import { clusterUnavailable, SwarmCluster } from '../platform/test/swarm-cluster.ts';

const SECONDS = Math.max(2, Number(process.env.BENCH_SECONDS ?? 10));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const CONNECTIONS = Math.max(1, Number(process.env.BENCH_CONNECTIONS ?? 1));
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LOAD = fileURLToPath(new URL('./load.ts', import.meta.url));
const NETWORK = 'bmms-bench-instances';

type Load = { requests: number; errors: number; p50Ms: number; p95Ms: number; rps: number };

const unavailable = clusterUnavailable();
if (unavailable) {
  console.log(`cluster bench skipped: ${unavailable}`);
  process.exit(0);
}
const admin = new pg.Client({ connectionString: ADMIN_URL });
try {
  await admin.connect();
} catch (err) {
  console.log(`cluster bench skipped: no Postgres at ${ADMIN_URL} (${(err as Error).message})`);
  process.exit(0);
}

const dbName = `bmms_bench_cluster_${randomBytes(4).toString('hex')}`;
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = new URL(ADMIN_URL);
dbUrl.pathname = `/${dbName}`;
const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-cluster-'));
const cluster = await SwarmCluster.up(NETWORK);
await cluster.close();
const replicas: PlatformProcess[] = [];
const forwarders: { kill: (s: NodeJS.Signals) => void }[] = [];

/** bench/load.ts in `netns`: `connections` keep-alive connections calling `add` on `server` for SECONDS. */
function load(netns: string, p: PlatformProcess, server: string): Promise<Load> {
  const spec = {
    url: `http://127.0.0.1:${new URL(p.url).port}/s/${server}/mcp`,
    headers: {
      authorization: `Bearer ${p.key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'add', arguments: { a: 1, b: 2 } },
    }),
    connections: CONNECTIONS,
    seconds: SECONDS,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netns}`, NODE_BIN, LOAD, JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Load);
      } catch {
        reject(new Error(`load.ts exited ${code}: ${out}`));
      }
    });
  });
}

try {
  const sock = path.join(scratch, 'sock');
  await mkdir(sock, { mode: 0o700 });
  const dbPort = Number(dbUrl.port || 5432);
  forwarders.push(await startForwarder([{ listen: { path: path.join(sock, 'pg') }, connect: { port: dbPort } }]));
  const forwards = [{ listen: { port: dbPort }, connect: { path: path.join(sock, 'pg') } }];
  const env = {
    DATABASE_URL: dbUrl.toString(),
    BMMS_MASTER_KEY: randomBytes(32).toString('base64'),
    BMMS_CALL_OBSERVERS: 'off',
    BMMS_RUNTIME: 'swarm',
    DOCKER_HOST: cluster.managerHost,
    BMMS_SWARM_NETWORK: NETWORK,
    BMMS_IDLE_MINUTES: '0',
    ...(HAS_BWRAP ? {} : { BMMS_INSECURE_NO_SANDBOX: '1' }),
  };
  const podA = await cluster.pod(1, 'bmms-bench-replica-a');
  const podB = await cluster.pod(2, 'bmms-bench-replica-b');
  const same = new PlatformProcess(path.join(scratch, 'a'), env, { netns: podA.netns, forwards });
  replicas.push(same);
  await same.start();
  const other = new PlatformProcess(path.join(scratch, 'b'), env, { netns: podB.netns, forwards });
  replicas.push(other);
  await mkdir(other.dataDir, { recursive: true, mode: 0o700 });
  await copyFile(path.join(same.dataDir, 'owner-api-key'), path.join(other.dataDir, 'owner-api-key'));
  await other.start();

  await cluster.placeOn(1);
  try {
    const created = await same.api('POST', '/api/v1/servers', { name: 'bench', template: 'echo' });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    await same.checksCompleted('bench', 1, 300_000);
    const merged = await same.api('POST', '/api/v1/servers/bench/changes/1/merge');
    if (merged.status !== 200) throw new Error(`merge: ${merged.status} ${JSON.stringify(merged.body)}`);
    await same.servingHead('bench');
  } finally {
    await cluster.placeOn(undefined);
  }
  const placed = [...(await cluster.placements()).values()];
  if (placed.length !== 1 || placed[0] !== 1) throw new Error(`the instance is not on node 1 alone: ${placed}`);
  // Warm both paths (connections, caches), then alternate.
  await load(podA.netns, same, 'bench');
  await load(podB.netns, other, 'bench');
  const rounds: { same: Load; other: Load }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    rounds.push({ same: await load(podA.netns, same, 'bench'), other: await load(podB.netns, other, 'bench') });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const sameP50 = median(rounds.map((r) => r.same.p50Ms));
  const otherP50 = median(rounds.map((r) => r.other.p50Ms));
  const errors = rounds.reduce((n, r) => n + r.same.errors + r.other.errors, 0);
  for (const [i, r] of rounds.entries()) {
    console.log(
      `round ${i + 1}: same node p50 ${r.same.p50Ms.toFixed(2)} ms p95 ${r.same.p95Ms.toFixed(2)} ms (${Math.round(r.same.rps)}/s) · other node p50 ${r.other.p50Ms.toFixed(2)} ms p95 ${r.other.p95Ms.toFixed(2)} ms (${Math.round(r.other.rps)}/s)`,
    );
  }
  const ratio = otherP50 / sameP50;
  console.log(
    `gateway p50 through a replica on another node: ${otherP50.toFixed(2)} ms against ${sameP50.toFixed(2)} ms on the instance's node = ${ratio.toFixed(2)}× (target ≤ 1.5×) ${ratio <= 1.5 ? 'PASS' : 'MISS'}; ${errors} errors, ${CONNECTIONS} connection(s)`,
  );
} finally {
  for (const p of replicas) await p.stop().catch(() => {});
  for (const f of forwarders) f.kill('SIGTERM');
  await cluster.close({ down: true });
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
  await admin.end();
  await removeScratch(scratch);
}
