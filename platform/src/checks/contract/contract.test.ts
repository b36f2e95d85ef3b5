import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BundleCache, ProcessRuntime } from '@bmms/reconciler';
import { renderTemplate, templates } from '@bmms/runner-template';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkout, cleanup, editManifest, tempDir, toolsOf } from '../../../test/check-helpers.ts';
import { HAS_BWRAP } from '../../../test/harness.ts';
import type { PreviewEndpoint } from '../../previews.ts';
import type { CheckOutcome } from '../types.ts';
import { type ContractOptions, contractCheck } from './index.ts';
import { compileSchema, generateCases, seedOf } from './inputs.ts';

let runtime: ProcessRuntime;
let bundles: BundleCache;
let trees = 0;
beforeAll(async () => {
  const dir = await tempDir('bmms-contract-');
  runtime = new ProcessRuntime({ dataDir: path.join(dir, 'data'), insecure: !HAS_BWRAP, log: () => {} });
  bundles = new BundleCache({ dir: path.join(dir, 'bundles') });
});
afterEach(async () => {
  await Promise.all(runtime.list().map((i) => runtime.stop(i.id, { graceMs: 500 })));
});
afterAll(cleanup);

/** Starts `files` as a preview would run them (bundled, sandboxed) and returns where to call it. */
async function preview(files: Record<string, string>, serverName = 'echo-demo'): Promise<PreviewEndpoint> {
  const tree = (++trees).toString(16).padStart(40, '0');
  const bundle = await bundles.ensure(tree, async (dir) => {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
  });
  const instance = await runtime.start({
    serverName,
    revision: tree,
    treeSha: tree,
    bundlePath: bundle.path,
    env: { BMMS_PREVIEW: '1' },
    kind: 'preview',
    limits: { memoryMb: 256, cpu: 0.5, timeoutMs: 2000 },
  });
  return { socketPath: instance.socketPath, headers: () => ({}) };
}

/** Runs the check on `files` against a preview of them, as the suite does, with the progress it reports. */
async function runContract(
  files: Record<string, string>,
  options: ContractOptions = {},
  serverName = 'echo-demo',
): Promise<CheckOutcome & { progress: string[] }> {
  const input = await checkout(files, { serverName });
  const endpoint = await preview(files, serverName);
  const check = contractCheck({ endpoint: async () => endpoint }, [], options);
  const progress: string[] = [];
  const outcome = await check.run({ ...input, progress: (text) => progress.push(text) });
  return { ...outcome, progress };
}

const echo = () => renderTemplate('echo', 'echo-demo');

/** The echo template with `src/tools/echo.ts`'s handler replaced. */
function echoWith(handler: string): Record<string, string> {
  const files = echo();
  const source = files['src/tools/echo.ts'] ?? '';
  const changed = source.replace('handler: ({ text }) => text,', `handler: ${handler},`);
  expect(changed).not.toBe(source);
  return { ...files, 'src/tools/echo.ts': changed };
}

describe('contract inputs', () => {
  const schema = {
    type: 'object',
    properties: {
      text: { type: 'string', maxLength: 50 },
      times: { type: 'integer', minimum: 1, maximum: 5 },
      mode: { enum: ['plain', 'loud'] },
    },
    required: ['text'],
  };

  it('are seeded: the same schema and seed give the same inputs, each valid or invalid as labelled', () => {
    const cases = generateCases(schema, seedOf('demo', 'say', schema));
    expect(generateCases(schema, seedOf('demo', 'say', schema))).toEqual(cases);
    const validate = compileSchema(schema);
    for (const c of cases) expect(validate(c.arguments), `${c.kind}: ${c.label}`).toBe(c.kind !== 'invalid');
    const labels = cases.map((c) => `${c.kind}: ${c.label}`);
    expect(labels.filter((l) => l.startsWith('valid:'))).toHaveLength(2);
    expect(labels).toEqual(
      expect.arrayContaining([
        'edge: text = "" (empty string)',
        'edge: text = 50 characters (maxLength)',
        'edge: times = 1 (minimum)',
        'edge: mode = "loud" (enum value)',
        'invalid: without required "text"',
        'invalid: text = 12345 (a number)',
        'invalid: times = 6 (above maximum)',
        'invalid: mode = "not-in-the-enum" (outside the enum)',
      ]),
    );
    expect(cases.filter((c) => c.kind === 'edge').length).toBeLessThanOrEqual(10);
  });
});

