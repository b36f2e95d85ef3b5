import { parseManifest, renderTemplate, templates } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeBody, HAS_BWRAP, type ServerBody, TestStack, textOf } from './harness.ts';

// Every template of the catalog goes the whole way on a real stack: rendered into a new server's repo,
// every check green (typecheck and preview included), merged, deployed, and called through the gateway.
// Templates that reach the network get their secrets first; their call goes out through ctx.fetch to the
// egress proxy, which cannot reach the host from this offline machine: the tool reports the proxy's
// refusal as its error. Their behaviour against an upstream is proved by each rendered repo's own tests.

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

interface Case {
  /** A call and what its text must show. */
  call: { name: string; arguments: Record<string, unknown> };
  expectText: RegExp;
  isError: boolean;
  secrets?: Record<string, string>;
}

const OFFLINE = /HTTP 502|egress_resolve_failed|egress_upstream_failed/;

const CASES: Record<string, Case> = {
  echo: { call: { name: 'echo', arguments: { text: 'hi' } }, expectText: /^hi$/, isError: false },
  'date-math': {
    call: { name: 'days_between', arguments: { from: '2026-11-02', to: '2026-12-02' } },
    expectText: /"days":30,"weeks":4,"months":1,"businessDays":22/,
    isError: false,
  },
  'csv-json': {
    call: { name: 'csv_to_json', arguments: { csv: 'a,b\n1,"x, y"\n' } },
    expectText: /"records":\[\{"a":1,"b":"x, y"\}\]/,
    isError: false,
  },
  'rss-reader': {
    call: { name: 'read_feed', arguments: {} },
    expectText: OFFLINE,
    isError: true,
  },
  'web-page': {
    call: { name: 'get_page_text', arguments: { url: 'https://en.wikipedia.org/wiki/Calendar' } },
    expectText: OFFLINE,
    isError: true,
  },
  'http-json': {
    call: { name: 'get_json', arguments: { id: '1' } },
    expectText: OFFLINE,
    isError: true,
    secrets: { API_KEY: 'e2e-api-value' },
  },
  'github-issues': {
    call: { name: 'list_issues', arguments: {} },
    expectText: /list issues: GitHub answered HTTP 502/,
    isError: true,
    secrets: { GITHUB_TOKEN: 'e2e-token-value' },
  },
  'postgres-readonly': {
    call: { name: 'run_query', arguments: { sql: 'SELECT 1' } },
    expectText: /the database answered HTTP 502/,
    isError: true,
    secrets: { DATABASE_URL: 'postgresql://reader:e2e@db.invalid/app' },
  },
  webhook: {
    call: { name: 'send_webhook', arguments: { event: 'ping', data: { n: 1 } } },
    expectText: /the receiver answered HTTP 502: .*egress_resolve_failed/,
    isError: true,
    secrets: { WEBHOOK_SECRET: 'e2e-signing-value' },
  },
};

let stack: TestStack;
const deployed: Record<string, ServerBody> = {};
const firstChange: Record<string, ChangeBody> = {};

/** Creates the server from a template, sets its secrets, waits for its checks, merges and waits until it serves. */
async function deploy(template: string): Promise<void> {
  const name = `tpl-${template}`;
  const created = await stack.api('POST', '/api/v1/servers', { name, template });
  if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  for (const [secret, value] of Object.entries(CASES[template]?.secrets ?? {})) {
    const set = await stack.api('PUT', `/api/v1/servers/${name}/secrets/${secret}`, { value });
    if (set.status !== 201) throw new Error(`secret ${secret}: ${set.status}`);
  }
  firstChange[template] = await stack.waitChecks(name, 1, 240_000);
  const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/${name}/changes/1/merge`);
  if (merged.status !== 200) throw new Error(`merge ${name}: ${merged.status} ${JSON.stringify(merged.body)}`);
  deployed[template] = await stack.waitReady(name, merged.body.sha, 120_000);
}

beforeAll(async () => {
  stack = await TestStack.start();
  // Two at a time: each suite runs tsc and a preview instance, and the machine has two cores.
  const names = Object.keys(templates);
  for (let i = 0; i < names.length; i += 2) await Promise.all(names.slice(i, i + 2).map(deploy));
}, 900_000);
afterAll(async () => {
  await stack?.destroy();
});

describe('every catalog template renders, passes every check and serves', () => {
  it('covers the whole catalog', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(templates).sort());
  });

  for (const template of Object.keys(templates)) {
    it(`${template}: green checks, Ready, tools/list equals the manifest, one tools/call`, async () => {
      const change = firstChange[template];
      expect(change?.checkSuite.conclusion).toBe('success');
      for (const check of change?.checks ?? []) {
        const allowed = check.name === 'preview' && !HAS_BWRAP ? ['success', 'skipped'] : ['success'];
        expect(allowed, `${template} ${check.name}: ${check.summary}`).toContain(check.conclusion);
      }
      expect(change?.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['typecheck', 'security', 'surface']));

      const server = deployed[template];
      expect(server?.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      const manifest = parseManifest(renderTemplate(template, `tpl-${template}`)['mcp.json'] ?? '');
      const client = await stack.mcpClient(server?.url ?? '');
      try {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toEqual(manifest.tools.map((t) => t.name));
        const spec = CASES[template];
        if (!spec) throw new Error(`no case for ${template}`);
        const result = (await client.callTool(spec.call)) as ToolResult;
        expect(Boolean(result.isError), textOf(result)).toBe(spec.isError);
        expect(textOf(result)).toMatch(spec.expectText);
      } finally {
        await client.close();
      }
    });
  }

  it('postgres-readonly refuses a write at run time, before anything leaves the sandbox', async () => {
    const client = await stack.mcpClient(deployed['postgres-readonly']?.url ?? '');
    try {
      const result = (await client.callTool({
        name: 'run_query',
        arguments: { sql: 'WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone' },
      })) as ToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/refused: "DELETE" is not allowed in a read-only query/);
    } finally {
      await client.close();
    }
  });
});
