/**
 * Benchmark: merge→serving and revert→serving on the embedded stack, on each runtime (process; docker and swarm
 * when DOCKER_HOST answers), against the time a bare
 * `node` takes to start the same bundle and answer MCP `initialize`, measured in the same run.
 * Targets: merge→serving ≤ 2× baseline, revert→serving ≤ 1.3× baseline. Reverts are measured twice:
 * within the rollback window (the superseded instance is still warm) and without it (a cold start
 * from the cached bundle).
 *
 *   npm run bench            (BENCH_RUNS=7 to change the number of runs; at least 5)
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startPlatform } from '../platform/src/boot.ts';
import { createLogger, silentLogger } from '../platform/src/logger.ts';
import { availableRuntimes, bareStart, benchConfig, HAS_BWRAP, type RuntimeName, sleep, until } from './common.ts';

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 7));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-'));

/** Runs the loop RUNS times on a fresh embedded stack; returns the samples and a green bundle. */
async function measure(
  runtime: RuntimeName,
  rollbackWindowMs: number,
): Promise<{ mergeMs: number[]; revertMs: number[]; bundle: string }> {
  const dataDir = await mkdtemp(path.join(scratch, 'data-'));
  const platform = await startPlatform(
    benchConfig(dataDir, { runtime, rollbackWindowMs }),
    process.env.BENCH_LOG ? createLogger({}) : silentLogger,
  );
  const key = (await readFile(path.join(dataDir, 'owner-api-key'), 'utf8')).trim();

  async function api<T>(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${platform.url}/api/v1${pathname}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  type ServerBody = { observedRevision: string | null; conditions: { type: string; status: string }[] };
  const serving = (sha: string) =>
    until(`serving ${sha}`, async () => {
      const r = await api<ServerBody>('GET', '/servers/bench');
      const ready = r.body.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      return r.body.observedRevision === sha && ready ? true : undefined;
    });
  const checksDone = (n: number) =>
    until(`checks of #${n}`, async () => {
      const r = await api<{ checks: { status: string; conclusion: string }[]; checkSuite: { tree: string } }>(
        'GET',
        `/servers/bench/changes/${n}`,
      );
      if (!r.body.checks.every((c) => c.status === 'completed')) return undefined;
      if (!r.body.checks.every((c) => c.conclusion === 'success')) throw new Error(`checks of #${n} failed`);
      return r.body.checkSuite.tree;
    });

  const { ctx } = platform;
  const bundleDir = path.join(dataDir, 'bundles');
  const author = { name: 'bench', email: 'bench@example.com' };
  const mergeMs: number[] = [];
  const revertMs: number[] = [];
  let bundle = '';
  try {
    const created = await api<{ change: { number: number } }>('POST', '/servers', { name: 'bench', template: 'echo' });
    if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.body)}`);
    await checksDone(1);
    const first = await api<{ sha: string }>('POST', '/servers/bench/changes/1/merge');
    await serving(first.body.sha);

    for (let i = 0; i < RUNS; i++) {
      const main = (await ctx.git.resolveRef('bench', 'main')) as string;
      await ctx.git.commitFiles('bench', {
        branch: `bench-${i}`,
        parent: main,
        files: { 'NOTES.md': `run ${i} ${Date.now()}\n` },
        message: `bench run ${i}`,
        author,
      });
      const opened = await api<{ number: number }>('POST', '/servers/bench/changes', {
        branch: `bench-${i}`,
        title: `run ${i}`,
      });
      const tree = await checksDone(opened.body.number);
      // A person reads the checks before merging; by then the green tree's bundle is built.
      await until('prebuilt bundle', async () =>
        existsSync(path.join(bundleDir, tree, 'server.mjs')) ? true : undefined,
      );
      bundle = path.join(bundleDir, tree, 'server.mjs');

      let t0 = performance.now();
      const merged = await api<{ sha: string }>('POST', `/servers/bench/changes/${opened.body.number}/merge`);
      await serving(merged.body.sha);
      mergeMs.push(performance.now() - t0);

      await sleep(200);
      t0 = performance.now();
      const reverted = await api<{ sha: string }>('POST', '/servers/bench/revert', {});
      if (reverted.status !== 201) throw new Error(`revert: ${JSON.stringify(reverted.body)}`);
      await serving(reverted.body.sha);
      revertMs.push(performance.now() - t0);
      await sleep(200);
    }
  } finally {
    await platform.close();
  }
  return { mergeMs, revertMs, bundle };
}

const measured: {
  runtime: string;
  warm: Awaited<ReturnType<typeof measure>>;
  cold: Awaited<ReturnType<typeof measure>>;
}[] = [];
for (const runtime of await availableRuntimes()) {
  measured.push({ runtime, warm: await measure(runtime, 300_000), cold: await measure(runtime, 0) });
}
const warm = measured[0]?.warm as Awaited<ReturnType<typeof measure>>;

const baseline: number[] = [];
for (let i = 0; i < RUNS; i++) baseline.push(await bareStart(warm.bundle, scratch));
await rm(scratch, { recursive: true, force: true });

const b = median(baseline);
const fmt = (x: number) => `${x.toFixed(0)} ms`;
const line = (label: string, xs: number[], target: number) =>
  `${label}: ${fmt(median(xs))}  ratio ${(median(xs) / b).toFixed(2)}× (target ≤ ${target}×)   samples ${xs.map((x) => x.toFixed(0)).join(' ')}`;
console.log(`runs: ${RUNS} (medians; sandbox: ${HAS_BWRAP ? 'bubblewrap' : 'none'})`);
console.log(
  `baseline  bare node start → initialize answered: ${fmt(b)}   samples ${baseline.map((x) => x.toFixed(0)).join(' ')}`,
);
for (const m of measured) {
  console.log(line(`${m.runtime.padEnd(7)} merge  → serving`, m.warm.mergeMs, 2));
  console.log(line(`${m.runtime.padEnd(7)} revert → serving (rollback window: warm instance)`, m.warm.revertMs, 1.3));
  console.log(
    line(
      `${m.runtime.padEnd(7)} revert → serving (no rollback window: cached bundle, cold start)`,
      m.cold.revertMs,
      1.3,
    ),
  );
}
process.exit(0);
