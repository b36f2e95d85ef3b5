import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManifestError, validateManifest } from '../src/index.ts';
import { defineTool, type RunningServer, startServer } from '../src/runtime/index.ts';
import { connectClient } from './client.ts';

const manifest = {
  name: 'board-demo',
  version: '1.0.0',
  description: 'A board.',
  tools: [
    {
      name: 'show_board',
      description: 'Shows the board.',
      inputSchema: { type: 'object', properties: {} },
      outputSchema: { type: 'object', properties: { cards: { type: 'array' } }, required: ['cards'] },
      _meta: { ui: { resourceUri: 'ui://board-demo/board' } },
    },
    { name: 'plain', description: 'Returns an object, no view.', inputSchema: { type: 'object', properties: {} } },
  ],
  egress: ['api.example.com'],
  resources: [
    {
      uri: 'ui://board-demo/board',
      name: 'board',
      source: 'ui/board.html',
      _meta: { ui: { csp: { connectDomains: ['https://api.example.com'] }, permissions: { clipboardWrite: {} } } },
    },
  ],
};
const tools = [
  defineTool({ name: 'show_board', input: {}, handler: () => ({ cards: [{ title: 'One' }] }) }),
  defineTool({ name: 'plain', input: { n: z.number().optional() }, handler: () => ({ ok: true }) }),
];

describe('a manifest with views', () => {
  it('accepts ui:// resources of this server and tools pointing at them', () => {
    const parsed = validateManifest(manifest);
    expect(parsed.resources[0]?._meta?.ui.csp?.connectDomains).toEqual(['https://api.example.com']);
    expect(parsed.tools[0]?._meta?.ui.resourceUri).toBe('ui://board-demo/board');
  });

  it('names each problem: another server’s URI, an undeclared view, a remote source, a bad origin', () => {
    const bad = structuredClone(manifest) as typeof manifest & { resources: Record<string, unknown>[] };
    bad.resources.push({
      uri: 'ui://other-server/x',
      name: 'x',
      source: 'https://cdn.example.com/x.html',
      _meta: { ui: { csp: { connectDomains: ['http://api.example.com', 'https://*'] } } },
    });
    (bad.tools[1] as Record<string, unknown>)._meta = { ui: { resourceUri: 'ui://board-demo/missing' } };
    let issues: { path: string; message: string }[] = [];
    try {
      validateManifest(bad);
    } catch (error) {
      expect(error).toBeInstanceOf(ManifestError);
      issues = (error as ManifestError).issues;
    }
    expect(issues.map((i) => i.path)).toEqual([
      'resources[1].source',
      'resources[1]._meta.ui.csp.connectDomains[0]',
      'resources[1]._meta.ui.csp.connectDomains[1]',
      'resources[1].uri',
      'tools[1]._meta.ui.resourceUri',
    ]);
    expect(issues.slice(3)).toEqual([
      { path: 'resources[1].uri', message: 'must name this server: ui://board-demo/<view>, not ui://other-server/…' },
      { path: 'tools[1]._meta.ui.resourceUri', message: '"ui://board-demo/missing" is not declared in "resources"' },
    ]);
  });
});

describe('a running server with a view', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({
      manifest,
      tools,
      views: { 'ui://board-demo/board': '<!doctype html><p>board</p>' },
      ownProcess: false,
      write: () => {},
      env: { PORT: '0' },
    });
  });
  afterAll(() => server.close());

  it('returns structuredContent and the same data as text from a tool with a view or an output schema', async () => {
    const client = await connectClient(`http://${server.address}`);
    const result = await client.callTool({ name: 'show_board', arguments: {} });
    expect(result.structuredContent).toEqual({ cards: [{ title: 'One' }] });
    expect(result.content).toEqual([{ type: 'text', text: '{"cards":[{"title":"One"}]}' }]);
    const plain = await client.callTool({ name: 'plain', arguments: {} });
    expect(plain.structuredContent).toBeUndefined();
    expect(plain.content).toEqual([{ type: 'text', text: '{"ok":true}' }]);
    const read = await client.readResource({ uri: 'ui://board-demo/board' });
    expect(read.contents).toEqual([
      {
        uri: 'ui://board-demo/board',
        mimeType: 'text/html;profile=mcp-app',
        text: '<!doctype html><p>board</p>',
        _meta: manifest.resources[0]?._meta,
      },
    ]);
    await client.close();
  });

  it('refuses to start when a declared view was not built', async () => {
    await expect(
      startServer({ manifest, tools, views: {}, ownProcess: false, write: () => {}, env: { PORT: '0' } }),
    ).rejects.toThrow('views declared in mcp.json but not built: ui://board-demo/board');
  });
});
