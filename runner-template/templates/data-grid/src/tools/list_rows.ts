import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { config } from '../config.ts';
import { rowsOf } from '../rows.ts';

export default defineTool({
  name: 'list_rows',
  input: { limit: z.int().min(1).max(500).optional() },
  async handler(input, ctx) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.secretName !== null) headers[config.headerName] = ctx.secret(config.secretName);
    const response = await ctx.fetch(config.url, { headers });
    if (!response.ok) throw new Error(`GET ${config.url} failed: HTTP ${response.status}`);
    const { columns, rows } = rowsOf(await response.json(), config.rowsKey);
    const limit = input.limit ?? 100;
    return { title: config.title, source: config.url, columns, rows: rows.slice(0, limit), total: rows.length };
  },
});
