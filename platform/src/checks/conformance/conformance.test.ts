import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BundleCache, ProcessRuntime } from '@bmms/reconciler';
import { renderTemplate } from '@bmms/runner-template';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkout, cleanup, editManifest, tempDir, toolsOf } from '../../../test/check-helpers.ts';
import { HAS_BWRAP } from '../../../test/harness.ts';
import type { PreviewEndpoint } from '../../previews.ts';
import type { CheckOutcome } from '../types.ts';
import { EXPECTED_FAILURES, NOT_IN_ACTIVE_SUITE } from './baseline.ts';
import { openBridge } from './bridge.ts';
import { conformanceCheck } from './index.ts';

const require = createRequire(import.meta.url);
let runtime: ProcessRuntime;
let bundles: BundleCache;
let trees = 0;
beforeAll(async () => {
  const dir = await tempDir('bmms-conformance-');
  runtime = new ProcessRuntime({ dataDir: path.join(dir, 'data'), insecure: !HAS_BWRAP, log: () => {} });
  bundles = new BundleCache({ dir: path.join(dir, 'bundles') });
});
afterEach(async () => {
  await Promise.all(runtime.list().map((i) => runtime.stop(i.id, { graceMs: 500 })));
});
afterAll(cleanup);

/** Starts `files` as a preview runs them (bundled, sandboxed, verifying no credential) and returns where it is. */
async function preview(files: Record<string, string>): Promise<PreviewEndpoint> {
  const tree = (++trees).toString(16).padStart(40, 'c');
  const bundle = await bundles.ensure(tree, async (dir) => {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
  });
  const instance = await runtime.start({
    serverName: 'conf-demo',
    revision: tree,
    treeSha: tree,
    bundlePath: bundle.path,
    env: { BMMS_PREVIEW: '1' },
    kind: 'preview',
    limits: { memoryMb: 256, cpu: 0.5, timeoutMs: 5000 },
  });
  return { socketPath: instance.socketPath, headers: () => ({}) };
}

async function runConformance(files: Record<string, string>): Promise<CheckOutcome & { progress: string[] }> {
  const input = await checkout(files, { serverName: 'conf-demo' });
  const endpoint = await preview(files);
  const progress: string[] = [];
  const check = conformanceCheck({ endpoint: async () => endpoint }, []);
  const outcome = await check.run({ ...input, progress: (text) => progress.push(text) });
  return { ...outcome, progress };
}

describe('the conformance check', () => {
  it('passes the echo template, running only the scenarios outside the platform’s baseline', async () => {
    const outcome = await runConformance(renderTemplate('echo', 'conf-demo'));
    expect(outcome.conclusion, outcome.log).toBe('success');
    expect(outcome.summary).toBe(
      `@modelcontextprotocol/conformance 0.1.16: 4 of 4 server scenarios passed (server-initialize, ping, tools-list, server-sse-multiple-streams); the ${Object.keys(EXPECTED_FAILURES).length} expected failure(s) on this platform are not run`,
    );
    expect(outcome.log).toContain(`– prompts-list (not run) — ${EXPECTED_FAILURES['prompts-list']}`);
    expect(outcome.log).toContain(`– server-sse-polling (not run) — ${NOT_IN_ACTIVE_SUITE['server-sse-polling']}`);
    expect(outcome.progress).toEqual([
      'waiting for the preview',
      'scenario 1 of 4: server-initialize',
      'scenario 2 of 4: ping',
      'scenario 3 of 4: tools-list',
      'scenario 4 of 4: server-sse-multiple-streams',
    ]);
  }, 120_000);

  it('keeps the baseline true: the CLI’s whole active suite on the echo template fails exactly its scenarios', async () => {
    const files = renderTemplate('echo', 'conf-demo');
    const bridge = await openBridge(await preview(files));
    const out = await tempDir('bmms-conformance-suite-');
    try {
      const cli = path.join(path.dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist');
      const run = (args: string[]) =>
        new Promise<string>((resolve) => {
          execFile(process.execPath, [path.join(cli, 'index.js'), ...args], { cwd: out }, (_err, stdout) =>
            resolve(stdout),
          );
        });
      const listed = [...(await run(['list', '--server'])).matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]);
      const output = await run(['server', '--url', bridge.url, '--output-dir', out]);
      const ran = [...output.matchAll(/^([✓✗]) (\S+): \d+ passed, \d+ failed$/gm)];
      // The active suite is what the CLI lists, less what the platform says is outside it.
      expect(ran.map((m) => m[2]).sort()).toEqual(listed.filter((s) => !(s in NOT_IN_ACTIVE_SUITE)).sort());
      const failed = ran.filter((m) => m[1] === '✗').map((m) => m[2]);
      expect(failed.sort()).toEqual(Object.keys(EXPECTED_FAILURES).sort());
    } finally {
      await bridge.close();
    }
  }, 120_000);

  it('fails a change that breaks the protocol, naming the scenario: an outputSchema no client can compile', async () => {
    const files = editManifest(renderTemplate('echo', 'conf-demo'), (m) => {
      const echo = toolsOf(m).find((t) => t.name === 'echo') as Record<string, unknown>;
      echo.outputSchema = { type: 'object', properties: { text: { type: 'text' } } };
    });
    const outcome = await runConformance(files);
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /^@modelcontextprotocol\/conformance 0\.1\.16: 1 scenario\(s\) failed that servers on this platform pass \(3 of 4 server scenarios passed\):\n✗ tools-list\n {4}ToolsList: Failed: /,
    );
  }, 120_000);

  it('starts no runner once stopped while it waited for the preview (a deleted server): nothing is written', async () => {
    const input = await checkout(renderTemplate('echo', 'conf-demo'), { serverName: 'conf-demo' });
    const stop = new AbortController();
    const check = conformanceCheck(
      {
        // The server is deleted while the check waits: its abort comes before the runner would start.
        endpoint: async () => {
          stop.abort();
          return { socketPath: path.join(input.workDir, 'no-preview.sock'), headers: () => ({}) };
        },
      },
      [],
    );
    const outcome = await check.run({ ...input, signal: stop.signal });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.log).toContain('stopped before the runner started');
    expect(await readdir(path.join(input.workDir, 'conformance'))).toEqual([]);
  }, 120_000);

  it('reuses a passing run when only tool code changed, without calling a preview', async () => {
    const files = renderTemplate('echo', 'conf-demo');
    const endpoint = await preview(files);
    let asked = 0;
    const check = conformanceCheck(
      {
        endpoint: async () => {
          asked++;
          return endpoint;
        },
      },
      [],
    );
    expect((await check.run(await checkout(files, { serverName: 'conf-demo' }))).conclusion).toBe('success');
    const source = files['src/tools/echo.ts'] ?? '';
    const changed = { ...files, 'src/tools/echo.ts': source.replace('=> text,', '=> text.trim(),') };
    const again = await check.run(await checkout(changed, { serverName: 'conf-demo' }));
    expect(again.summary).toMatch(
      /\(reused: only tool code, tests or Markdown changed since a tree whose run passed\)$/,
    );
    expect(asked).toBe(1);
    const manifest = editManifest(files, (m) => {
      m.description = 'Echoes text back, described anew.';
    });
    await check.run(await checkout(manifest, { serverName: 'conf-demo' }));
    expect(asked).toBe(2);
  }, 120_000);
});
