/**
 * Benchmark per runtime (process, confined — the process runtime's layer without bubblewrap — and docker and swarm
 * when DOCKER_HOST answers):
 * - cold start after scale-to-zero: an MCP `initialize` through the gateway to a sleeping server (p50, p95),
 *   against a bare `node` start of the same bundle answering `initialize`, measured in the same run;
 *   target p95 ≤ 2× the bare start;
 * - memory per idle instance (PSS of every process the instance costs the host, the sandbox or container shim
 *   included) and how many idle instances fit in 24 GiB; target ≥ 1,000 on `process`, ≥ 2,000 on `confined`.
 *
 *   node bench/runtimes.ts      (BENCH_RUNS=10 cold starts, BENCH_IDLE=20 idle instances,
 *                                BENCH_RUNTIMES=process,confined,docker,swarm)
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BundleCache,
  DockerRuntime,
  type Instance,
  ProcessRuntime,
  type Runtime,
  SwarmRuntime,
  unixRequest,
} from '@bmms/reconciler';
import { renderTemplate } from '@bmms/runner-template';
import { startPlatform } from '../platform/src/boot.ts';
import { silentLogger } from '../platform/src/logger.ts';
import {
  availableRuntimes,
  bareStart,
  benchConfig,
  HAS_BWRAP,
  INITIALIZE,
  type RuntimeName,
  sleep,
  until,
} from './common.ts';

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 10));
const IDLE = Math.max(5, Number(process.env.BENCH_IDLE ?? 20));
const GIB24 = 24 * 1024 * 1024 * 1024;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
};

const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-rt-'));

/** Cold starts through the gateway: the server is scaled to zero before every call. */
async function coldStarts(runtime: RuntimeName): Promise<{ samples: number[]; bundle: string }> {
  const dataDir = await mkdtemp(path.join(scratch, `data-${runtime}-`));
  const platform = await startPlatform(benchConfig(dataDir, { runtime, idleMs: 400 }), silentLogger);
  const key = (await readFile(path.join(dataDir, 'owner-api-key'), 'utf8')).trim();
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const api = async <T>(method: string, p: string) =>
    (await (await fetch(`${platform.url}/api/v1${p}`, { method, headers })).json()) as T;
  try {
    await fetch(`${platform.url}/api/v1/servers`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'bench', template: 'echo' }),
    });
    await until('checks', async () => {
      const c = await api<{ checks: { status: string }[] }>('GET', '/servers/bench/changes/1');
      return c.checks.every((k) => k.status === 'completed') ? true : undefined;
    });
    await api('POST', '/servers/bench/changes/1/merge');
    const reconciler = platform.ctx.reconciler;
    const samples: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      await until('scaled to zero', () => (reconciler.isSleeping('bench') ? true : undefined), 180_000);
      const t0 = performance.now();
      const res = await fetch(`${platform.url}/s/bench/mcp`, {
        method: 'POST',
        headers: { ...headers, accept: 'application/json, text/event-stream' },
        body: INITIALIZE,
      });
      await res.text();
      if (res.status !== 200) throw new Error(`initialize answered ${res.status}`);
      if (i > 0) samples.push(performance.now() - t0); // the first also builds the image/caches: not a steady state
    }
    const bundleDir = (await readdir(path.join(dataDir, 'bundles'))).find((d) => /^[0-9a-f]{40}$/.test(d)) as string;
    return { samples, bundle: path.join(dataDir, 'bundles', bundleDir, 'server.mjs') };
  } finally {
    await platform.close();
  }
}

function pss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
const ppid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
const children = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const tree = (pid: number): number[] => [pid, ...children(pid).flatMap(tree)];

/** What one idle instance costs the host: its processes plus the sandbox (bwrap) or the container shim. */
function instanceCost(runtime: string, instance: Instance): number {
  if (instance.pid <= 0) return Number.NaN;
  if (runtime === 'confined') {
    // One process: prlimit and setpriv exec node; the platform's end of its socket pairs is a few kernel buffers.
    return pss(instance.pid);
  }
  if (runtime === 'process') {
    // node ← bwrap (init in the pid namespace) ← bwrap
    const init = ppid(instance.pid);
    const outer = ppid(init);
    return pss(instance.pid) + pss(init) + pss(outer);
  }
  // docker-init (the container's pid) and node, plus its containerd-shim.
  return tree(instance.pid).reduce((a, p) => a + pss(p), 0) + pss(ppid(instance.pid));
}

