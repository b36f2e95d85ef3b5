import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildTestBundle, type JobOptions, type JobResult } from '@bmms/reconciler';
import { inputsKey, PassedRuns, treeFiles } from './reuse.ts';
import type { Check, CheckInput, CheckOutcome } from './types.ts';

/** Runs a program in an instance's sandbox: the process runtime's `runJob`. */
export interface JobRunner {
  runJob(opts: JobOptions): Promise<JobResult>;
}

export interface TestsCheckOptions {
  /** Wall-clock limit of the whole test run (default 60 s). */
  timeoutMs?: number;
  /** Limit of one test (node --test's `--test-timeout`, default 20 s): a hanging test fails by its name. */
  testTimeoutMs?: number;
  /** Memory of the test process in MiB (default 512). */
  memoryMb?: number;
  /** Output kept, stdout and stderr together (default 1 MiB). */
  outputBytes?: number;
}

/** The only test script the platform runs: Node's own test runner over its default file patterns. */
export const TEST_SCRIPT = 'node --test';
const SUMMARY_FAILURES = 10;
const SOURCE = /\.(c|m)?(j|t)s$/;

/**
 * `tests`: the repository's own tests (`npm test` = `node --test`), bundled like the server (packages from the
 * platform's node_modules, never the repo's) and run in the sandbox an instance of the server gets: no network,
 * bounded time, memory and output. Runs once the static checks passed, alongside `typecheck` and `preview`.
 */
export function testsCheck(jobs: () => JobRunner, after: string[], options: TestsCheckOptions = {}): Check {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const built = new Map<string, Promise<TestPlan>>();
  const passed = new PassedRuns(REUSED);
  const plan = (input: Omit<CheckInput, 'signal'>): Promise<TestPlan> => {
    let p = built.get(input.workDir);
    if (!p) {
      p = (async () => {
        const key = await inputsKey(input.serverName, input.dir);
        const earlier = passed.get(key);
        if (earlier) return { key, outcome: earlier };
        return { key, ...(await prepareTests(input.dir, path.join(input.workDir, 'tests'))) };
      })();
      p.catch(() => {});
      built.set(input.workDir, p);
    }
    return p;
  };
  return {
    name: 'tests',
    after,
    timeoutMs: timeoutMs + 30_000,
    prepare: async (input) => void (await plan(input)),
    async run(input): Promise<CheckOutcome> {
      try {
        input.progress?.('bundling the tests');
        const tests = await plan(input);
        if ('outcome' in tests) return passed.keep(tests.key, tests.outcome);
        input.progress?.(`running ${tests.files.length} test file(s) in the sandbox`);
        const runner = jobs();
        const result = await runner.runJob({
          serverName: input.serverName,
          appDir: tests.outDir,
          args: [
            '--enable-source-maps',
            '--test',
            '--test-isolation=none',
            '--test-reporter=tap',
            `--test-timeout=${options.testTimeoutMs ?? 20_000}`,
            ...tests.files.map((f) => f.replace(SOURCE, '.mjs')),
          ],
          limits: { memoryMb: options.memoryMb ?? 512, timeoutMs, outputBytes: options.outputBytes ?? 1024 * 1024 },
          signal: input.signal,
        });
        return passed.keep(tests.key, judge(result, tests.files, timeoutMs, options.memoryMb ?? 512, input.dir));
      } catch (err) {
        if (isSandboxUnavailable(err)) {
          const summary = `no test run: ${(err as Error).message}`;
          return { conclusion: 'skipped', summary, log: `${summary}\n` };
        }
        throw err;
      } finally {
        built.delete(input.workDir);
      }
    },
  };
}

function isSandboxUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'sandbox_unavailable';
}

type Prepared = { outDir: string; files: string[] } | { outcome: CheckOutcome };
type TestPlan = { key: string } & Prepared;

const REUSED = ' (reused: no file but Markdown changed since a tree whose tests passed)';

