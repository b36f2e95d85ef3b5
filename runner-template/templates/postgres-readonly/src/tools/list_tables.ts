import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { query } from '../db.ts';

export default defineTool({
  name: 'list_tables',
  input: { schema: z.string().min(1).max(63).optional() },
  async handler({ schema }, ctx) {
    const result = await query(
      ctx,
      `SELECT table_schema, table_name, table_type FROM information_schema.tables
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND ($1::text IS NULL OR table_schema = $1)
       ORDER BY table_schema, table_name`,
      [schema ?? null],
    );
    return { tables: result.rows, truncated: result.truncated };
  },
});