async function idleMemory(runtime: string): Promise<number> {
  const dataDir = await mkdtemp(path.join(scratch, `idle-${runtime}-`));
  const rt: Runtime =
    runtime === 'process'
      ? new ProcessRuntime({ dataDir, insecure: !HAS_BWRAP, log: () => {} })
      : runtime === 'confined'
        ? new ProcessRuntime({ dataDir, confined: 'always', log: () => {} })
        : runtime === 'docker'
          ? new DockerRuntime({ dataDir, log: () => {} })
          : new SwarmRuntime({ dataDir, log: () => {} });
  const treeSha = 'b'.repeat(40);
  const bundle = await new BundleCache({ dir: path.join(dataDir, 'bundles') }).ensure(treeSha, async (dir) => {
    for (const [file, text] of Object.entries(renderTemplate('echo', 'idle'))) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
  });
  const instances: Instance[] = [];
  try {
    for (let i = 0; i < IDLE; i++) {
      instances.push(
        await rt.start({
          serverName: `idle-${i}`,
          revision: 'a'.repeat(40),
          treeSha,
          bundlePath: bundle.path,
          env: {},
          limits: { memoryMb: 512, cpu: 0.5, timeoutMs: 30_000 },
        }),
      );
    }
    // Serve one call each, then let them settle as an idle server would.
    for (const inst of instances) {
      await unixRequest(inst.socketPath, {
        method: 'POST',
        path: '/mcp',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: INITIALIZE,
      });
    }
    await sleep(3000);
    if (runtime === 'swarm') await until('pids', () => (rt.list().every((i) => i.pid > 0) ? true : undefined), 30_000);
    const live = rt.list();
    const costs = live.map((i) => instanceCost(runtime, i)).filter((x) => Number.isFinite(x));
    return costs.reduce((a, b) => a + b, 0) / costs.length;
  } finally {
    await Promise.all(rt.list().map((i) => rt.stop(i.id, { graceMs: 1000 })));
  }
}

const runtimes = await availableRuntimes();
const results: string[] = [];
let bundle = '';
const cold = new Map<string, number[]>();
for (const r of runtimes) {
  const { samples, bundle: b } = await coldStarts(r);
  cold.set(r, samples);
  bundle ||= b;
}
const baseline: number[] = [];
for (let i = 0; i < RUNS; i++) baseline.push(await bareStart(bundle, scratch));
const base = quantile(baseline, 0.5);
results.push(
  `baseline  bare node start → initialize: p50 ${base.toFixed(0)} ms  p95 ${quantile(baseline, 0.95).toFixed(0)} ms  (runs ${RUNS}; sandbox ${HAS_BWRAP ? 'bubblewrap' : 'none'})`,
);
for (const r of runtimes) {
  const xs = cold.get(r) ?? [];
  const p50 = quantile(xs, 0.5);
  const p95 = quantile(xs, 0.95);
  results.push(
    `${r.padEnd(7)} cold start after scale-to-zero (gateway initialize): p50 ${p50.toFixed(0)} ms (${(p50 / base).toFixed(2)}×)  p95 ${p95.toFixed(0)} ms (${(p95 / base).toFixed(2)}×, target ≤ 2×)`,
  );
}
for (const r of runtimes) {
  const bytes = await idleMemory(r);
  const fit = Math.floor(GIB24 / bytes);
  results.push(
    `${r.padEnd(7)} idle instance: ${(bytes / 1024 / 1024).toFixed(1)} MiB PSS (${IDLE} running) → ${fit} idle instances per 24 GiB${r === 'process' ? ' (target ≥ 1000)' : r === 'confined' ? ' (target ≥ 2000)' : ''}`,
  );
}
await rm(scratch, { recursive: true, force: true });
console.log(results.join('\n'));
process.exit(0);
