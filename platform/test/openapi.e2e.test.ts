import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationConfigFromEnv } from '../src/generation/config.ts';
import { type ChangeBody, type ServerBody, TestStack, textOf } from './harness.ts';
import { selfSignedCert } from './tls.ts';

// GitHub's published document is imported through the API; the deployed server's ctx.fetch goes through the
// platform's egress proxy to "api.github.com", which the test resolves to a local HTTPS fake (its own CA).
const GITHUB_DOC = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
const TOKEN = `ghtest_${randomBytes(12).toString('hex')}`;
const OPERATIONS = [
  'issues/create',
  'issues/list-for-repo',
  'issues/get',
  'issues/update',
  'issues/create-comment',
  'issues/add-labels',
  'repos/get',
  'repos/list-for-org',
  'repos/list-branches',
  'repos/delete',
  'GET /repos/{owner}/{repo}/contents/{path}',
  'pulls/list',
  'pulls/get',
  'pulls/create',
  'search/repos',
  'users/get-authenticated',
  'git/get-ref',
  'gists/create',
  'activity/list-stargazers-for-repo',
  'repos/create-for-authenticated-user',
];

/** A small valid document with `n` GET operations `op0`…, served by https://api.example.com. */
const manyOperations = (n: number) => ({
  openapi: '3.0.0',
  info: { title: 'many', version: '1' },
  servers: [{ url: 'https://api.example.com' }],
  paths: Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `/op${i}`,
      { get: { operationId: `op${i}`, responses: { 200: { description: 'ok' } } } },
    ]),
  ),
});

