import { z } from 'zod';
import { TemplateOptionsError } from '../errors.ts';
import { parseServerSpec, SECRET_NAME, TOOL_NAME, toIssues } from '../spec.ts';
import { templateFiles } from './define.ts';
import type { Template } from './types.ts';

const optionsSchema = z.strictObject({
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .default('https://api.example.com')
    .refine((url) => new URL(url).search === '' && new URL(url).hash === '', 'must not have a query or fragment'),
  path: z
    .string()
    .regex(/^\/[^\s?#]*$/, 'must start with / and hold no query or spaces; use {param} for inputs')
    .default('/items/{id}'),
  headerName: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
    .default('X-API-Key'),
  headerPrefix: z
    .string()
    .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
    .default(''),
  secretName: z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE').default('API_KEY'),
  toolName: z.string().regex(TOOL_NAME, 'must be a valid MCP tool name').default('get_json'),
  description: z.string().min(1).optional(),
});

export type HttpJsonOptions = z.input<typeof optionsSchema>;

const PARAM = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g;

function source(o: z.output<typeof optionsSchema>, params: string[]): string {
  // The URL is built by concatenating literal pieces and encoded inputs: no template strings to escape.
  const pieces = o.path
    .split(PARAM)
    .map((piece, i) => (i % 2 === 1 ? `encodeURIComponent(input.${piece})` : JSON.stringify(piece)));
  const shape = params.map((p) => `${p}: z.string().min(1)`).join(', ');
  const base = o.baseUrl.replace(/\/+$/, '');
  const header =
    o.headerPrefix === '' ? `ctx.secret(SECRET)` : `${JSON.stringify(o.headerPrefix)} + ctx.secret(SECRET)`;
  return `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

const BASE_URL = ${JSON.stringify(base)};
const HEADER = ${JSON.stringify(o.headerName)};
const SECRET = ${JSON.stringify(o.secretName)};

export default defineTool({
  name: ${JSON.stringify(o.toolName)},
  input: {${shape === '' ? '' : ` ${shape} `}},
  async handler(${params.length > 0 ? 'input' : '_input'}, ctx) {
    const path = ${pieces.filter((p) => p !== '""').join(' + ') || '"/"'};
    const response = await ctx.fetch(BASE_URL + path, {
      headers: { [HEADER]: ${header}, accept: 'application/json' },
    });
    if (!response.ok) throw new Error(\`GET \${path} failed: HTTP \${response.status}\`);
    return JSON.stringify(await response.json(), null, 2);
  },
});
`;
}

/** The rendered `test/<tool>.test.ts`: calls the tool with a fake context and checks URL, header and result. */
function testSource(o: z.output<typeof optionsSchema>, params: string[]): string {
  const args = Object.fromEntries(params.map((p) => [p, `${p} 1/2`]));
  let path = o.path;
  for (const p of params) path = path.split(`{${p}}`).join(encodeURIComponent(`${p} 1/2`));
  const url = new URL(o.baseUrl.replace(/\/+$/, '') + path).href;
  return `import assert from 'node:assert/strict';
import { it } from 'node:test';
import tool from '../src/tools/${o.toolName}.ts';
import { call, fakeContext, json } from './fake-ctx.ts';

const ARGS = ${JSON.stringify(args)};
const VALUE = 'test-value';

it('GETs the API with the secret in a header and returns the JSON', async () => {
  const ctx = fakeContext({ secrets: { ${o.secretName}: VALUE }, respond: () => json({ ok: true, items: [1, 2] }) });
  const text = await call(tool, ARGS, ctx);
  assert.deepEqual(JSON.parse(String(text)), { ok: true, items: [1, 2] });
  assert.equal(ctx.requests.length, 1);
  assert.equal(ctx.requests[0]?.method, 'GET');
  assert.equal(ctx.requests[0]?.url.href, ${JSON.stringify(url)});
  assert.equal(ctx.requests[0]?.headers.get(${JSON.stringify(o.headerName)}), ${JSON.stringify(o.headerPrefix)} + VALUE);
});

it('fails with the HTTP status when the API answers an error', async () => {
  const ctx = fakeContext({ secrets: { ${o.secretName}: VALUE }, respond: () => json({ error: 'nope' }, 503) });
  await assert.rejects(call(tool, ARGS, ctx), /HTTP 503/);
});
`;
}

function parseOptions(options: Record<string, unknown>) {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new TemplateOptionsError('http-json', toIssues(parsed.error));
  const o = parsed.data;
  return { o, params: [...new Set([...o.path.matchAll(PARAM)].map((m) => m[1] as string))] };
}

/** `http-json`: one tool that GETs a JSON API with a secret in a header. */
export const httpJsonTemplate: Template = {
  name: 'http-json',
  title: 'HTTP JSON API',
  description: 'One read-only tool that GETs a JSON API, sending a secret in a header.',
  options: optionsSchema,
  extras(_serverName, options = {}) {
    const { o, params } = parseOptions(options);
    return {
      files: { ...templateFiles('_shared'), [`test/${o.toolName}.test.ts`]: testSource(o, params) },
      scripts: { test: 'node --test' },
    };
  },
  spec(serverName, options = {}) {
    const { o, params } = parseOptions(options);
    const url = new URL(o.baseUrl);
    return parseServerSpec({
      name: serverName,
      version: '0.1.0',
      description: `Reads JSON from ${url.origin}.`,
      tools: [
        {
          name: o.toolName,
          title: 'Get JSON',
          description: o.description ?? `GETs ${url.origin}${o.path} and returns the JSON response.`,
          inputSchema: {
            type: 'object',
            properties: Object.fromEntries(
              params.map((p) => [p, { type: 'string', minLength: 1, description: `Value for {${p}} in the path.` }]),
            ),
            required: params,
          },
          annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
          source: source(o, params),
        },
      ],
      secrets: [o.secretName],
      egress: [url.host],
    });
  },
};
