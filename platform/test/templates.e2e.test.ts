import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parseManifest, renderTemplate, templates } from '@bmms/runner-template';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeBody, HAS_BWRAP, type ServerBody, TestStack, textOf } from './harness.ts';
import { selfSignedCert } from './tls.ts';

// Every template of the catalog goes the whole way on a real stack: rendered into a new server's repo,
// every check green (typecheck and preview included), merged, deployed, and called through the gateway.
// Templates that reach the network get their secrets first, and their call leaves the sandbox through
// ctx.fetch and the platform's egress proxy to a local HTTPS upstream that stands in for GitHub, Neon,
// the feed, the web page, the webhook receiver and the JSON API: the proxy resolves every name to it (a
// test hook) and trusts its self-signed certificate. The upstream checks what a real one would (the token,
// the read-only batch, the webhook's signature) and answers like it. Without the rights to listen on
// port 443 the calls end at the proxy instead, and the test expects its refusal.

const UPSTREAM_IP = '127.53.0.1';
const HOSTS = [
  'api.example.com',
  'api.github.com',
  'ep-example-123456.us-east-2.aws.neon.tech',
  'hnrss.org',
  'en.wikipedia.org',
  'hooks.example.com',
];
const SECRETS: Record<string, Record<string, string>> = {
  'http-json': { API_KEY: 'e2e-api-value' },
  'github-issues': { GITHUB_TOKEN: 'e2e-token-value' },
  'postgres-readonly': { DATABASE_URL: 'postgresql://reader:e2e@ep-example-123456.us-east-2.aws.neon.tech/app' },
  webhook: { WEBHOOK_SECRET: 'e2e-signing-value' },
};

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

interface Case {
  call: { name: string; arguments: Record<string, unknown> };
  /** What the text shows when the upstream answers (or, for tools without network, always). */
  expectText: RegExp;
  /** Whether the call needs the network (offline it ends with the proxy's refusal). */
  network?: boolean;
}

const OFFLINE = /HTTP 502|egress_resolve_failed|egress_upstream_failed/;

