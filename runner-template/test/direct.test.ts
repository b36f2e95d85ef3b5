import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type RunningServer, startServer } from '../src/runtime/index.ts';
import { gatewayCredential, gatewayKeys } from './gateway-credential.ts';

/**
 * The direct path (src/runtime/direct.ts) answers single tools/call and tools/list requests without the SDK's
 * Server; it must answer exactly as the SDK would. Every probe goes to a server with the direct path and to one
 * that sends everything through the SDK, and the two answers must be identical (status, content type, body).
 */

const { privateKey, pem: PEM } = gatewayKeys();
const credential = (scope: string) => gatewayCredential(privateKey, { aud: 'direct-server', scope, exp: now() + 600 });
const now = () => Math.floor(Date.now() / 1000);

const manifest = {
  name: 'direct-server',
  version: '1.2.3',
  description: 'Answers probes.',
  tools: [
    {
      name: 'add',
      title: 'Add',
      description: 'Adds two numbers.',
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      },
      annotations: { readOnlyHint: true },
    },
    {
      name: 'echo',
      description: 'Echoes.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    },
    { name: 'boom', description: 'Throws.', inputSchema: { type: 'object', properties: {} } },
    { name: 'malformed', description: 'Returns a bad result.', inputSchema: { type: 'object', properties: {} } },
    { name: 'full', description: 'Returns a full result.', inputSchema: { type: 'object', properties: {} } },
    {
      name: 'admin',
      description: 'Needs a scope.',
      inputSchema: { type: 'object', properties: {} },
      scopes: ['admin'],
    },
  ],
};

const tools = [
  defineTool({ name: 'add', input: { a: z.number(), b: z.number() }, handler: ({ a, b }) => ({ sum: a + b }) }),
  defineTool({ name: 'echo', input: { text: z.string() }, handler: ({ text }) => text }),
  defineTool({
    name: 'boom',
    input: {},
    handler: () => {
      throw new Error('it broke');
    },
  }),
  // A result the SDK's CallToolResultSchema refuses: its content is not an array of content blocks.
  defineTool({ name: 'malformed', input: {}, handler: () => ({ content: [{ type: 'nonsense' }] }) as never }),
  defineTool({
    name: 'full',
    input: {},
    handler: () => ({
      content: [{ type: 'text', text: 'x', annotations: { audience: ['user'] } }],
      structuredContent: { x: 1 },
      _meta: { note: 'kept' },
      extra: 'kept too',
    }),
  }),
  defineTool({ name: 'admin', input: {}, handler: () => 'secret stuff' }),
];

interface Probe {
  name: string;
  body: string | unknown;
  headers?: Record<string, string>;
  scope?: string;
}

const call = (name: string, args?: unknown, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name, ...(args !== undefined && { arguments: args }), ...extra },
});

