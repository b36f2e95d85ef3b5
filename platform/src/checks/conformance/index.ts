import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { PreviewEndpoint } from '../../previews.ts';
import { inputsKey, PassedRuns } from '../reuse.ts';
import type { Check, CheckInput, CheckOutcome } from '../types.ts';
import { EXPECTED_FAILURES, NOT_IN_ACTIVE_SUITE } from './baseline.ts';
import { openBridge } from './bridge.ts';
import { cliBundle, cliVersion } from './cli-bundle.ts';

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

/** Runs the CLI's scenarios one after the other in one process (see runner.ts). */
const DRIVER = fileURLToPath(new URL('./runner.ts', import.meta.url));

/** The runner's output kept for the log (the check's log keeps 200 kB of it). */
const MAX_OUTPUT = 1_000_000;

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
 * `conformance`: the official `@modelcontextprotocol/conformance` server scenarios (its active suite, less the
 * platform's baseline of expected failures) run against the preview once it serves, through a loopback bridge that
 * adds the platform's credential. A scenario that fails fails the check by name; the rest is in the log.
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
    // Built once per process, while the suite waits for the preview.
    prepare: () => cliBundle().then(() => {}),
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
        const run = await runSuite(bridge.url, input, timeoutMs, expected);
        return passed.keep(key, judgeSuite(run, expected, await cliVersion()));
      } finally {
        await bridge.close();
      }
    },
  };
}

/** The runner's version and the baseline: a new one of either runs every tree again. */
async function runnerSalt(expected: Readonly<Record<string, string>>): Promise<string> {
  const baseline = createHash('sha256')
    .update(JSON.stringify([Object.keys(expected).sort(), Object.keys(NOT_IN_ACTIVE_SUITE).sort()]))
    .digest('hex');
  return `conformance/${await cliVersion()}/${baseline}`;
}

interface SuiteRun {
  results: ScenarioResult[];
  /** The scenarios the CLI listed that were not run: the baseline's and those outside its active suite. */
  notRun: string[];
  output: string;
  timedOut: boolean;
  code: number | null;
}

/**
 * Runs the CLI's server scenarios that can fail a change (every one it lists, less the baseline's and those outside
 * its active suite) against `url`, in one process (runner.ts), reporting each scenario as it starts. The baseline's
 * are not run: their outcome cannot change the check's, and they were three quarters of its time.
 */
async function runSuite(
  url: string,
  input: CheckInput,
  timeoutMs: number,
  expected: Readonly<Record<string, string>>,
): Promise<SuiteRun> {
  const outDir = path.join(input.workDir, 'conformance');
  await mkdir(outDir, { recursive: true });
  // Stopped while it waited for the preview: the signal does not fire again, and a runner started now would outlive
  // the suite, writing into a folder being removed.
  if (input.signal.aborted) {
    return { results: [], notRun: [], output: 'stopped before the runner started\n', timedOut: false, code: null };
  }
  const leftOut = [...Object.keys(expected), ...Object.keys(NOT_IN_ACTIVE_SUITE)];
  const cli = await cliBundle();
  // The runner is a client of the customer's preview: a bounded heap, so an answer without end stops it, not the host.
  const node = [`--max-old-space-size=${RUNNER_HEAP_MB}`];
  const child = spawn(process.execPath, [...node, DRIVER, cli.file, url, outDir, ...leftOut], {
    cwd: outDir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: outDir,
      NO_COLOR: '1',
      NODE_COMPILE_CACHE: cli.compileCache,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // The runner's own account, on a descriptor of its own: nothing the CLI prints (a server's answers) can pass as it.
  let timedOut = false;
  let listed: string[] = [];
  let planned = false;
  const ended: { scenario: string; code: number }[] = [];
  const running: string[] = [];
  createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
    const [what, name, code] = line.split(' ');
    if (what === 'scenarios' && !planned) {
      planned = true;
      listed = line.split(' ').slice(1).filter(Boolean);
    } else if (what === 'running' && name) {
      running.push(name);
      input.progress?.(`scenario ${running.length} of ${listed.length}: ${name}`);
    } else if (what === 'ended' && name) ended.push({ scenario: name, code: Number(code) });
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
  const results = await readResults(outDir, ended);
  // A scenario started but never ended (the runner stopped in it) failed there.
  for (const scenario of running.slice(ended.length)) {
    results.push({
      scenario,
      passed: false,
      failures: ['the runner stopped in this scenario (see the log)'],
      warnings: [],
    });
  }
  return { results, notRun: planned ? leftOut : [], output, timedOut, code };
}

/** Each ended scenario's pass or fail from its exit code, with its failed checks from `checks.json`. */
async function readResults(outDir: string, ended: { scenario: string; code: number }[]): Promise<ScenarioResult[]> {
  const checksOf = new Map<string, { name?: string; status?: string; errorMessage?: string }[]>();
  for (const entry of await readdir(outDir).catch(() => [])) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
    if (!m?.[1]) continue;
    try {
      checksOf.set(m[1], JSON.parse(await readFile(path.join(outDir, entry, 'checks.json'), 'utf8')));
    } catch {
      // a scenario that crashed before writing its checks: its exit code still says it failed
    }
  }
  const results: ScenarioResult[] = [];
  for (const { scenario, code } of ended) {
    const checks = checksOf.get(scenario);
    const line = (c: { name?: string; errorMessage?: string }) => `${c.name ?? 'check'}: ${c.errorMessage ?? 'failed'}`;
    const failures = (checks ?? []).filter((c) => c.status === 'FAILURE').map(line);
    const passed = code === 0 && failures.length === 0;
    if (!passed && failures.length === 0) failures.push('the scenario stopped with an error (see the log)');
    results.push({
      scenario,
      passed,
      failures,
      warnings: (checks ?? []).filter((c) => c.status === 'WARNING').map(line),
    });
  }
  return results;
}

/** The outcome of a run: red for each failing scenario, with its failed checks. */
function judgeSuite(run: SuiteRun, expected: Readonly<Record<string, string>>, version: string): CheckOutcome {
  const reasons: Readonly<Record<string, string>> = { ...NOT_IN_ACTIVE_SUITE, ...expected };
  const log = [
    ...run.results.map((r) => {
      const details = [...r.failures, ...r.warnings.map((w) => `warning: ${w}`)].map((d) => `\n    ${d}`).join('');
      return `${r.passed ? '✓' : '✗'} ${r.scenario}${details}`;
    }),
    ...run.notRun.map((s) => `– ${s} (not run) — ${reasons[s]}`),
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
  const failed = run.results.filter((r) => !r.passed);
  const passed = run.results.filter((r) => r.passed);
  const baseline = run.notRun.filter((s) => expected[s]).length;
  const counts = `${passed.length} of ${run.results.length} server scenarios passed`;
  if (failed.length > 0) {
    const lines = failed.map((r) => `✗ ${r.scenario}${r.failures.map((f) => `\n    ${f}`).join('')}`);
    const summary = `${suite}: ${failed.length} scenario(s) failed that servers on this platform pass (${counts}):\n${lines.join('\n')}`;
    return { conclusion: 'failure', summary, log };
  }
  const summary = `${suite}: ${counts} (${passed.map((r) => r.scenario).join(', ')}); the ${baseline} expected failure(s) on this platform are not run`;
  return { conclusion: 'success', summary, log };
}
