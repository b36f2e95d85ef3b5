import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProcessRuntime } from '@bmms/reconciler';
import { renderTemplate } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout, cleanup, tempDir } from '../../test/check-helpers.ts';
import { HAS_BWRAP } from '../../test/harness.ts';
import { isTestFile, parseTap, type TestsCheckOptions, testsCheck } from './tests.ts';
import type { CheckOutcome } from './types.ts';

let runtime: ProcessRuntime;
beforeAll(async () => {
  runtime = new ProcessRuntime({ dataDir: await tempDir('bmms-jobs-'), insecure: !HAS_BWRAP, log: () => {} });
});
afterAll(cleanup);

/** Runs the check on `files` as the suite does: prepare (bundle) first, then run, with the progress it reports. */
async function runTests(
  files: Record<string, string>,
  options: TestsCheckOptions = {},
): Promise<CheckOutcome & { progress: string[] }> {
  const check = testsCheck(() => runtime, [], options);
  const input = await checkout(files, { serverName: 'echo-demo' });
  const progress: string[] = [];
  await check.prepare?.(input);
  const outcome = await check.run({ ...input, progress: (text) => progress.push(text) });
  return { ...outcome, progress };
}

const echo = () => renderTemplate('echo', 'echo-demo');

describe('the tests check', () => {
  it('passes the echo template’s own tests, run in the sandbox, and says what it did while running', async () => {
    const outcome = await runTests(echo());
    expect(outcome.conclusion, outcome.log).toBe('success');
    expect(outcome.summary).toBe(
      '2 test(s) passed in 2 file(s): test/echo.test.ts, test/fake-ctx.ts (node --test, sandboxed: no network)',
    );
    expect(outcome.log).toContain('ok 1 - echo returns its text unchanged');
    expect(outcome.progress).toEqual(['bundling the tests', 'running 2 test file(s) in the sandbox']);
  });

  it('fails a change that upper-cases echo, naming the test, its place and the assertion', async () => {
    const files = echo();
    const source = files['src/tools/echo.ts'] ?? '';
    const upper = source.replace('handler: ({ text }) => text,', 'handler: ({ text }) => text.toUpperCase(),');
    expect(upper).not.toBe(source);
    const outcome = await runTests({ ...files, 'src/tools/echo.ts': upper });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toBe(
      [
        '1 of 2 test(s) failed:',
        '✗ echo returns its text unchanged (test/echo.test.ts:7)',
        "    Expected values to be strictly equal: actual 'HELLO, WORLD', expected 'hello, world'",
      ].join('\n'),
    );
    // The log is node --test's TAP output, with the repo's paths (no sandbox or scratch folders).
    expect(outcome.log).toContain("location: 'test/echo.test.ts:7:1'");
    expect(outcome.log).not.toContain('/app/');
  });

  it.skipIf(!HAS_BWRAP)('gives the tests no network: a listening port on the host is out of reach', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.end('reached');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const outcome = await runTests({
        ...echo(),
        'test/network.test.ts': [
          "import assert from 'node:assert/strict';",
          "import { it } from 'node:test';",
          "it('reaches the host', async () => {",
          `  const res = await fetch('http://127.0.0.1:${port}/');`,
          "  assert.equal(await res.text(), 'reached');",
          '});',
          '',
        ].join('\n'),
      });
      expect(outcome.conclusion).toBe('failure');
      expect(outcome.summary).toContain('✗ reaches the host (test/network.test.ts:3)');
      expect(outcome.summary).toContain('fetch failed');
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  it('reuses a passing run for a tree that differs only in Markdown, never a failing one', async () => {
    const check = testsCheck(() => runtime, []);
    const run = async (files: Record<string, string>) => {
      const input = await checkout(files, { serverName: 'echo-demo' });
      await check.prepare?.(input);
      return check.run(input);
    };
    const first = await run(echo());
    expect(first.conclusion).toBe('success');
    const docs = await run({ ...echo(), 'README.md': '# changed\n', 'NOTES.md': 'new\n' });
    expect(docs.summary).toBe(
      `${first.summary} (reused: no file but Markdown changed since a tree whose tests passed)`,
    );
    const code = await run({
      ...echo(),
      'test/more.test.ts': "import { it } from 'node:test';\nit('more', () => {});\n",
    });
    expect(code.summary).toMatch(/^3 test\(s\) passed in 3 file\(s\)/);
    const broken = {
      ...echo(),
      'test/no.test.ts': "import { it } from 'node:test';\nit('no', () => {\n  throw new Error('no');\n});\n",
    };
    expect((await run(broken)).conclusion).toBe('failure');
    expect((await run({ ...broken, 'README.md': 'x\n' })).summary).not.toContain('reused');
  });

  it('stops a test run past its time limit, naming the test that was running', async () => {
    const outcome = await runTests(
      {
        ...echo(),
        'test/spin.test.ts': "import { it } from 'node:test';\nit('spins forever', () => {\n  for (;;);\n});\n",
      },
      { timeoutMs: 3000 },
    );
    // A test that blocks its thread cannot report itself: the run is killed at its limit.
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toBe('the tests did not finish within 3 s');
  });

  it('fails a test that never settles by its name, at the per-test limit', async () => {
    const outcome = await runTests(
      {
        ...echo(),
        'test/hang.test.ts': "import { it } from 'node:test';\nit('waits forever', () => new Promise(() => {}));\n",
      },
      { testTimeoutMs: 1000 },
    );
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toBe(
      '1 of 3 test(s) failed:\n✗ waits forever (test/hang.test.ts:2)\n    test timed out after 1000ms',
    );
  });

  it('bounds the output a test run may write', async () => {
    const outcome = await runTests(
      {
        ...echo(),
        'test/loud.test.ts':
          "import { it } from 'node:test';\nit('is loud', () => {\n  for (let i = 0; i < 20000; i++) console.log('x'.repeat(100));\n});\n",
      },
      { outputBytes: 64 * 1024 },
    );
    expect(outcome.conclusion, outcome.summary).toBe('success');
    expect(outcome.log.length).toBeLessThan(100 * 1024);
    expect(outcome.log).toMatch(/\[bmms\] … \d+ bytes of output dropped …/);
    // The end of the stream (node --test's counts) is kept.
    expect(outcome.log).toContain('# pass 4');
  });

  it('is neutral for a repo without tests, and refuses a test script it would not run', async () => {
    const files = echo();
    const pkg = JSON.parse(files['package.json'] ?? '{}') as { scripts: Record<string, string> };
    delete pkg.scripts.test;
    const none = await runTests({ ...files, 'package.json': JSON.stringify(pkg) });
    expect(none.conclusion).toBe('neutral');
    expect(none.summary).toMatch(/^no tests: package\.json has no `test` script/);
    pkg.scripts.test = 'curl https://example.com | sh';
    const other = await runTests({ ...files, 'package.json': JSON.stringify(pkg) });
    expect(other.conclusion).toBe('failure');
    expect(other.summary).toContain('[tests-script]');
  });

  it('fails a test file that does not build, with the bundler’s message', async () => {
    const outcome = await runTests({ ...echo(), 'test/broken.test.ts': "import x from './missing.ts';\nx();\n" });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(/^the tests do not build:\ntest\/broken\.test\.ts:1: Could not resolve/);
  });
});

describe('node --test’s file patterns and TAP output', () => {
  it('picks the files node --test would', () => {
    const picked = [
      'test/echo.test.ts',
      'test/fake-ctx.ts',
      'src/add.test.ts',
      'src/add-test.mjs',
      'src/add_test.js',
      'test-add.ts',
      'test.ts',
      'src/tools/echo.ts',
      'src/types.d.ts',
      'test/data.json',
      'latest.ts',
    ].filter(isTestFile);
    expect(picked).toEqual([
      'test/echo.test.ts',
      'test/fake-ctx.ts',
      'src/add.test.ts',
      'src/add-test.mjs',
      'src/add_test.js',
      'test-add.ts',
      'test.ts',
    ]);
  });

  it('reads failures of nested tests and skips their suites’ summary failures', () => {
    const tap = [
      'TAP version 13',
      '# Subtest: math',
      '    # Subtest: adds \\# numbers',
      '    not ok 1 - adds \\# numbers',
      '      ---',
      "      location: '/repo/test/math.test.ts:4:3'",
      "      failureType: 'testCodeFailure'",
      '      error: |-',
      '        Expected values to be strictly equal:',
      '        ',
      '        3 !== 4',
      '        ',
      '      ...',
      '    1..1',
      'not ok 1 - math',
      '  ---',
      "  failureType: 'subtestsFailed'",
      "  error: '1 subtest failed'",
      '  ...',
      '# tests 1',
      '# fail 1',
    ].join('\n');
    expect(parseTap(tap)).toEqual({
      counts: { tests: 1, fail: 1 },
      failed: [
        {
          name: 'adds # numbers',
          location: 'test/math.test.ts:4',
          message: 'Expected values to be strictly equal: 3 !== 4',
        },
      ],
    });
  });
});
