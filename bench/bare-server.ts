/**
 * The floor the gateway is measured against: a bare MCP SDK server with the echo template's own tools (their zod
 * validation and handlers), stateless Streamable HTTP with a new server and transport per request, no auth, no
 * logging. Listens on 127.0.0.1 (port 0) and prints the port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ToolContext } from '@bmms/runner-template/runtime';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { normalizeResult } from '../runner-template/src/runtime/tool.ts';
import add from '../runner-template/templates/echo/src/tools/add.ts';
import echo from '../runner-template/templates/echo/src/tools/echo.ts';

const tools = new Map([add, echo].map((t) => [t.name, t]));
const listed = [
  {
    name: 'echo',
    inputSchema: { type: 'object' as const, properties: { text: { type: 'string' } }, required: ['text'] },
  },
  {
    name: 'add',
    inputSchema: {
      type: 'object' as const,
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
  },
];
const ctx = { fetch, secret: () => '', log: () => {}, signal: new AbortController().signal } as ToolContext;

const http = createServer(async (req, res) => {
  const server = new Server({ name: 'bare', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = tools.get(request.params.name);
    if (!tool) throw new Error(`unknown tool ${request.params.name}`);
    const prepared = tool.prepare(request.params.arguments);
    if (!prepared.ok) throw new Error('invalid arguments');
    return normalizeResult(await prepared.run(ctx));
  });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
});
// Exit cleanly on SIGTERM (so that `node --cpu-prof` writes its profile).
process.once('SIGTERM', () => process.exit(0));
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(http.address() as AddressInfo).port}\n`);
});
