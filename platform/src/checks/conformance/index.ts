import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PreviewEndpoint } from '../../previews.ts';
import { inputsKey, PassedRuns } from '../reuse.ts';
import type { Check, CheckInput, CheckOutcome } from '../types.ts';
import { EXPECTED_FAILURES } from './baseline.ts';
import { openBridge } from './bridge.ts';

/** Where the conformance check finds the preview it tests. */
export interface ConformanceDeps {
  /** The preview serving the checked tree, or why there is none (the check is then skipped with that reason). */
  endpoint(serverName: string, commitSha: string): Promise<PreviewEndpoint | string>;
}

export interface ConformanceOptions {
  /** Wall-clock limit of the conformance run (default 90 s). */
  timeoutMs?: number;
  /** Scenarios expected to fail, by name, with the reason (default: the platform's baseline). */
  expectedFailures?: Readonly<Record<string, string>>;
}

const packageJson = createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json');
/** The official conformance runner's CLI and version. */
const RUNNER = path.join(path.dirname(packageJson), 'dist', 'index.js');

/** The runner's V8 heap (MiB): far more than the suite needs, far less than the platform's host. */
const RUNNER_HEAP_MB = 256;

/**
 * Files the suite's outcome does not depend on: tool implementations and tests. The scenarios call only the suite's
 * own test tools, which no server here has, so a change to a tool's code answers them the same; mcp.json, the runtime,
 * src/server.ts, views and helpers still count.
 */
function toolOnly(file: string): boolean {
  return file.startsWith('src/tools/') || file.startsWith('test/');
}

const REUSED = ' (reused: only tool code, tests or Markdown changed since a tree whose run passed)';

/** What one scenario of the suite concluded. */
export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  /** Its failed checks: `Name: message`. */
  failures: string[];
  warnings: string[];
}

/**
 * `conformance`: the official `@modelcontextprotocol/conformance` server scenarios (the active suite) run against the
 * preview once it serves, through a loopback bridge that adds the platform's credential. A scenario that fails and is
 * not in the platform's baseline of expected failures fails the check by name; the rest is in the log.
 */
export function conformanceCheck(deps: ConformanceDeps, after: string[], options: ConformanceOptions = {}): Check {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const expected = options.expectedFailures ?? EXPECTED_FAILURES;
  const passed = new PassedRuns(REUSED);
  let salt: Promise<string> | undefined;
  return {
    name: 'conformance',
    after,
    timeoutMs: timeoutMs + 30_000,
    async run(input): Promise<CheckOutcome> {
      salt ??= runnerSalt(expected);
      const key = await inputsKey(input.serverName, input.dir, await salt, toolOnly);
      const earlier = passed.get(key);
      if (earlier) return earlier;
      input.progress?.('waiting for the preview');
      const endpoint = await deps.endpoint(input.serverName, input.commitSha);
      if (typeof endpoint === 'string') {
        const summary = `no conformance run: ${endpoint}`;
        return { conclusion: 'skipped', summary, log: `${summary}\n` };
      }
      const bridge = await openBridge(endpoint);
      try {
        const run = await runSuite(bridge.url, input, timeoutMs);
        return passed.keep(key, judgeSuite(run, expected, await runnerVersion()));
      } finally {
        await bridge.close();
      }
    },
  };
}

async function runnerVersion(): Promise<string> {
  return (JSON.parse(await readFile(packageJson, 'utf8')) as { version: string }).version;
}

/** The runner's version and the baseline: a new one of either runs every tree again. */
async function runnerSalt(expected: Readonly<Record<string, string>>): Promise<string> {
  const baseline = createHash('sha256')
    .update(JSON.stringify(Object.keys(expected).sort()))
    .digest('hex');
  return `conformance/${await runnerVersion()}/${baseline}`;
}

interface SuiteRun {
  results: ScenarioResult[];
  output: string;
  timedOut: boolean;
  code: number | null;
}

