import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, render, renderTemplate, type ServerSpec, type ServerTool, templates } from '../src/index.ts';
import { INPUT_ISSUES_META } from '../src/runtime/index.ts';
import { connectClient, socketFetch } from './client.ts';
import { bundle, type Instance, NODE, removeTempDirs, spawnBundle, tempDir, writeRepo } from './helpers.ts';

afterAll(removeTempDirs);

type Text = { type: string; text?: string };
const textOf = (result: unknown): string => ((result as { content: Text[] }).content[0]?.text ?? '') as string;

/** The tools/list answer a client must see: the manifest's MCP fields. */
function expectedTools(mcpJson: string) {
  return parseManifest(mcpJson).tools.map(({ scopes: _scopes, ...tool }) => tool);
}

async function startBundle(files: Record<string, string>, env: Record<string, string>) {
  const file = await bundle(writeRepo(files));
  const started = performance.now();
  const instance = spawnBundle(file, env);
  return { instance, started };
}

async function stop(instance: Instance): Promise<number | null> {
  if (instance.proc.exitCode === null) instance.proc.kill('SIGTERM');
  return instance.exited;
}

describe('echo template over a unix socket', () => {
  const files = renderTemplate('echo', 'echo-demo');
  const dir = tempDir('bmms-sock-');
  const socket = join(dir, 'mcp.sock');
  let instance: Instance;
  let client: Client;
  const sfetch = socketFetch(socket);

  beforeAll(async () => {
    // A socket file left behind by a killed instance must not block the next start.
    const stale = spawn(NODE, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => stale.on('exit', resolve));
    expect(existsSync(socket)).toBe(true);

    const start = await startBundle(files, { BMMS_SOCKET: socket, BMMS_REVISION: 'rev-abc123' });
    instance = start.instance;
    await instance.waitFor('listening');
    const listening = performance.now() - start.started;
    client = await connectClient('http://instance', sfetch);
    const ms = performance.now() - start.started;
    console.log(
      `[runner-template] unix socket: spawn -> listening ${listening.toFixed(0)} ms, -> initialize answered ${ms.toFixed(0)} ms`,
    );
  });

  afterAll(async () => {
    await client?.close();
    if (instance) await stop(instance);
  });

  it('creates the socket with mode 0666', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o666);
  });

  it('reports server info from the manifest', () => {
    expect(client.getServerVersion()).toMatchObject({ name: 'echo-demo', version: '0.1.0' });
  });

  it('lists exactly the manifest tools', async () => {
    const { tools } = await client.listTools();
    expect(tools).toEqual(expectedTools(files['mcp.json'] ?? ''));
  });

  it('calls add and echo', async () => {
    expect(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).toEqual({
      content: [{ type: 'text', text: '5' }],
    });
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo ✓' } }))).toBe('héllo ✓');
  });

  it('answers invalid arguments with a tool error the model can read (2025-11-25), an unknown tool with -32602, and keeps serving', async () => {
    const invalid = await client.callTool({ name: 'add', arguments: { a: 'two', b: 3 } });
    expect(invalid.isError).toBe(true);
    expect(textOf(invalid)).toMatch(/^Invalid arguments for tool add: a: Invalid input: expected number/);
    expect(invalid._meta).toMatchObject({ [INPUT_ISSUES_META]: [{ path: ['a'], message: expect.any(String) }] });
    const unknown = await client.callTool({ name: 'nope', arguments: {} }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(McpError);
    expect((unknown as McpError).code).toBe(-32602);
    expect((unknown as McpError).message).toMatch(/Unknown tool: nope/);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1.5, b: 1 } }))).toBe('2.5');
  });

  it('serves /healthz with the revision', async () => {
    const res = await sfetch('http://instance/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', name: 'echo-demo', version: '0.1.0', revision: 'rev-abc123' });
  });

  it('refuses GET and DELETE on /mcp with 405 Allow: POST', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await sfetch('http://instance/mcp', { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('logs JSON lines with a request id, and tool name and duration for calls', () => {
    const logs = instance.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const call = logs.find((l) => l.msg === 'tool call' && l.tool === 'add');
    expect(call).toMatchObject({ level: 'info', ok: true });
    expect(typeof call?.requestId).toBe('string');
    expect(typeof call?.durationMs).toBe('number');
    expect(typeof call?.ts).toBe('string');
    expect(logs.find((l) => l.msg === 'request' && l.path === '/mcp')).toMatchObject({ method: 'POST', status: 200 });
  });

  it('exits 0 on SIGTERM and removes its socket', async () => {
    expect(await stop(instance)).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});

describe('echo template on PORT', () => {
  it('listens on 127.0.0.1:PORT and answers', async () => {
    const { instance, started } = await startBundle(renderTemplate('echo', 'echo-port'), { PORT: '0' });
    try {
      const { address } = await instance.waitFor('listening');
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      const client = await connectClient(`http://${address}`);
      console.log(
        `[runner-template] spawn -> initialize answered (TCP): ${(performance.now() - started).toFixed(0)} ms`,
      );
      expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
      await client.close();
    } finally {
      expect(await stop(instance)).toBe(0);
    }
  });
});

describe('start-up checks', () => {
  it('exits 1 when a manifest tool has no implementation', async () => {
    const files = renderTemplate('echo', 'echo-broken');
    const manifest = JSON.parse(files['mcp.json'] ?? '{}') as { tools: Array<{ name: string }> };
    manifest.tools.push({ ...manifest.tools[0], name: 'extra' });
    files['mcp.json'] = JSON.stringify(manifest);
    const { instance } = await startBundle(files, { PORT: '0' });
    expect(await instance.exited).toBe(1);
    expect(instance.stderr.join('')).toContain('tool "extra" is declared in mcp.json but has no implementation');
  });

  it('exits 1 when an implementation is not in the manifest', async () => {
    const files = renderTemplate('echo', 'echo-broken');
    const manifest = JSON.parse(files['mcp.json'] ?? '{}') as { tools: Array<{ name: string }> };
    manifest.tools = manifest.tools.filter((t) => t.name !== 'echo');
    files['mcp.json'] = JSON.stringify(manifest);
    const { instance } = await startBundle(files, { PORT: '0' });
    expect(await instance.exited).toBe(1);
    expect(instance.stderr.join('')).toContain('tool "echo" is implemented but not declared in mcp.json');
  });
});

// Extra tools exercising the runtime's guard rails next to the http-json template's own tool.
function extraTool(
  name: string,
  properties: Record<string, { type: string }>,
  body: string,
  input: string,
): ServerTool {
  return {
    name,
    description: `Test tool ${name}.`,
    inputSchema: { type: 'object', properties, required: Object.keys(properties) },
    source: `import { defineTool } from '@bmms/runner-template/runtime';\nimport { z } from 'zod';\n\nexport default defineTool({\n  name: '${name}',\n  input: { ${input} },\n  async handler(input, ctx) {\n${body}\n  },\n});\n`,
  };
}

interface Hit {
  url: string;
  headers: IncomingHttpHeaders;
}

async function fakeServer(
  handler: (url: string) => { status: number; body: string; headers?: Record<string, string> },
) {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    hits.push({ url: req.url ?? '', headers: req.headers });
    const out = handler(req.url ?? '');
    res.writeHead(out.status, { 'content-type': 'application/json', ...out.headers });
    res.end(out.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, hits, port: (server.address() as AddressInfo).port };
}

describe('http-json template against a local JSON API', () => {
  const SECRET = 'sk-test-9f8e7d6c5b4a';
  let api: Awaited<ReturnType<typeof fakeServer>>;
  let other: Awaited<ReturnType<typeof fakeServer>>;
  let instance: Instance;
  let client: Client;

  beforeAll(async () => {
    other = await fakeServer(() => ({ status: 200, body: '{"other":true}' }));
    api = await fakeServer((url) =>
      url === '/redirect'
        ? { status: 302, body: '', headers: { location: `http://127.0.0.1:${other.port}/stolen` } }
        : { status: 200, body: JSON.stringify({ id: decodeURIComponent(url.split('/').pop() ?? ''), ok: true }) },
    );
    const base = templates['http-json']?.spec('json-demo', {
      baseUrl: `http://127.0.0.1:${api.port}`,
      path: '/items/{id}',
      headerName: 'Authorization',
      headerPrefix: 'Bearer ',
    });
    if (!base) throw new Error('http-json template missing');
    const spec: ServerSpec = {
      ...base,
      secrets: [...base.secrets, 'UNSET_KEY'],
      limits: { ...base.limits, timeoutMs: 1000 },
      tools: [
        ...base.tools,
        extraTool(
          'fetch_url',
          { url: { type: 'string' } },
          "    const r = await ctx.fetch(input.url);\n    return 'HTTP ' + r.status;",
          'url: z.string()',
        ),
        extraTool(
          'read_secret',
          { name: { type: 'string' } },
          "    const value = ctx.secret(input.name);\n    ctx.log('info', 'read secret', { value });\n    console.log('console read', value);\n    console.warn({ value });\n    return 'set, ' + value.length + ' chars';",
          'name: z.string()',
        ),
        extraTool('fail', {}, "    throw new Error('upstream exploded');", ''),
        extraTool(
          'sleep',
          { ms: { type: 'number' } },
          "    await new Promise((resolve) => setTimeout(resolve, input.ms));\n    return 'slept';",
          'ms: z.number()',
        ),
      ],
    };
    const start = await startBundle(render(spec), { PORT: '0', BMMS_SECRET_API_KEY: SECRET });
    instance = start.instance;
    const { address } = await instance.waitFor('listening');
    client = await connectClient(`http://${address}`);
  });

  afterAll(async () => {
    await client?.close();
    if (instance) await stop(instance);
    api?.server.close();
    other?.server.close();
  });

  it('GETs the API with the secret in the configured header and returns the JSON as text', async () => {
    const result = await client.callTool({ name: 'get_json', arguments: { id: 'a b/c' } });
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toEqual({ id: 'a b/c', ok: true });
    const hit = api.hits.at(-1);
    expect(hit?.url).toBe('/items/a%20b%2Fc');
    expect(hit?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('refuses egress to hosts not in the allowlist, redirects included', async () => {
    for (const url of [
      `http://127.0.0.1:${other.port}/x`,
      `http://localhost:${api.port}/items/1`,
      `http://127.0.0.1:${api.port}/redirect`,
    ]) {
      const result = await client.callTool({ name: 'fetch_url', arguments: { url } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/^Egress to "(127\.0\.0\.1|localhost):\d+" is not allowed/);
    }
    expect(textOf(await client.callTool({ name: 'fetch_url', arguments: { url: 'file:///etc/passwd' } }))).toMatch(
      /http and https only/,
    );
    expect(other.hits).toEqual([]);
  });

  it('gives declared secrets only, and never logs their values', async () => {
    expect(textOf(await client.callTool({ name: 'read_secret', arguments: { name: 'API_KEY' } }))).toBe(
      `set, ${SECRET.length} chars`,
    );
    const undeclared = await client.callTool({ name: 'read_secret', arguments: { name: 'OTHER' } });
    expect(undeclared.isError).toBe(true);
    expect(textOf(undeclared)).toMatch(/Secret "OTHER" is not declared/);
    const unset = await client.callTool({ name: 'read_secret', arguments: { name: 'UNSET_KEY' } });
    expect(textOf(unset)).toMatch(/Secret "UNSET_KEY" is declared but has no value/);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last call's log lines (written a turn later)
    const all = instance.lines.join('\n');
    expect(all).not.toContain(SECRET);
    expect(all).toContain('[REDACTED]');
    // console goes through the same logger: one JSON line per call, at its level, redacted.
    const fromConsole = instance.lines
      .map((line) => JSON.parse(line) as { level: string; msg: string; source?: string })
      .filter((entry) => entry.source === 'console');
    expect(fromConsole).toContainEqual(expect.objectContaining({ level: 'info', msg: 'console read [REDACTED]' }));
    expect(fromConsole).toContainEqual(expect.objectContaining({ level: 'warn', msg: "{ value: '[REDACTED]' }" }));
  });

  it('turns a thrown error into an isError result and keeps running', async () => {
    expect(await client.callTool({ name: 'fail', arguments: {} })).toEqual({
      content: [{ type: 'text', text: 'upstream exploded' }],
      isError: true,
    });
    // Log lines are written once per turn of the event loop: the line may follow the answer.
    const failedLine = () =>
      instance.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'tool call failed' && l.tool === 'fail');
    for (let i = 0; i < 100 && !failedLine(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const failed = failedLine();
    expect(failed).toMatchObject({ level: 'error', tool: 'fail', error: 'upstream exploded' });
    expect(textOf(await client.callTool({ name: 'sleep', arguments: { ms: 1 } }))).toBe('slept');
  });

  it('stops a call at limits.timeoutMs', async () => {
    const started = performance.now();
    const result = await client.callTool({ name: 'sleep', arguments: { ms: 5000 } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Tool "sleep" timed out after 1000 ms.');
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('finishes in-flight calls on SIGTERM, then exits 0', async () => {
    const call = client.callTool({ name: 'sleep', arguments: { ms: 400 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    instance.proc.kill('SIGTERM');
    expect(textOf(await call)).toBe('slept');
    expect(await instance.exited).toBe(0);
  });
});
