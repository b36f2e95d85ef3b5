import { type RenderExtras, type ServerSpec, templateFiles } from '@bmms/runner-template';

/** The test file of one tool of a generated server. */
export const toolTestPath = (tool: string): string => `test/${tool}.test.ts`;

/**
 * The tests a server generated from a prompt starts with (run by the `tests` check as `npm test` = `node --test`): the
 * fake context of the templates, and per tool a test that its file defines the tool `mcp.json` declares and that it
 * refuses arguments that are not an object. Tools whose test file `existing` already holds get none: an iteration never
 * overwrites a test someone wrote.
 */
export function generatedTestExtras(spec: ServerSpec, existing: ReadonlySet<string> = new Set()): RenderExtras {
  const files: Record<string, string> = {};
  const shared = templateFiles('_shared');
  for (const [path, text] of Object.entries(shared)) if (!existing.has(path)) files[path] = text;
  for (const tool of spec.tools) {
    const path = toolTestPath(tool.name);
    if (!existing.has(path)) files[path] = toolTest(tool.name);
  }
  return { files, scripts: { test: 'node --test' } };
}

function toolTest(name: string): string {
  const q = JSON.stringify;
  return [
    "import assert from 'node:assert/strict';",
    "import { it } from 'node:test';",
    `import tool from '../src/tools/${name}.ts';`,
    "import { rejects } from './fake-ctx.ts';",
    '',
    '// Add a test of what the tool does: `call(tool, input, fakeContext({ respond, secrets }))` from ./fake-ctx.ts.',
    `it(${q(`${name} is the tool mcp.json declares and refuses arguments that are not an object`)}, () => {`,
    `  assert.equal(tool.name, ${q(name)});`,
    "  assert.ok(rejects(tool, 'not an object'));",
    '});',
    '',
  ].join('\n');
}