const probes: Probe[] = [
  { name: 'tools/list', body: { jsonrpc: '2.0', id: 1, method: 'tools/list' } },
  { name: 'tools/list, string id', body: { jsonrpc: '2.0', id: 'abc', method: 'tools/list' } },
  { name: 'tools/list, empty params', body: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} } },
  { name: 'tools/list, cursor', body: { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { cursor: 'x' } } },
  { name: 'tools/list, bad cursor', body: { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { cursor: 5 } } },
  { name: 'tools/list, params array', body: { jsonrpc: '2.0', id: 3, method: 'tools/list', params: [] } },
  { name: 'call', body: call('add', { a: 1, b: 2 }) },
  { name: 'call, id 0', body: { ...call('add', { a: 1, b: 2 }), id: 0 } },
  { name: 'call, negative id', body: { ...call('add', { a: 1, b: 2 }), id: -4 } },
  { name: 'call, fractional id', body: { ...call('add', { a: 1, b: 2 }), id: 1.5 } },
  { name: 'call, null id', body: { ...call('add', { a: 1, b: 2 }), id: null } },
  { name: 'call, no id (a notification)', body: { jsonrpc: '2.0', method: 'tools/call', params: { name: 'add' } } },
  { name: 'call, wrong jsonrpc', body: { ...call('add', { a: 1, b: 2 }), jsonrpc: '1.0' } },
  { name: 'call, extra top-level key', body: { ...call('add', { a: 1, b: 2 }), extra: true } },
  { name: 'call, invalid arguments', body: call('add', { a: 'one', b: 2 }) },
  { name: 'call, missing arguments', body: call('echo') },
  { name: 'call, arguments an array', body: call('echo', ['x']) },
  { name: 'call, arguments null', body: call('echo', null) },
  { name: 'call, unknown tool', body: call('nope', {}) },
  { name: 'call, no name', body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: {} } },
  { name: 'call, numeric name', body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 5 } } },
  { name: 'call, no params', body: { jsonrpc: '2.0', id: 7, method: 'tools/call' } },
  { name: 'call, tool throws', body: call('boom', {}) },
  { name: 'call, malformed result', body: call('malformed', {}) },
  { name: 'call, full result', body: call('full', {}) },
  { name: 'call, unicode', body: call('echo', { text: 'héllo ✓ \u2028 "quoted" \\ 😀' }) },
  { name: 'call, progress token', body: call('add', { a: 1, b: 2 }, { _meta: { progressToken: 'p1' } }) },
  { name: 'call, bad progress token', body: call('add', { a: 1, b: 2 }, { _meta: { progressToken: true } }) },
  {
    name: 'call, related task',
    body: call('add', { a: 1, b: 2 }, { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } }),
  },
  { name: 'call, task requested', body: call('add', { a: 1, b: 2 }, { task: { ttl: 1000 } }) },
  { name: 'call, unknown params key', body: call('add', { a: 1, b: 2 }, { other: 1 }) },
  { name: 'call, scope missing', body: call('admin', {}), scope: 'read' },
  { name: 'call, scope present', body: call('admin', {}), scope: 'read admin' },
  { name: 'ping', body: { jsonrpc: '2.0', id: 1, method: 'ping' } },
  { name: 'unknown method', body: { jsonrpc: '2.0', id: 1, method: 'resources/list' } },
  {
    name: 'initialize',
    body: {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    },
  },
  { name: 'notification', body: { jsonrpc: '2.0', method: 'notifications/initialized' } },
  { name: 'batch', body: [call('add', { a: 1, b: 2 }), { jsonrpc: '2.0', id: 9, method: 'tools/list' }] },
  { name: 'empty batch', body: [] },
  { name: 'null body', body: 'null' },
  { name: 'invalid JSON', body: '{"jsonrpc":' },
  { name: 'empty body', body: '' },
  { name: 'byte order mark', body: `\ufeff${JSON.stringify(call('add', { a: 1, b: 2 }))}` },
  {
    name: 'accept without event-stream',
    body: call('add', { a: 1, b: 2 }),
    headers: { accept: 'application/json' },
  },
  { name: 'text/plain body', body: call('add', { a: 1, b: 2 }), headers: { 'content-type': 'text/plain' } },
  {
    name: 'content type with charset',
    body: call('add', { a: 1, b: 2 }),
    headers: { 'content-type': 'application/json; charset=utf-8' },
  },
  {
    name: 'unsupported protocol version',
    body: call('add', { a: 1, b: 2 }),
    headers: { 'mcp-protocol-version': '1999-01-01' },
  },
  {
    name: 'supported older protocol version',
    body: call('add', { a: 1, b: 2 }),
    headers: { 'mcp-protocol-version': '2025-06-18' },
  },
  { name: 'body over 4 MiB', body: call('echo', { text: 'x'.repeat(4 * 1024 * 1024) }) },
];

async function send(address: string, probe: Probe) {
  const res = await fetch(`http://${address}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: credential(probe.scope ?? '*'),
      ...probe.headers,
    },
    body: typeof probe.body === 'string' ? probe.body : JSON.stringify(probe.body),
  });
  const body = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), body };
}

describe('the direct path answers as the SDK does', () => {
  let direct: RunningServer;
  let sdk: RunningServer;
  const env = { PORT: '0', BMMS_GATEWAY_KEY: PEM };
  beforeAll(async () => {
    direct = await startServer({ manifest, tools, ownProcess: false, write: () => {}, env });
    sdk = await startServer({ manifest, tools, ownProcess: false, write: () => {}, env, direct: false });
  });
  afterAll(async () => {
    await Promise.all([direct.close(), sdk.close()]);
  });

  it.each(probes.map((p) => [p.name, p] as const))('%s', async (_name, probe) => {
    const [mine, theirs] = await Promise.all([send(direct.address, probe), send(sdk.address, probe)]);
    expect(mine).toEqual(theirs);
  });

  it('gives the answers a client expects (not only the same ones)', async () => {
    const ok = await send(direct.address, { name: '', body: call('add', { a: 2, b: 3 }) });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: '{"sum":5}' }] },
    });
    const refused = JSON.parse((await send(direct.address, { name: '', body: call('admin', {}), scope: 'x' })).body);
    expect(refused.error).toMatchObject({ code: -32600, message: expect.stringContaining('requires scope admin') });
    const invalid = JSON.parse((await send(direct.address, { name: '', body: call('add', { a: 'x' }) })).body);
    expect(invalid.result).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: expect.stringMatching(/^Invalid arguments for tool add: a: /) }],
    });
    const listed = JSON.parse((await send(direct.address, { name: '', body: probes[0]?.body })).body);
    expect(listed.result.tools.map((t: { name: string }) => t.name)).toEqual(manifest.tools.map((t) => t.name));
  });
});
