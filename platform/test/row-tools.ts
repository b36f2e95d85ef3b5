import type { TestStack } from './harness.ts';

// Two more tools for a data-grid server, for views fed by several tools: `recent_rows` returns what `list_rows`
// returns (the same output schema: it can feed list_rows's views), `count_rows` only counts (no `rows`: it cannot
// feed a view that reads them).

const RECENT_ROWS = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { config } from '../config.ts';
import { rowsOf } from '../rows.ts';

export default defineTool({
  name: 'recent_rows',
  input: { limit: z.int().min(1).max(500).optional() },
  async handler(input, ctx) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.secretName !== null) headers[config.headerName] = ctx.secret(config.secretName);
    const response = await ctx.fetch(config.url, { headers });
    if (!response.ok) throw new Error(\`GET \${config.url} failed: HTTP \${response.status}\`);
    const { columns, rows } = rowsOf(await response.json(), config.rowsKey);
    const limit = input.limit ?? 10;
    return { title: config.title, source: config.url, columns, rows: rows.slice(-limit), total: rows.length };
  },
});
`;

const COUNT_ROWS = `import { defineTool } from '@bmms/runner-template/runtime';
import { config } from '../config.ts';
import { rowsOf } from '../rows.ts';

export default defineTool({
  name: 'count_rows',
  input: {},
  async handler(_input, ctx) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.secretName !== null) headers[config.headerName] = ctx.secret(config.secretName);
    const response = await ctx.fetch(config.url, { headers });
    if (!response.ok) throw new Error(\`GET \${config.url} failed: HTTP \${response.status}\`);
    return { source: config.url, total: rowsOf(await response.json(), config.rowsKey).rows.length };
  },
});
`;

interface ToolEntry {
  name: string;
  title?: string;
  description: string;
  _meta?: unknown;
  [key: string]: unknown;
}

/**
 * Commits `recent_rows` and `count_rows` to main of a data-grid server (manifest entries, tool modules,
 * registration), as a merged change would leave them; returns main's new head.
 */
export async function addRowTools(stack: TestStack, server: string): Promise<string> {
  const { git } = stack.platform.ctx;
  const head = (await git.resolveRef(server, 'refs/heads/main')) as string;
  const manifest = JSON.parse((await git.readFile(server, head, 'mcp.json')) ?? '') as { tools: ToolEntry[] };
  const list = manifest.tools.find((t) => t.name === 'list_rows') as ToolEntry;
  const { _meta: _view, ...copy } = list;
  manifest.tools.push(
    {
      ...copy,
      name: 'recent_rows',
      title: 'Recent rows',
      description: 'Reads the last records of the API (10 by default) as rows with their columns.',
    },
    {
      name: 'count_rows',
      title: 'Count rows',
      description: 'Counts the records of the API.',
      inputSchema: { type: 'object', properties: {} },
      outputSchema: {
        type: 'object',
        properties: { source: { type: 'string' }, total: { type: 'integer' } },
        required: ['source', 'total'],
      },
      annotations: list.annotations,
    },
  );
  const serverTs = ((await git.readFile(server, head, 'src/server.ts')) ?? '')
    .replace(
      "import list_rows from './tools/list_rows.ts';",
      "import count_rows from './tools/count_rows.ts';\nimport list_rows from './tools/list_rows.ts';\nimport recent_rows from './tools/recent_rows.ts';",
    )
    .replace('tools: [list_rows]', 'tools: [list_rows, recent_rows, count_rows]');
  const { sha } = await git.commitFiles(server, {
    branch: 'main',
    parent: head,
    files: {
      'mcp.json': `${JSON.stringify(manifest, null, 2)}\n`,
      'src/server.ts': serverTs,
      'src/tools/recent_rows.ts': RECENT_ROWS,
      'src/tools/count_rows.ts': COUNT_ROWS,
    },
    message: 'recent_rows and count_rows',
    author: { name: 'Test', email: 'test@example.com' },
  });
  return sha;
}