/** Finds the test files, bundles them into `outDir` and copies the tree's other files beside them (fixtures, mcp.json). */
async function prepareTests(dir: string, outDir: string): Promise<Prepared> {
  const script = await testScript(dir);
  if (script === undefined) {
    const summary = 'no tests: package.json has no `test` script (`node --test` over test/*.test.ts)';
    return { outcome: { conclusion: 'neutral', summary, log: `${summary}\n` } };
  }
  if (script.trim() !== TEST_SCRIPT) {
    const summary = `[tests-script] the \`test\` script is \`${script}\`: the platform runs only \`${TEST_SCRIPT}\` — set "test": "${TEST_SCRIPT}" in package.json`;
    return { outcome: { conclusion: 'failure', summary, log: `${summary}\n` } };
  }
  const all = await treeFiles(dir);
  const files = all.filter(isTestFile);
  if (files.length === 0) {
    const summary = 'no tests: no file matches node --test’s patterns (e.g. test/<tool>.test.ts)';
    return { outcome: { conclusion: 'neutral', summary, log: `${summary}\n` } };
  }
  try {
    await buildTestBundle({ sourceDir: dir, entries: files, outDir });
  } catch (err) {
    const lines = (err as { lines?: string[] }).lines ?? [err instanceof Error ? err.message : String(err)];
    const summary = `the tests do not build:\n${lines.slice(0, 30).join('\n')}`;
    return { outcome: { conclusion: 'failure', summary, log: `${lines.join('\n')}\n` } };
  }
  for (const file of all) {
    if (SOURCE.test(file)) continue;
    await mkdir(path.dirname(path.join(outDir, file)), { recursive: true });
    await copyFile(path.join(dir, file), path.join(outDir, file));
  }
  return { outDir, files };
}

async function testScript(dir: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { scripts?: unknown };
    const scripts = pkg.scripts;
    if (typeof scripts !== 'object' || scripts === null) return undefined;
    const test = (scripts as Record<string, unknown>).test;
    return typeof test === 'string' ? test : undefined;
  } catch {
    return undefined;
  }
}

/** node --test's default patterns: `*.test.*`, `*-test.*`, `*_test.*`, `test-*.*`, `test.*` and anything under `test/`. */
export function isTestFile(file: string): boolean {
  if (!SOURCE.test(file) || file.endsWith('.d.ts')) return false;
  const parts = file.split('/');
  const base = parts.at(-1) ?? '';
  const stem = base.replace(SOURCE, '');
  return parts.slice(0, -1).includes('test') || stem === 'test' || stem.startsWith('test-') || /[.\-_]test$/.test(stem);
}

/** One failed test from the TAP stream. */
export interface FailedTest {
  name: string;
  /** `file:line` in the repo, when known. */
  location?: string;
  /** The assertion or error message, on one line. */
  message: string;
}

/** The counts and failures of node --test's TAP output. */
export function parseTap(
  output: string,
  repoPaths: string[] = [],
): { counts: Record<string, number>; failed: FailedTest[] } {
  const counts: Record<string, number> = {};
  for (const m of output.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm))
    counts[m[1] as string] = Number(m[2]);
  const failed: FailedTest[] = [];
  const lines = output.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.*?)(?: # .*)?$/.exec(lines[i] as string);
    if (!m) continue;
    const indent = (m[1] as string).length;
    const block: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      for (i += 2; i < lines.length && lines[i]?.trim() !== '...'; i++)
        block.push((lines[i] as string).slice(indent + 2));
    }
    const yaml = readYaml(block);
    if (unquote(yaml.failureType ?? '') === 'subtestsFailed') continue;
    const location = yaml.location ? repoPath(unquote(yaml.location), repoPaths) : undefined;
    failed.push({
      name: unescapeTap(m[2] as string),
      ...(location ? { location } : {}),
      message: messageOf(yaml),
    });
  }
  return { counts, failed };
}

/** The few YAML fields of a TAP diagnostic block we show: scalars and `|-` blocks. */
function readYaml(block: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < block.length; i++) {
    const m = /^(\w+): (.*)$/.exec(block[i] as string);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (value === '|-' || value === '|') {
      const text: string[] = [];
      while (i + 1 < block.length && /^(\s{2}|$)/.test(block[i + 1] as string))
        text.push((block[++i] as string).slice(2));
      out[key] = text.join('\n');
    } else out[key] = value;
  }
  return out;
}

function unquote(value: string): string {
  return value.replace(/^'(.*)'$/, '$1').replace(/''/g, "'");
}

