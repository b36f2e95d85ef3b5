import { z } from 'zod';
import { SECRET_NAME } from '../spec.ts';
import { type StaticBuild, staticTemplate, WEB_PORT_MESSAGE, webPort } from './define.ts';

const options = z.strictObject({
  url: z
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .refine((url) => new URL(url).username === '' && new URL(url).password === '', 'must not hold credentials')
    .refine(webPort, WEB_PORT_MESSAGE)
    .default('https://api.example.com/items'),
  rowsKey: z
    .string()
    .regex(/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/, 'must be a dotted path such as "data.items"')
    .optional(),
  title: z.string().min(1).max(80).default('Rows'),
  secretName: z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE').optional(),
  headerName: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
    .default('X-API-Key'),
});

/** The structure `list_rows` returns: the view renders it, a client without views reads it as JSON text. */
const ROWS_SCHEMA = {
  type: 'object' as const,
  properties: {
    title: { type: 'string' },
    source: { type: 'string' },
    columns: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: { type: 'object' } },
    total: { type: 'integer' },
  },
  required: ['title', 'source', 'columns', 'rows', 'total'],
};

/** `data-grid`: one tool that reads rows from a JSON API, shown as a sortable, filterable table (MCP Apps). */
export const dataGridTemplate = staticTemplate({
  name: 'data-grid',
  title: 'Data grid over a JSON API',
  description:
    'Reads a list of records from a JSON API and shows it as a sortable, filterable table in hosts with MCP Apps.',
  options,
  build: (o): StaticBuild => {
    const url = new URL(o.url);
    return {
      description: `Shows the records of ${url.origin}${url.pathname} as a table.`,
      tools: [
        {
          name: 'list_rows',
          title: `List ${o.title.toLowerCase()}`,
          description: `Reads the records of ${url.host}${url.pathname} and returns them as rows with their columns; hosts with MCP Apps show them as a table.`,
          inputSchema: {
            type: 'object',
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 500, description: 'Most rows to return (default 100).' },
            },
          },
          outputSchema: ROWS_SCHEMA,
          annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
          view: { name: 'grid', visibility: ['model', 'app'] },
        },
      ],
      secrets: o.secretName ? [o.secretName] : [],
      egress: [url.host],
      config: {
        url: o.url,
        rowsKey: o.rowsKey ?? null,
        title: o.title,
        secretName: o.secretName ?? null,
        headerName: o.headerName,
      },
      views: [
        {
          name: 'grid',
          title: o.title,
          description: `A sortable, filterable table of the records of ${url.host}${url.pathname}.`,
          source: 'ui/grid.html',
          _meta: { ui: { csp: {}, prefersBorder: true } },
        },
      ],
    };
  },
});
