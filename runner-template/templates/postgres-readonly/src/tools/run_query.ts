import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { query } from '../db.ts';

export default defineTool({
  name: 'run_query',
  input: {
    sql: z.string().min(1).max(20_000),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(100)
      .default([]),
  },
  handler: ({ sql, params }, ctx) => query(ctx, sql, params),
});
