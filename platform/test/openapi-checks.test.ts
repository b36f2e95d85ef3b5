import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { ProcessRuntime } from '@bmms/reconciler';
import { render } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticChecks, testsCheck } from '../src/checks/index.ts';
import { typecheckCheck } from '../src/checks/typecheck.ts';
import { convertDocument } from '../src/generation/openapi/convert.ts';
import { type ApiDocument, parseText, validateDocument } from '../src/generation/openapi/document.ts';
import { listOperations } from '../src/generation/openapi/operations.ts';
import { PLANS, type Plan } from '../src/plans.ts';
import { checkout, cleanup, tempDir } from './check-helpers.ts';
import { HAS_BWRAP } from './harness.ts';

// Every operation of GitHub's published document, imported 20 at a time (the Hobby plan's tool count):
// each rendered server must pass every static check as it is, with no finding.
const GITHUB_DOC = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
let doc: ApiDocument;

beforeAll(async () => {
  doc = await validateDocument(parseText(await readFile(GITHUB_DOC, 'utf8')));
}, 60_000);
afterAll(cleanup);

describe("static checks on servers imported from GitHub's document", () => {
  it('passes manifest, surface, security, secrets and dependencies for all 1,200+ operations', async () => {
    const ops = listOperations(doc);
    const failures: string[] = [];
    for (let start = 0; start < ops.length; start += 20) {
      const chunk = ops.slice(start, start + 20);
      const { spec, extras } = convertDocument(doc, chunk, 'github', PLANS.hobby, {
        auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
      });
      const input = await checkout(render(spec, extras), { serverName: 'github' });
      for (const check of staticChecks()) {
        const outcome = await check.run(input);
        if (outcome.conclusion !== 'success') {
          failures.push(
            `operations ${start}-${start + chunk.length - 1}: ${check.name}: ${outcome.summary.slice(0, 600)}`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('type-checks the handlers of every operation (one server holding all of them)', async () => {
    const unbounded: Plan = { ...PLANS.pro, maxTools: 10_000, descriptionTokens: { perTool: 1500, total: 1e9 } };
    const { spec } = convertDocument(doc, listOperations(doc), 'github', unbounded, {
      auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
    });
    const outcome = await typecheckCheck().run(await checkout(render(spec), { serverName: 'github' }));
    expect([outcome.conclusion, outcome.summary.slice(0, 2000)]).toEqual(['success', 'tsc: no type errors']);
  }, 300_000);

  it('passes the generated test of every operation, run in the sandbox (one server holding all of them)', async () => {
    const unbounded: Plan = { ...PLANS.pro, maxTools: 10_000, descriptionTokens: { perTool: 1500, total: 1e9 } };
    const ops = listOperations(doc);
    const { spec, extras } = convertDocument(doc, ops, 'github', unbounded, {
      auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
    });
    const files = render(spec, extras);
    expect(Object.keys(files).filter((f) => /^test\/.+\.test\.ts$/.test(f))).toHaveLength(ops.length);
    const runtime = new ProcessRuntime({ dataDir: await tempDir('bmms-jobs-'), insecure: !HAS_BWRAP, log: () => {} });
    const check = testsCheck(() => runtime, [], { timeoutMs: 120_000 });
    const input = await checkout(files, { serverName: 'github' });
    await check.prepare?.(input);
    const outcome = await check.run(input);
    expect([outcome.conclusion, outcome.summary.slice(0, 2000)]).toEqual([
      'success',
      `${ops.length} test(s) passed in ${ops.length + 1} file(s): ${Object.keys(files)
        .filter((f) => f.startsWith('test/'))
        .join(', ')} (node --test, sandboxed: no network)`.slice(0, 2000),
    ]);
  }, 300_000);
});