/** An assertion as `Expected values to be strictly equal: actual 'A', expected 'B'`; other errors on one line. */
function messageOf(yaml: Record<string, string>): string {
  const error = yaml.error ?? '';
  if (yaml.operator !== undefined && yaml.actual !== undefined && yaml.expected !== undefined) {
    const first = error.split('\n')[0]?.trim() ?? '';
    return oneLine(`${first} actual ${yaml.actual}, expected ${yaml.expected}`);
  }
  return oneLine(error.startsWith("'") ? unquote(error) : error);
}

function unescapeTap(name: string): string {
  return name.replace(/\\#/g, '#').replace(/\\\\/g, '\\');
}

function oneLine(text: string): string {
  const flat = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}

/** `/repo/test/echo.test.ts:6:3` (a source-mapped path inside or outside the sandbox) → `test/echo.test.ts:6`. */
function repoPath(location: string, repoPaths: string[]): string {
  let loc = location;
  for (const prefix of [...repoPaths, '/repo', '/app']) {
    if (loc.startsWith(`${prefix}/`)) {
      loc = loc.slice(prefix.length + 1);
      break;
    }
  }
  return loc.replace(/:(\d+):\d+$/, ':$1');
}

/** The outcome of a test run: counts on success; each failed test's name, place and assertion on failure. */
function judge(result: JobResult, files: string[], timeoutMs: number, memoryMb: number, repoDir: string): CheckOutcome {
  const log = cleanPaths(result.output, repoDir);
  const { counts, failed } = parseTap(log, [repoDir]);
  // A file is reported as a test of its own when it declares none (test/fake-ctx.ts): not a test to count.
  const bundled = new Map(files.map((f) => [f.replace(SOURCE, '.mjs'), f]));
  const fileEntries = [...log.matchAll(/^ok \d+ - (.*)$/gm)].filter((m) => bundled.has(m[1] ?? '')).length;
  counts.tests = (counts.tests ?? 0) - fileEntries;
  for (const f of failed) f.name = bundled.get(f.name) ?? f.name;
  const ran = `${files.length} file(s): ${files.join(', ')}`;
  if (result.timedOut || result.oomKilled) {
    const why = result.timedOut
      ? `the tests did not finish within ${timeoutMs / 1000} s`
      : `the tests ran out of memory (${memoryMb} MB)`;
    const started = [...log.matchAll(/^\s*# Subtest: (.*)$/gm)].map((m) => m[1]).at(-1);
    const summary = `${why}${started ? `; the last test started was "${started}"` : ''}`;
    return { conclusion: 'failure', summary: withFailures(summary, failed), log };
  }
  if (result.code === 0 && failed.length === 0) {
    const n = counts.tests ?? 0;
    const skipped = (counts.skipped ?? 0) + (counts.todo ?? 0);
    const summary = `${n - skipped} test(s) passed${skipped ? `, ${skipped} skipped` : ''} in ${ran} (node --test, sandboxed: no network)`;
    return { conclusion: 'success', summary, log };
  }
  if (failed.length > 0) {
    const summary = `${failed.length} of ${counts.tests ?? failed.length} test(s) failed`;
    return { conclusion: 'failure', summary: withFailures(summary, failed), log };
  }
  const tail = log.trim().split('\n').slice(-20).join('\n');
  const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`;
  return { conclusion: 'failure', summary: `the test run ${how} before reporting a failed test:\n${tail}`, log };
}

function withFailures(summary: string, failed: FailedTest[]): string {
  if (failed.length === 0) return summary;
  const shown = failed
    .slice(0, SUMMARY_FAILURES)
    .map((f) => `✗ ${f.name}${f.location ? ` (${f.location})` : ''}${f.message ? `\n    ${f.message}` : ''}`);
  if (failed.length > shown.length) shown.push(`… and ${failed.length - shown.length} more (see the log)`);
  return `${summary}:\n${shown.join('\n')}`;
}

/** Paths in the output as the repo names them: no sandbox or scratch prefixes. */
function cleanPaths(output: string, repoDir: string): string {
  return output
    .split(`${repoDir}/`)
    .join('')
    .replace(/(['( ])\/(?:repo|app)\//g, '$1');
}