interface Hit {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

let stack: TestStack;
let tmp: string;
let fake: Server;
let docs: Server;
let docsHost: string;
const hits: Hit[] = [];

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'bmms-openapi-'));
  const tls = selfSignedCert(tmp, ['api.github.com']);
  const cert = tls.cert;
  // A fake of the GitHub endpoints the tools call: it records each request and answers JSON.
  fake = createHttpsServer({ key: tls.key, cert }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      hits.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"message":"Bad credentials"}');
        return;
      }
      if (req.method === 'GET' && req.url === '/repos/acme/rocket/issues/404') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"message":"Not Found"}');
        return;
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
    });
  }) as unknown as Server;
  const fakePort = await listen(fake);
  const githubText = await readFile(GITHUB_DOC);
  docs = createHttpServer((req, res) => {
    if (req.url === '/github.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(githubText);
    } else if (req.url === '/broken.yaml') {
      res.writeHead(200, { 'content-type': 'application/yaml' });
      res.end('openapi: 3.0.0\ninfo: {title: x, version: "1"}\npaths:\n  /a:\n    get:\n      responses: 5\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  docsHost = `127.0.0.1:${await listen(docs)}`;
  stack = await TestStack.start(
    { generation: { ...generationConfigFromEnv({}), openapiHosts: [docsHost] } },
    {
      egress: {
        lookup: async (host) => (host === 'api.github.com' ? [{ address: '127.0.0.1', family: 4 }] : []),
        allowPrivate: (address) => address === '127.0.0.1',
        ca: cert,
        upstreamPort: (host, port) => (host === 'api.github.com' && port === 443 ? fakePort : port),
      },
    },
  );
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
  fake?.close();
  docs?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('import of GitHub’s OpenAPI document', () => {
  it('lists the operations to select from (GET with a URL)', async () => {
    const r = await stack.api<{
      title: string;
      count: number;
      maxTools: number;
      operations: { id: string; method: string }[];
    }>('GET', `/api/v1/openapi/operations?url=${encodeURIComponent(`http://${docsHost}/github.json`)}`);
    expect(r.status).toBe(200);
    expect(r.body.count).toBeGreaterThan(1000);
    expect(r.body.maxTools).toBe(20);
    expect(r.body.operations).toContainEqual(expect.objectContaining({ id: 'issues/create', method: 'POST' }));

    // The same document sent inline: 13 MB of JSON in the request body.
    const inline = await stack.api<{ title: string; count: number }>('POST', '/api/v1/openapi/operations', {
      openapi: JSON.parse(await readFile(GITHUB_DOC, 'utf8')),
    });
    expect(inline.status).toBe(200);
    expect(inline.body).toMatchObject({ title: r.body.title, count: r.body.count });
  }, 60_000);

  it('asks for a selection when the document has more operations than a server may have tools', async () => {
    const r = await stack.api<{ error: { code: string; message: string } }>('POST', '/api/v1/servers', {
      name: 'github',
      openapi: `http://${docsHost}/github.json`,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('openapi_selection_required');
    expect(r.body.error.message).toMatch(/has \d{4} operations, more than the 20 tools/);
    expect(r.body.error.message).toContain('POST /api/v1/openapi/operations');
    expect((await stack.api('GET', '/api/v1/servers/github')).status).toBe(404);
  }, 60_000);

  it('imports 20 operations: green change, deployed server whose tools call the API with the secret', async () => {
    const created = await stack.api<{ server: { name: string }; change: ChangeBody }>('POST', '/api/v1/servers', {
      name: 'github',
      openapi: `http://${docsHost}/github.json`,
      operations: OPERATIONS,
      auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.change.number).toBe(1);
    const put = await stack.api('PUT', '/api/v1/servers/github/secrets/GITHUB_TOKEN', { value: TOKEN });
    expect(put.status).toBeLessThan(300);

    const change = await stack.waitChecks('github', 1, 240_000);
    expect(change.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['typecheck', 'security', 'secrets', 'dependencies', 'manifest', 'surface']),
    );
    expect(
      change.checks.filter(
        (c) => c.conclusion !== 'success' && c.conclusion !== 'neutral' && c.conclusion !== 'skipped',
      ),
    ).toEqual([]);
    const merged = await stack.api<{ sha: string }>('POST', '/api/v1/servers/github/changes/1/merge');
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    const ready = await stack.waitReady('github', merged.body.sha, 120_000);

    const client = await stack.mcpClient(ready.url);
    try {
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(20);
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(['issues_create', 'issues_list_for_repo', 'repos_get_content', 'search_repos']),
      );

      const createdIssue = await client.callTool({
        name: 'issues_create',
        arguments: { owner: 'acme', repo: 'rocket', body: { title: 'Launch fails', labels: ['bug'] } },
      });
      expect(JSON.parse(textOf(createdIssue))).toEqual({ ok: true, method: 'POST', url: '/repos/acme/rocket/issues' });
      expect(hits.at(-1)).toEqual({
        method: 'POST',
        url: '/repos/acme/rocket/issues',
        authorization: `Bearer ${TOKEN}`,
        contentType: 'application/json',
        body: JSON.stringify({ title: 'Launch fails', labels: ['bug'] }),
      });

      await client.callTool({
        name: 'issues_list_for_repo',
        arguments: { owner: 'acme', repo: 'rocket', state: 'closed', labels: 'bug,ui', per_page: 5 },
      });
      const listed = new URL(hits.at(-1)?.url ?? '', 'https://api.github.com');
      expect(listed.pathname).toBe('/repos/acme/rocket/issues');
      expect(Object.fromEntries(listed.searchParams)).toEqual({ state: 'closed', labels: 'bug,ui', per_page: '5' });

      await client.callTool({
        name: 'repos_get_content',
        arguments: { owner: 'acme', repo: 'rocket', path: 'docs/read me.md', ref: 'main' },
      });
      expect(hits.at(-1)?.url).toBe('/repos/acme/rocket/contents/docs%2Fread%20me.md?ref=main');

      await client.callTool({ name: 'repos_delete', arguments: { owner: 'acme', repo: 'old' } });
      expect(hits.at(-1)).toMatchObject({ method: 'DELETE', url: '/repos/acme/old', body: '' });

      const missing = await client.callTool({
        name: 'issues_get',
        arguments: { owner: 'acme', repo: 'rocket', issue_number: 404 },
      });
      expect(missing.isError).toBe(true);
      expect(textOf(missing)).toContain('HTTP 404');

      // Arguments that break the input schema never reach the API: a tool error the model can read (2025-11-25).
      const count = hits.length;
      const invalid = await client.callTool({ name: 'issues_get', arguments: { owner: 'acme', repo: 'rocket' } });
      expect(invalid.isError).toBe(true);
      expect(textOf(invalid)).toMatch(/^Invalid arguments for tool issues_get: issue_number: /);
      expect(hits.length).toBe(count);
    } finally {
      await client.close();
    }
  }, 480_000);

  it('refuses a taken name before reading the document', async () => {
    const before = hits.length;
    const r = await stack.api<{ error: { code: string } }>('POST', '/api/v1/servers', {
      name: 'github',
      openapi: `http://${docsHost}/github.json`,
      operations: ['repos/get'],
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('name_taken');
    expect(hits.length).toBe(before);
  });
});

describe('bad OpenAPI input leaves nothing behind', () => {
  const servers = async () =>
    (await stack.api<{ servers: ServerBody[] }>('GET', '/api/v1/servers')).body.servers.map((s) => s.name);

  it.each([
    [
      'an invalid document (error names the JSON path)',
      { openapi: { openapi: '3.0.0', info: { title: 'x', version: '1' }, paths: { '/a': { get: { responses: 5 } } } } },
      400,
      'openapi_invalid',
      '#/paths/~1a/get/responses',
    ],
    [
      'an invalid document fetched by URL',
      { openapi: 'URL/broken.yaml' },
      400,
      'openapi_invalid',
      '#/paths/~1a/get/responses',
    ],
    ['an unreachable URL', { openapi: 'URL/missing.json' }, 502, 'openapi_unreachable', 'HTTP 404'],
    [
      'a host that is not allowlisted',
      { openapi: 'https://specs.example.com/openapi.json' },
      400,
      'openapi_host_not_allowed',
      'BMMS_OPENAPI_HOSTS',
    ],
    ['YAML that does not parse', { openapi: 'openapi: 3.0.0\ninfo: [' }, 400, 'openapi_unreadable', 'line'],
    [
      'an unknown operation',
      {
        openapi: {
          openapi: '3.0.0',
          info: { title: 'x', version: '1' },
          servers: [{ url: 'https://api.example.com' }],
          paths: { '/a': { get: { operationId: 'getA', responses: { 200: { description: 'ok' } } } } },
        },
        operations: ['getB'],
      },
      400,
      'openapi_unknown_operations',
      '"getB"',
    ],
    [
      'more operations selected than a server may have tools',
      { openapi: manyOperations(21), operations: Array.from({ length: 21 }, (_, i) => `op${i}`) },
      400,
      'openapi_too_many_operations',
      '21 operations selected, but a server may have at most 20 tools',
    ],
    [
      'a base URL with a query',
      { openapi: manyOperations(1), baseUrl: 'https://api.example.com/v1?key=1' },
      400,
      'openapi_bad_base_url',
      'must not carry a query',
    ],
  ])('%s', async (_what, input, status, code, fragment) => {
    const openapi =
      typeof input.openapi === 'string' ? input.openapi.replace(/^URL/, `http://${docsHost}`) : input.openapi;
    const r = await stack.api<{ error: { code: string; message: string } }>('POST', '/api/v1/servers', {
      name: 'broken-api',
      ...input,
      openapi,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toContain(fragment);
    expect(await servers()).not.toContain('broken-api');
    expect(await stack.platform.ctx.git.repoExists('broken-api')).toBe(false);
  });
});
