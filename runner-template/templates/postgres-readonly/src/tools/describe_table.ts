import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { query } from '../db.ts';

export default defineTool({
  name: 'describe_table',
  input: { table: z.string().min(1).max(63), schema: z.string().min(1).max(63).default('public') },
  async handler({ table, schema }, ctx) {
    const result = await query(
      ctx,
      `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, table],
    );
    if (result.rows.length === 0)
      throw new Error(`no table "${schema}.${table}" (or no access to it): try list_tables`);
    return { schema, table, columns: result.rows };
  },
});
