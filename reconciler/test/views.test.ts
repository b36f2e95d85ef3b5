import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { renderTemplate } from '@bmms/runner-template';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError, buildBundle, buildView, ViewBuildError } from '../src/index.ts';
import { NODE_BIN } from '../src/testing.ts';

const MIME = 'text/html;profile=mcp-app';
const UI = 'io.modelcontextprotocol/ui';
let tmp: string;

async function writeTree(dir: string, files: Record<string, string>): Promise<string> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  return dir;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-views-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('buildView', () => {
  it('inlines the view’s stylesheet and its bundled script into one HTML file', async () => {
    const dir = await writeTree(join(tmp, 'grid'), renderTemplate('data-grid', 'grid-demo'));
    const view = await buildView(dir, { uri: 'ui://grid-demo/grid', source: 'ui/grid.html' });
    expect(view.inlined).toEqual(['ui/grid.ts', 'ui/grid.css']);
    expect(view.remote).toEqual([]);
    expect(view.html).not.toMatch(/<script[^>]*\bsrc=/);
    expect(view.html).not.toMatch(/<link[^>]*stylesheet/);
    expect(view.html).toContain('<script type="module">');
    expect(view.html).toContain('ui/initialize'); // the bridge came from @bmms/runner-template/view
    expect(view.bytes).toBeLessThan(20_000);
  });

  it('names a missing script and a script that does not compile', async () => {
    const dir = await writeTree(join(tmp, 'broken'), {
      'ui/a.html': '<script type="module" src="./missing.ts"></script>',
      'ui/b.html': '<script type="module" src="./b.ts"></script>',
      'ui/b.ts': 'const = 1;\n',
    });
    const missing = await buildView(dir, { uri: 'ui://x-demo/a', source: 'ui/a.html' }).catch((e) => e);
    expect(missing).toBeInstanceOf(ViewBuildError);
    expect(missing.lines.join('\n')).toMatch(/ui\/missing\.ts/);
    const broken = await buildView(dir, { uri: 'ui://x-demo/b', source: 'ui/b.html' }).catch((e) => e);
    expect(broken.lines[0]).toMatch(/^ui\/b\.ts:1: /);
  });

  it('refuses a script outside the repo', async () => {
    const dir = await writeTree(join(tmp, 'outside'), { 'ui/a.html': '<script src="../../etc/x.ts"></script>' });
    const err = await buildView(dir, { uri: 'ui://x-demo/a', source: 'ui/a.html' }).catch((e) => e);
    expect(err.lines[0]).toContain('points outside the repo');
  });
});

describe('a bundled server with a view (data-grid)', () => {
  let proc: ChildProcess;
  let url: URL;

  beforeAll(async () => {
    const dir = await writeTree(join(tmp, 'server'), renderTemplate('data-grid', 'grid-demo'));
    const outFile = join(tmp, 'server-out', 'server.mjs');
    await buildBundle({ sourceDir: dir, outFile });
    proc = spawn(NODE_BIN, [outFile], { env: { PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const address = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      proc.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const m = /"msg":"listening".*?"address":"([^"]+)"|"address":"([^"]+)".*?"msg":"listening"/.exec(buffer);
        if (m) resolve((m[1] ?? m[2]) as string);
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code}: ${buffer}`)));
    });
    url = new URL(`http://${address}/mcp`);
  });
  afterAll(() => {
    proc?.kill('SIGTERM');
  });

  async function connect(declaresUi: boolean, mimeTypes = [MIME]): Promise<Client> {
    const client = new Client(
      { name: 'views-test', version: '1.0.0' },
      declaresUi ? { capabilities: { extensions: { [UI]: { mimeTypes } } } } : {},
    );
    await client.connect(new StreamableHTTPClientTransport(url));
    return client;
  }

  it('answers the extension to a client that declares it, and serves the view with its MIME type and _meta', async () => {
    const client = await connect(true);
    expect(client.getServerCapabilities()?.extensions).toEqual({ [UI]: { mimeTypes: [MIME] } });
    const { resources } = await client.listResources();
    expect(resources).toEqual([
      {
        uri: 'ui://grid-demo/grid',
        name: 'grid',
        title: 'Rows',
        description: expect.stringContaining('table'),
        mimeType: MIME,
        _meta: { ui: { csp: {}, prefersBorder: true } },
      },
    ]);
    const read = await client.readResource({ uri: 'ui://grid-demo/grid' });
    const content = read.contents[0] as { uri: string; mimeType: string; text: string; _meta: unknown };
    expect(content.mimeType).toBe(MIME);
    expect(content._meta).toEqual({ ui: { csp: {}, prefersBorder: true } });
    expect(content.text).toMatch(/^<!doctype html>/);
    expect(content.text).toContain('<script type="module">');
    const { tools } = await client.listTools();
    expect(tools[0]?._meta).toEqual({
      ui: { resourceUri: 'ui://grid-demo/grid', visibility: ['model', 'app'] },
      'ui/resourceUri': 'ui://grid-demo/grid',
    });
    expect(tools[0]?.outputSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['rows']) });
    await expect(client.readResource({ uri: 'ui://grid-demo/nope' })).rejects.toThrow(/Resource not found/);
    await client.close();
  });

  it('gives a client without the extension plain MCP: no extension, the tool answers in text', async () => {
    const client = await connect(false);
    expect(client.getServerCapabilities()?.extensions).toBeUndefined();
    expect(client.getServerCapabilities()?.resources).toEqual({});
    // No egress in this test: the API is unreachable, and the answer still says so in text.
    const result = await client.callTool({ name: 'list_rows', arguments: {} });
    expect(result.isError).toBe(true);
    expect((result.content as { type: string; text: string }[])[0]?.type).toBe('text');
    await client.close();
  });

  it('does not answer the extension to a client that names it without the mcp-app MIME type', async () => {
    const client = await connect(true, ['text/html;profile=some-other-host']);
    expect(client.getServerCapabilities()?.extensions).toBeUndefined();
    await client.close();
  });
});

describe('buildBundle with views', () => {
  it('fails like a bundle when a view does not build', async () => {
    const files = renderTemplate('data-grid', 'grid-demo');
    delete files['ui/grid.ts'];
    const dir = await writeTree(join(tmp, 'no-script'), files);
    const err = await buildBundle({ sourceDir: dir, outFile: join(tmp, 'no-script-out', 'server.mjs') }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(BundleError);
    expect(err.lines.join('\n')).toContain('ui/grid.ts');
  });
});
