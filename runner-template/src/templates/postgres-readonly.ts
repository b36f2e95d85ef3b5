import { z } from 'zod';
import { SECRET_NAME } from '../spec.ts';
import { type StaticBuild, staticTemplate, WEB_PORT_MESSAGE, webPort } from './define.ts';

const options = z.strictObject({
  endpoint: z
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .default('https://ep-example-123456.us-east-2.aws.neon.tech/sql')
    .refine((url) => {
      const u = new URL(url);
      return u.search === '' && u.hash === '' && u.username === '' && u.password === '';
    }, 'must have no query, fragment or credentials (the connection string is a secret)')
    .refine(webPort, WEB_PORT_MESSAGE),
  secretName: z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE').default('DATABASE_URL'),
  maxRows: z.int().min(1).max(5000).default(200),
});

const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true };

/** `postgres-readonly`: read-only SQL over Neon's HTTP SQL protocol (a sandbox cannot open a TCP socket). */
export const postgresReadonlyTemplate = staticTemplate({
  name: 'postgres-readonly',
  title: 'Read-only Postgres queries',
  description:
    'Read-only SQL against Postgres through an HTTP SQL endpoint (Neon protocol): one SELECT-like statement per call, run in a READ ONLY transaction.',
  options,
  build: (o): StaticBuild => {
    const host = new URL(o.endpoint).host;
    return {
      description: `Read-only SQL queries against the Postgres database behind ${host}.`,
      tools: [
        {
          name: 'run_query',
          title: 'Run a read-only query',
          description: `Runs one read-only SQL statement (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN) with $1, $2… parameters and returns columns and rows (at most ${o.maxRows}; values as text). Writes, locks, SELECT INTO and several statements at once are refused; the database runs it in a READ ONLY transaction.`,
          inputSchema: {
            type: 'object',
            properties: {
              sql: {
                type: 'string',
                minLength: 1,
                maxLength: 20000,
                description: 'One statement; use $1, $2… for values.',
              },
              params: {
                type: 'array',
                maxItems: 100,
                items: { type: ['string', 'number', 'boolean', 'null'] },
                description: 'Values for $1, $2…',
              },
            },
            required: ['sql'],
          },
          annotations: readOnly,
        },
        {
          name: 'list_tables',
          title: 'List tables',
          description: 'Lists the tables and views of the database (schema, name, type), system schemas excluded.',
          inputSchema: {
            type: 'object',
            properties: { schema: { type: 'string', description: 'Only this schema, e.g. public.' } },
          },
          annotations: readOnly,
        },
        {
          name: 'describe_table',
          title: 'Describe a table',
          description: 'Lists the columns of a table or view: name, data type, nullability and default, in order.',
          inputSchema: {
            type: 'object',
            properties: {
              table: { type: 'string', description: 'Table name.' },
              schema: { type: 'string', description: 'Schema (default public).' },
            },
            required: ['table'],
          },
          annotations: readOnly,
        },
      ],
      secrets: [o.secretName],
      egress: [host],
      config: { endpoint: o.endpoint, secretName: o.secretName, maxRows: o.maxRows },
      notes: `A sandboxed server cannot open a TCP connection to Postgres, so this server speaks Postgres over HTTPS: Neon's HTTP SQL protocol (\`POST ${o.endpoint}\` with the connection string in a header). Set the connection string of a **read-only role**: \`PUT /api/v1/servers/<name>/secrets/${o.secretName}\` with \`{"value":"postgresql://reader:…@${host}/db"}\`. Three guards stand between a tool call and a write: the statement check in \`src/guard.ts\`, the READ ONLY transaction every query runs in, and the role's own grants.`,
    };
  },
});