describe('the contract check', () => {
  it('passes the echo template, calling each tool with valid, edge and invalid inputs and the pure ones twice', async () => {
    const outcome = await runContract(echo());
    expect(outcome.conclusion, outcome.log).toBe('success');
    expect(outcome.summary).toMatch(
      /^2 tool\(s\), \d+ call\(s\) to the preview \(2 valid, \d+ edge case\(s\), \d+ invalid\): every answer as the schemas say; 2 readOnlyHint\/idempotentHint tool\(s\) answered alike twice\./,
    );
    expect(outcome.log).toMatch(/✓ edge input \{"text":""\} \(text = "" \(empty string\)\) → result: /);
    expect(outcome.log).toMatch(
      /✓ invalid input \{"a":-?[\d.e+]+\} \(without required "b"\) → tool error: Invalid arguments for tool add: b: /,
    );
    expect(outcome.progress[0]).toMatch(/^waiting for the preview$/);
    expect(outcome.progress[1]).toMatch(/^calling echo \(tool 1 of 2\) with \d+ generated input\(s\); 0 of \d+ sent$/);
  }, 60_000);

  it('fails a change that makes echo crash on an edge-case input, naming the tool and the input', async () => {
    const outcome = await runContract(echoWith("({ text }) => text.match(/\\S+/g)!.join(' ')"));
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toContain(
      `mcp.json: [contract-crash] tool "echo", edge input {"text":""} (text = "" (empty string)): the handler crashed: Cannot read properties of null (reading 'join')`,
    );
    expect(outcome.summary).toContain("(reading 'join') (and 1 more input(s) alike: see the log)");
    expect(outcome.log).toContain(`✗ edge input {"text":" "} (text = " " (whitespace only)) → tool error: Cannot read`);
    expect(outcome.summary).not.toContain('tool "add"');
  }, 60_000);

  it('fails a tool that takes the server down, naming the input it was sent just before', async () => {
    const outcome = await runContract(
      echoWith("({ text }) => { if (text === '') setTimeout(() => { throw new Error('boom'); }); return text; }"),
    );
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /\[contract-server-down\] tool "echo", .*the server stopped answering: .*; the inputs? (before it was|answered just before it were, newest first: .*)tool "echo" \{"text":""\}/,
    );
    expect(outcome.summary).toMatch(/\d+ input\(s\) not sent/);
  }, 60_000);

  it('fails a tool that accepts an input its schema rejects: mcp.json says maximum 10, the code does not check', async () => {
    const files = editManifest(echo(), (m) => {
      const add = toolsOf(m).find((t) => t.name === 'add') as { inputSchema: { properties: Record<string, object> } };
      add.inputSchema.properties.a = { type: 'number', maximum: 10 };
    });
    const outcome = await runContract(files);
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /\[contract-accepted-invalid\] tool "add", invalid input \{"a":11,"b":[^}]+\} \(a = 11 \(above maximum\)\): answered a result to an input its inputSchema rejects/,
    );
  }, 60_000);

  it('fails a tool whose code refuses every input mcp.json allows (a tool error for invalid arguments, 2025-11-25)', async () => {
    const files = echo();
    const source = files['src/tools/echo.ts'] ?? '';
    const strict = source.replace('input: { text: z.string() },', 'input: { text: z.string().regex(/^never$/) },');
    expect(strict).not.toBe(source);
    const outcome = await runContract({ ...files, 'src/tools/echo.ts': strict });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /\[contract-rejected-valid\] tool "echo" refused every input its inputSchema allows \(\d+\), so it never ran; e\.g\. .*Invalid arguments for tool echo: text: /,
    );
  }, 60_000);

  it('fails structured results that do not match the outputSchema, and pure tools that answer differently twice', async () => {
    const files = editManifest(echoWith('({ text }) => ({ echoed: text, at: Math.random() })'), (m) => {
      const tool = toolsOf(m).find((t) => t.name === 'echo') as Record<string, unknown>;
      tool.outputSchema = { type: 'object', properties: { echoed: { type: 'string' }, at: { type: 'string' } } };
    });
    const outcome = await runContract(files);
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /\[contract-output-schema\] tool "echo", valid input .*: structuredContent does not match its outputSchema: \/at must be string/,
    );
    expect(outcome.summary).toMatch(
      /\[contract-not-idempotent\] tool "echo", valid input .*called again\): is annotated readOnlyHint but answered the same input differently the second time/,
    );
  }, 60_000);

  it('fails a tool that hangs past its timeout and stops calling it', async () => {
    const files = editManifest(echoWith("({ text }) => { if (text === '') for (;;) {} return text; }"), (m) => {
      m.limits = { ...(m.limits as object), timeoutMs: 2000 };
    });
    const outcome = await runContract(files, { graceMs: 500 });
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toContain(
      `[contract-hang] tool "echo", edge input {"text":""} (text = "" (empty string)): no answer within 2.5 s`,
    );
  }, 60_000);

  it('reuses a passing run for a tree that differs only in Markdown, without calling a preview', async () => {
    const check = contractCheck({ endpoint: async () => endpoint }, []);
    const files = echo();
    const endpoint = await preview(files);
    const first = await check.run(await checkout(files, { serverName: 'echo-demo' }));
    expect(first.conclusion).toBe('success');
    await Promise.all(runtime.list().map((i) => runtime.stop(i.id, { graceMs: 500 })));
    const again = await check.run(await checkout({ ...files, 'README.md': 'changed\n' }, { serverName: 'echo-demo' }));
    expect(again.conclusion).toBe('success');
    expect(again.summary).toMatch(/\(reused: no file but Markdown changed since a tree whose run passed\)$/);
  }, 60_000);
});

// A template that fails its own platform's contract would be a trap for whoever starts from it. The preview has no
// secrets and no egress, so tools that call an API answer with a tool error there: a fine answer.
describe('every catalog template passes the contract check', () => {
  for (const name of Object.keys(templates)) {
    it(`${name}`, async () => {
      const serverName = `${name}-demo`;
      const outcome = await runContract(renderTemplate(name, serverName), {}, serverName);
      expect(outcome.findings ?? [], outcome.summary).toEqual([]);
      expect(outcome.conclusion, outcome.summary).toBe('success');
    }, 60_000);
  }
});
