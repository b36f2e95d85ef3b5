/**
 * Benchmark: the full check suite of a change on a 10-tool server, cold (a tree never checked) and
 * warm (the same tree again: the suite is reused), next to `tsc --noEmit` alone on the same tree,
 * measured in the same run. Targets: cold ≤ 1.5× tsc alone; warm ≤ 0.1×.
 *
 *   node bench/checks.ts        (BENCH_RUNS=5 to change the number of runs)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseServerSpec, render } from '@bmms/runner-template';
import { startPlatform } from '../platform/src/boot.ts';
import { PROJECT_NODE_MODULES, tsconfig } from '../platform/src/checks/typecheck.ts';
import { generatedTestExtras } from '../platform/src/generation/tests.ts';
import { silentLogger } from '../platform/src/logger.ts';
import { vendoredRuntimeFiles } from '../platform/src/services/vendored-runtime.ts';
import { benchConfig } from './common.ts';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** A realistic 10-tool server; `salt` makes each run's tree new. */
function tenTools(name: string, salt: number): Record<string, string> {
  const tools = Array.from({ length: 10 }, (_, i) => ({
    name: `tool_${i}`,
    title: `Tool ${i}`,
    description: `Formats, filters and totals a list of line items (variant ${i}, run ${salt}).`,
    inputSchema: {
      type: 'object' as const,
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: { label: { type: 'string' }, amount: { type: 'number' } },
            required: ['label', 'amount'],
          },
        },
        currency: { type: 'string', description: 'ISO 4217 code' },
      },
      required: ['items'],
    },
    source: `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

const item = z.object({ label: z.string(), amount: z.number() });

export default defineTool({
  name: 'tool_${i}',
  input: { items: z.array(item), currency: z.string().optional() },
  handler: ({ items, currency }) => {
    const kept = items.filter((it) => it.amount > ${i});
    const total = kept.reduce((sum, it) => sum + it.amount, 0);
    const lines = kept.map((it) => \`\${it.label.padEnd(20)} \${it.amount.toFixed(2)}\`);
    return { total, currency: currency ?? 'EUR', lines };
  },
});
`,
  }));
  const spec = { name, version: '1.0.0', description: 'Ten bookkeeping tools', tools, secrets: [], egress: [] };
  // With a test per tool, as a generated server starts: the tests check has something to run.
  return render(spec, generatedTestExtras(parseServerSpec(spec)));
}

const scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-bench-checks-'));
const dataDir = path.join(scratch, 'data');
const platform = await startPlatform(benchConfig(dataDir, { resyncMs: 60_000 }), silentLogger);
const key = (await readFile(path.join(dataDir, 'owner-api-key'), 'utf8')).trim();
async function api<T>(method: string, pathname: string, body?: unknown): Promise<T> {
  const res = await fetch(`${platform.url}/api/v1${pathname}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as T;
}
type Change = {
  number: number;
  checks: {
    name: string;
    status: string;
    conclusion: string;
    durationMs: number;
    startedAt: string;
    completedAt: string;
  }[];
};
async function checked(n: number): Promise<Change> {
  for (;;) {
    const c = await api<Change>('GET', `/servers/bench/changes/${n}`);
    if (c.checks.length > 0 && c.checks.every((r) => r.status === 'completed')) {
      // A failing check skips the ones after it: the figures would be of a shorter suite than a change's.
      const failed = c.checks.filter((r) => r.conclusion !== 'success');
      if (failed.length > 0) {
        const details = await Promise.all(
          failed.map((r) =>
            api<{ summary?: string; log?: string }>('GET', `/servers/bench/changes/${n}/checks/${r.name}`).then(
              (d) =>
                `${r.name}=${r.conclusion}: ${d.summary ?? ''}${r.conclusion === 'failure' ? `\n${d.log ?? ''}` : ''}`,
            ),
          ),
        );
        throw new Error(`change #${n} is not green, the suite measured would not be whole:\n  ${details.join('\n  ')}`);
      }
      return c;
    }
    await sleep(10);
  }
}