/** Runs the active server suite against `url`, reporting each scenario as it starts; reads every scenario's checks. */
async function runSuite(url: string, input: CheckInput, timeoutMs: number): Promise<SuiteRun> {
  const outDir = path.join(input.workDir, 'conformance');
  await mkdir(outDir, { recursive: true });
  // Stopped while it waited for the preview: the signal does not fire again, and a runner started now would outlive
  // the suite, writing into a folder being removed.
  if (input.signal.aborted) {
    return { results: [], output: 'stopped before the runner started\n', timedOut: false, code: null };
  }
  // The runner is a client of the customer's preview: a bounded heap, so an answer without end stops it, not the host.
  const node = [`--max-old-space-size=${RUNNER_HEAP_MB}`];
  const child = spawn(process.execPath, [...node, RUNNER, 'server', '--url', url, '--output-dir', outDir], {
    cwd: outDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: outDir, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let timedOut = false;
  const total = /Running active suite \((\d+) scenarios\)/;
  let count = '?';
  let started = 0;
  const read = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    count = total.exec(output)?.[1] ?? count;
    for (const m of text.matchAll(/=== Running scenario: (\S+) ===/g)) {
      started++;
      input.progress?.(`scenario ${started} of ${count}: ${m[1]}`);
    }
  };
  child.stdout.on('data', read);
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const stop = () => child.kill('SIGKILL');
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  input.signal.addEventListener('abort', stop, { once: true });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  input.signal.removeEventListener('abort', stop);
  return { results: await readResults(outDir, output), output, timedOut, code };
}

/** Each scenario's pass or fail from the runner's summary lines, with its failed checks from `checks.json`. */
export async function readResults(outDir: string, output: string): Promise<ScenarioResult[]> {
  const checksOf = new Map<string, { name?: string; status?: string; errorMessage?: string }[]>();
  for (const entry of await readdir(outDir).catch(() => [])) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
    if (!m?.[1]) continue;
    try {
      checksOf.set(m[1], JSON.parse(await readFile(path.join(outDir, entry, 'checks.json'), 'utf8')));
    } catch {
      // a scenario that crashed before writing its checks: its summary line still says it failed
    }
  }
  const results: ScenarioResult[] = [];
  for (const m of output.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed$/gm)) {
    const scenario = m[2] as string;
    const checks = checksOf.get(scenario) ?? [];
    const line = (c: { name?: string; errorMessage?: string }) => `${c.name ?? 'check'}: ${c.errorMessage ?? 'failed'}`;
    results.push({
      scenario,
      passed: m[1] === '✓',
      failures: checks.filter((c) => c.status === 'FAILURE').map(line),
      warnings: checks.filter((c) => c.status === 'WARNING').map(line),
    });
  }
  return results;
}

/** The outcome of a run: red for each failing scenario the baseline does not expect, with its failed checks. */
function judgeSuite(run: SuiteRun, expected: Readonly<Record<string, string>>, version: string): CheckOutcome {
  const log = [
    ...run.results.map((r) => {
      const mark = r.passed ? '✓' : expected[r.scenario] ? '✗ (expected)' : '✗';
      const why = !r.passed && expected[r.scenario] ? ` — ${expected[r.scenario]}` : '';
      const details = [...r.failures, ...r.warnings.map((w) => `warning: ${w}`)].map((d) => `\n    ${d}`).join('');
      return `${mark} ${r.scenario}${why}${details}`;
    }),
    '',
    '--- runner output ---',
    run.output,
  ].join('\n');
  const suite = `@modelcontextprotocol/conformance ${version}`;
  if (run.timedOut || run.results.length === 0) {
    const why = run.timedOut ? 'did not finish in time' : `stopped (exit ${run.code}) before reporting a scenario`;
    const tail = run.output.trim().split('\n').slice(-15).join('\n');
    return { conclusion: 'failure', summary: `${suite}: the suite ${why}:\n${tail}`, log };
  }
  const regressions = run.results.filter((r) => !r.passed && !expected[r.scenario]);
  const passed = run.results.filter((r) => r.passed);
  const fixed = passed.filter((r) => expected[r.scenario]).map((r) => r.scenario);
  const counts = `${passed.length} of ${run.results.length} server scenarios passed`;
  if (regressions.length > 0) {
    const lines = regressions.map((r) => `✗ ${r.scenario}${r.failures.map((f) => `\n    ${f}`).join('')}`);
    const summary = `${suite}: ${regressions.length} scenario(s) failed that servers on this platform pass (${counts}):\n${lines.join('\n')}`;
    return { conclusion: 'failure', summary, log };
  }
  const others = run.results.length - passed.length;
  const also = fixed.length > 0 ? `; passes now, though expected to fail: ${fixed.join(', ')}` : '';
  const summary = `${suite}: ${counts} (${passed.map((r) => r.scenario).join(', ')}); the ${others} other(s) are expected failures on this platform${also}`;
  return { conclusion: 'success', summary, log };
}