const CASES: Record<string, Case> = {
  echo: { call: { name: 'echo', arguments: { text: 'hi' } }, expectText: /^hi$/ },
  'date-math': {
    call: { name: 'days_between', arguments: { from: '2026-11-02', to: '2026-12-02' } },
    expectText: /"days":30,"weeks":4,"months":1,"businessDays":22/,
  },
  'csv-json': {
    call: { name: 'csv_to_json', arguments: { csv: 'a,b\n1,"x, y"\n' } },
    expectText: /"records":\[\{"a":1,"b":"x, y"\}\]/,
  },
  'rss-reader': {
    call: { name: 'read_feed', arguments: {} },
    expectText: /"title":"Front page".*"title":"Launch day","link":"https:\/\/hnrss.org\/item\/1"/,
    network: true,
  },
  'web-page': {
    call: { name: 'get_page_text', arguments: { url: 'https://en.wikipedia.org/wiki/Calendar' } },
    expectText: /"title":"Calendar".*"headings":\["Calendar","Calendar systems"\]/,
    network: true,
  },
  'http-json': {
    call: { name: 'get_json', arguments: { id: '1' } },
    expectText: /"id": "1",\s+"name": "first item"/,
    network: true,
  },
  'github-issues': {
    call: { name: 'list_issues', arguments: {} },
    expectText: /"repo":"octocat\/hello-world","count":1,"issues":\[\{"number":7,"title":"Crash on save"/,
    network: true,
  },
  'postgres-readonly': {
    call: { name: 'run_query', arguments: { sql: 'SELECT 1 AS n' } },
    expectText: /"command":"SELECT","rowCount":1,"columns":\["n"\],"rows":\[\{"n":"1"\}\]/,
    network: true,
  },
  webhook: {
    call: { name: 'send_webhook', arguments: { event: 'ping', data: { n: 1 }, id: 'e2e-1' } },
    expectText: /"delivered":true,"id":"e2e-1","status":202/,
    network: true,
  },
  'data-grid': {
    call: { name: 'list_rows', arguments: { limit: 1 } },
    expectText: /"columns":\["id","name"\],"rows":\[\{"id":1,"name":"Ada"\}\],"total":2/,
    network: true,
  },
};

const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>Front page</title><link>https://hnrss.org/</link>
<item><title>Launch day</title><link>https://hnrss.org/item/1</link><pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>`;
const PAGE = `<html><head><title>Calendar</title></head><body><main><h1>Calendar</h1><p>A system of days.</p>
<h2>Calendar systems</h2><p>Solar, lunar.</p></main></body></html>`;

/** What the stand-in upstream saw, by host. */
const hits: { host: string; method: string; path: string }[] = [];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Answers like the real services would, and refuses what they would refuse. */
function answer(req: IncomingMessage, body: string): { status: number; type: string; text: string } {
  const host = (req.headers.host ?? '').replace(/:443$/, '');
  const path = req.url ?? '/';
  const h = (name: string) => String(req.headers[name] ?? '');
  const json = (value: unknown, status = 200) => ({ status, type: 'application/json', text: JSON.stringify(value) });
  hits.push({ host, method: req.method ?? '', path });
  if (host === 'api.example.com' && path === '/items/1') {
    return h('x-api-key') === SECRETS['http-json']?.API_KEY
      ? json({ id: '1', name: 'first item' })
      : json({ error: 'bad key' }, 401);
  }
  if (host === 'api.example.com' && path === '/items') {
    return json([
      { id: 1, name: 'Ada' },
      { id: 2, name: 'Grace' },
    ]);
  }
  if (host === 'api.github.com' && path.startsWith('/repos/octocat/hello-world/issues?')) {
    if (h('authorization') !== `token ${SECRETS['github-issues']?.GITHUB_TOKEN}`)
      return json({ message: 'Bad credentials' }, 401);
    return json([
      {
        number: 7,
        title: 'Crash on save',
        state: 'open',
        html_url: 'https://github.com/octocat/hello-world/issues/7',
        comments: 0,
        created_at: '2026-11-01T10:00:00Z',
        updated_at: '2026-11-02T10:00:00Z',
        user: { login: 'octocat' },
        labels: [],
        assignees: [],
      },
      { number: 8, title: 'A pull request', pull_request: { url: 'x' } },
    ]);
  }
  if (host === 'ep-example-123456.us-east-2.aws.neon.tech' && path === '/sql' && req.method === 'POST') {
    const readOnly = h('neon-batch-read-only') === 'true';
    const connection = h('neon-connection-string') === SECRETS['postgres-readonly']?.DATABASE_URL;
    const query = (JSON.parse(body) as { queries: { query: string }[] }).queries[0]?.query;
    if (!readOnly || !connection) return json({ message: 'refused by the stand-in', code: '28000' }, 400);
    return query === 'SELECT 1 AS n'
      ? json({ results: [{ command: 'SELECT', rowCount: 1, fields: [{ name: 'n' }], rows: [{ n: '1' }] }] })
      : json({ message: `unexpected query ${query}`, code: '42000' }, 400);
  }
  if (host === 'hnrss.org' && path === '/frontpage') return { status: 200, type: 'application/rss+xml', text: RSS };
  if (host === 'en.wikipedia.org' && path === '/wiki/Calendar') return { status: 200, type: 'text/html', text: PAGE };
  if (host === 'hooks.example.com' && path === '/events' && req.method === 'POST') {
    const signed = createHmac('sha256', SECRETS.webhook?.WEBHOOK_SECRET ?? '')
      .update(`${h('x-webhook-timestamp')}.${body}`)
      .digest('hex');
    return h('x-signature-256') === `sha256=${signed}`
      ? { status: 202, type: 'text/plain', text: 'accepted' }
      : json({}, 401);
  }
  return json({ message: 'Not Found' }, 404);
}

let upstream: Server | undefined;
let scratch: string;

/** Starts the stand-in on UPSTREAM_IP:443 with a certificate for every host; undefined when it may not listen there. */
async function startUpstream(): Promise<string | undefined> {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'bmms-tpl-upstream-'));
  const tls = selfSignedCert(scratch, HOSTS);
  const cert = tls.cert;
  const server = createServer({ key: tls.key, cert }, (req, res) => {
    readBody(req).then((body) => {
      const { status, type, text } = answer(req, body);
      res.writeHead(status, { 'content-type': type });
      res.end(text);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(443, UPSTREAM_IP, resolve);
    });
  } catch {
    return undefined;
  }
  upstream = server;
  return cert;
}

let stack: TestStack;
let online = false;
const deployed: Record<string, ServerBody> = {};
const firstChange: Record<string, ChangeBody> = {};

/** Creates the server from a template, sets its secrets, waits for its checks, merges and waits until it serves. */
async function deploy(template: string): Promise<void> {
  const name = `tpl-${template}`;
  const created = await stack.api('POST', '/api/v1/servers', { name, template });
  if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  for (const [secret, value] of Object.entries(SECRETS[template] ?? {})) {
    const set = await stack.api('PUT', `/api/v1/servers/${name}/secrets/${secret}`, { value });
    if (set.status !== 201) throw new Error(`secret ${secret}: ${set.status}`);
  }
  firstChange[template] = await stack.waitChecks(name, 1, 240_000);
  const merged = await stack.api<{ sha: string }>('POST', `/api/v1/servers/${name}/changes/1/merge`);
  if (merged.status !== 200) throw new Error(`merge ${name}: ${merged.status} ${JSON.stringify(merged.body)}`);
  deployed[template] = await stack.waitReady(name, merged.body.sha, 120_000);
}

beforeAll(async () => {
  const cert = await startUpstream();
  online = cert !== undefined;
  stack = await TestStack.start(
    {},
    online
      ? {
          egress: {
            lookup: async () => [{ address: UPSTREAM_IP, family: 4 }],
            allowPrivate: (address) => address === UPSTREAM_IP,
            ca: cert,
          },
        }
      : {},
  );
  // Two at a time: each suite runs tsc and a preview instance, and the machine has two cores.
  const names = Object.keys(templates);
  for (let i = 0; i < names.length; i += 2) await Promise.all(names.slice(i, i + 2).map(deploy));
}, 900_000);
afterAll(async () => {
  await stack?.destroy();
  upstream?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
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
        const offline = spec.network === true && !online;
        expect(Boolean(result.isError), textOf(result)).toBe(offline);
        expect(textOf(result)).toMatch(offline ? OFFLINE : spec.expectText);
      } finally {
        await client.close();
      }
    });
  }

  it('the network calls reached each service through the egress proxy, and nothing else was called', () => {
    // Root may listen on 443: then the upstream must have been used, not silently skipped.
    if (process.getuid?.() === 0) expect(online).toBe(true);
    if (!online) return;
    expect(hits.map((h) => `${h.method} ${h.host}${h.path.split('?')[0]}`).sort()).toEqual([
      'GET api.example.com/items',
      'GET api.example.com/items/1',
      'GET api.github.com/repos/octocat/hello-world/issues',
      'GET en.wikipedia.org/wiki/Calendar',
      'GET hnrss.org/frontpage',
      'POST ep-example-123456.us-east-2.aws.neon.tech/sql',
      'POST hooks.example.com/events',
    ]);
  });

  it('data-grid serves its view through the gateway to a client declaring MCP Apps, and structure with its text', async () => {
    const server = deployed['data-grid'];
    const client = new Client(
      { name: 'e2e-apps', version: '1.0.0' },
      { capabilities: { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: ['text/html;profile=mcp-app'] } } } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server?.url ?? ''), {
        requestInit: { headers: { Authorization: `Bearer ${stack.key}` } },
      }),
    );
    try {
      expect(client.getServerCapabilities()?.extensions).toHaveProperty(['io.modelcontextprotocol/ui']);
      const { tools } = await client.listTools();
      expect(tools[0]?._meta?.ui).toEqual({ resourceUri: 'ui://tpl-data-grid/grid', visibility: ['model', 'app'] });
      const read = await client.readResource({ uri: 'ui://tpl-data-grid/grid' });
      const view = read.contents[0] as { mimeType?: string; text?: string; _meta?: unknown };
      expect(view.mimeType).toBe('text/html;profile=mcp-app');
      expect(view._meta).toEqual({ ui: { csp: {}, prefersBorder: true } });
      expect(view.text).toContain('<script type="module">');
      if (online) {
        const result = await client.callTool({ name: 'list_rows', arguments: {} });
        expect(result.structuredContent).toMatchObject({ columns: ['id', 'name'], total: 2 });
      }
    } finally {
      await client.close();
    }
  });

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