/** tsc --noEmit alone, with the typecheck check's own options, on a checked-out tree. */
async function tscAlone(files: Record<string, string>): Promise<number> {
  const dir = await mkdtemp(path.join(scratch, 'tsc-'));
  for (const [file, text] of Object.entries(files)) {
    await import('node:fs/promises').then((fs) =>
      fs.mkdir(path.dirname(path.join(dir, 'repo', file)), { recursive: true }),
    );
    await writeFile(path.join(dir, 'repo', file), text);
  }
  await symlink(PROJECT_NODE_MODULES, path.join(dir, 'node_modules'));
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig()));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(PROJECT_NODE_MODULES, 'typescript/bin/tsc'), '-p', 'tsconfig.json'],
      {
        cwd: dir,
        stdio: 'inherit',
      },
    );
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited ${code}`))));
  });
  return performance.now() - t0;
}

/** The checks a change had before #17's behaviour checks. */
const STATIC_AND_PREVIEW = [
  'manifest',
  'surface',
  'security',
  'secrets',
  'dependencies',
  'typecheck',
  'views',
  'preview',
];

/**
 * What the behaviour checks (tests, contract, conformance, replay) add to a cold suite: its end after the last of
 * the other checks ended, against the preview's own start (its check's run, beside the others), in ms.
 */
function behaviourCost(change: Change): { added: number; preview: number } {
  const end = (names?: string[]) =>
    Math.max(...change.checks.filter((c) => !names || names.includes(c.name)).map((c) => Date.parse(c.completedAt)));
  const preview = change.checks.find((c) => c.name === 'preview')?.durationMs ?? Number.NaN;
  return { added: end() - end(STATIC_AND_PREVIEW), preview };
}

const cold: number[] = [];
const behaviour: { added: number; preview: number }[] = [];
const warm: number[] = [];
const tsc: number[] = [];
let slowest: Change | undefined;
try {
  const created = await api<{ change?: { number: number } }>('POST', '/servers', { name: 'bench', template: 'echo' });
  if (!created.change) throw new Error(`create failed: ${JSON.stringify(created)}`);
  await checked(1);
  const { ctx } = platform;
  for (let i = 0; i < RUNS; i++) {
    // The rendered repo and the vendored runtime tarball its package.json names, as the platform commits them.
    const rendered = tenTools('bench', i);
    const files = { ...rendered, ...(await vendoredRuntimeFiles(rendered)) };
    const main = (await ctx.git.resolveRef('bench', 'main')) as string;
    await ctx.git.commitFiles('bench', {
      branch: `cold-${i}`,
      parent: main,
      files,
      replaceTree: true,
      message: `run ${i}`,
      author: { name: 'b', email: 'b@example.com' },
    });
    await ctx.git.commitFiles('bench', {
      branch: `warm-${i}`,
      parent: main,
      files,
      replaceTree: true,
      message: `run ${i} again`,
      author: { name: 'b', email: 'b@example.com' },
    });

    let t0 = performance.now();
    const a = await api<{ number: number }>('POST', '/servers/bench/changes', { branch: `cold-${i}`, title: 'cold' });
    const done = await checked(a.number);
    cold.push(performance.now() - t0);
    behaviour.push(behaviourCost(done));
    if (process.env.BENCH_TRACE) {
      const wall = Date.now() - (performance.now() - t0);
      console.log(
        done.checks
          .map((c) => `${c.name} ${Date.parse(c.startedAt) - wall}→${Date.parse(c.completedAt) - wall}`)
          .join(', '),
      );
    }
    slowest = done;

    t0 = performance.now();
    const b = await api<{ number: number }>('POST', '/servers/bench/changes', { branch: `warm-${i}`, title: 'warm' });
    await checked(b.number);
    warm.push(performance.now() - t0);

    tsc.push(await tscAlone(rendered));
  }
} finally {
  await platform.close();
  await rm(scratch, { recursive: true, force: true });
}

const t = median(tsc);
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(0)} ms  ratio ${(median(xs) / t).toFixed(2)}×   samples ${xs.map((x) => x.toFixed(0)).join(' ')}`;
console.log(
  `runs: ${RUNS} (medians) on a 10-tool server; checks: ${slowest?.checks.map((c) => `${c.name}=${c.conclusion} ${c.durationMs}ms`).join(', ')}`,
);
console.log(
  `tsc --noEmit alone:      ${median(tsc).toFixed(0)} ms   samples ${tsc.map((x) => x.toFixed(0)).join(' ')}`,
);
console.log(`cold suite (new tree):   ${fmt(cold)} (target ≤ 1.5×)`);
console.log(`warm suite (same tree):  ${fmt(warm)} (target ≤ 0.1×)`);
const added = median(behaviour.map((b) => b.added));
const previewStart = median(behaviour.map((b) => b.preview));
console.log(
  `behaviour checks add:    ${added.toFixed(0)} ms after the others, the preview's own start ${previewStart.toFixed(0)} ms (target: no more)   samples ${behaviour.map((b) => `${b.added}/${b.preview}`).join(' ')}`,
);
process.exit(0);
