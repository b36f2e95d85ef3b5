import type { JsonValue, ToolContext } from '@bmms/runner-template/runtime';
import { config } from './config.ts';
import { checkReadOnly } from './guard.ts';

export type Param = string | number | boolean | null;

export type QueryResult = {
  command: string;
  rowCount: number | null;
  columns: string[];
  rows: Record<string, JsonValue>[];
  truncated: boolean;
};

interface HttpResult {
  command?: string;
  rowCount?: number | null;
  fields?: { name: string }[];
  rows?: Record<string, JsonValue>[];
}

/**
 * Runs one read-only statement over the HTTP SQL endpoint (Neon's `/sql` protocol): the guard first,
 * then a one-query batch the database runs in a READ ONLY transaction. The connection string, with its
 * password, goes only in the request header and never into a log or an error.
 */
export async function query(ctx: ToolContext, sql: string, params: Param[] = []): Promise<QueryResult> {
  const verdict = checkReadOnly(sql);
  if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
  const response = await ctx.fetch(config.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'neon-connection-string': ctx.secret(config.secretName),
      'neon-raw-text-output': 'true',
      'neon-array-mode': 'false',
      'neon-batch-read-only': 'true',
      'neon-batch-isolation-level': 'RepeatableRead',
    },
    body: JSON.stringify({ queries: [{ query: verdict.sql, params }] }),
  });
  const text = await response.text();
  let body: { results?: HttpResult[]; message?: string; code?: string } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported below with the status
  }
  if (!response.ok) {
    const detail = body.message ? `${body.message}${body.code ? ` (SQLSTATE ${body.code})` : ''}` : text.slice(0, 200);
    throw new Error(`the database answered HTTP ${response.status}: ${detail}`);
  }
  const [result] = body.results ?? [];
  if (!result) throw new Error('the database answered without a result');
  const rows = result.rows ?? [];
  return {
    command: result.command ?? '',
    rowCount: result.rowCount ?? null,
    columns: (result.fields ?? []).map((f) => f.name),
    rows: rows.slice(0, config.maxRows),
    truncated: rows.length > config.maxRows,
  };
}
