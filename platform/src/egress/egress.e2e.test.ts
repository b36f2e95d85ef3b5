import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BundleCache, ProcessRuntime, unixRequest } from '@bmms/reconciler';
import { type Manifest, parseManifest, renderTemplate } from '@bmms/runner-template';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { egressProvisioner } from './provisioner.ts';
import { EgressProxy } from './proxy.ts';

// A rendered http-json server, started on the process runtime with the egress provisioner: its ctx.fetch
// to "api.test" goes through the proxy's socket (the only way out of the sandbox) to an upstream on 127.0.0.1;
// confined, through the egress channel the platform relays to that socket.
const SECRET = 'sk-egress-7c6b5a4d3e2f';
const TREE = 'a'.repeat(40);
let tmp: string;
let upstream: Server;
let port: number;
let bundlePath: string;
let manifest: Manifest;
const hits: { url: string; headers: IncomingHttpHeaders }[] = [];
const lines: Record<string, unknown>[] = [];
let proxy: EgressProxy;
const runtimes: ProcessRuntime[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-egress-e2e-'));
  upstream = createServer((req, res) => {
    hits.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ item: decodeURIComponent((req.url ?? '').split('/').pop() ?? ''), via: 'upstream' }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
  const files = renderTemplate('http-json', 'egress-demo', {
    baseUrl: `http://api.test:${port}`,
    path: '/items/{id}',
    headerName: 'Authorization',
    headerPrefix: 'Bearer ',
  });
  manifest = parseManifest(files['mcp.json'] ?? '');
  const bundles = new BundleCache({ dir: join(tmp, 'bundles') });
  bundlePath = (
    await bundles.ensure(TREE, async (dir) => {
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), text);
      }
    })
  ).path;
  proxy = new EgressProxy({
    root: join(tmp, 'egress'),
    lookup: async () => [{ address: '127.0.0.1', family: 4 }],
    allowPrivate: (address) => address === '127.0.0.1',
    log: (entry) => lines.push(entry),
  });
}, 60_000);
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await Promise.all(rt.list().map((i) => rt.stop(i.id, { graceMs: 1000 })));
});
afterAll(async () => {
  await proxy?.closeAll();
  upstream?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function callTool(socketPath: string, name: string, args: Record<string, unknown>) {
  const res = await unixRequest(socketPath, {
    method: 'POST',
    path: '/mcp',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  return JSON.parse(res.body.toString('utf8')) as { result: { isError?: boolean; content: { text: string }[] } };
}

describe.each([
  ['bubblewrap', { insecure: false }],
  ['no sandbox (insecure)', { insecure: true, bwrapPath: '/nonexistent/bwrap' }],
  // No bubblewrap: confined by Node's permission model; ctx.fetch goes over the egress channel (a socket pair).
  ['confined', { bwrapPath: '/nonexistent/bwrap' }],
])('egress through the proxy, %s', (sandbox, runtimeOpts) => {
  it.runIf(sandbox !== 'bubblewrap' || existsSync('/usr/bin/bwrap'))(
    "a tool's ctx.fetch reaches an allowlisted upstream only through the proxy socket",
    async () => {
      const rt = new ProcessRuntime({ dataDir: join(tmp, 'data'), log: () => {}, ...runtimeOpts });
      runtimes.push(rt);
      const server = { id: 's1', name: 'egress-demo' };
      const setup = await egressProvisioner(proxy).setup(server, manifest, `egress-demo-${sandbox.length}`);
      const instance = await rt.start({
        serverName: server.name,
        revision: 'f'.repeat(40),
        treeSha: TREE,
        bundlePath,
        env: { ...setup.env, BMMS_SECRET_API_KEY: SECRET },
        binds: setup.binds ?? [],
        limits: { memoryMb: 128, cpu: 0.5, timeoutMs: 10_000 },
      });
      const before = proxy.stats('egress-demo');
      const answer = await callTool(instance.socketPath, 'get_json', { id: 'x y' });
      expect(answer.result.isError).toBeFalsy();
      expect(JSON.parse(answer.result.content[0]?.text ?? '')).toEqual({ item: 'x y', via: 'upstream' });
      expect(hits.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(hits.at(-1)?.headers.host).toBe(`api.test:${port}`);
      expect(proxy.stats('egress-demo').requests).toBe(before.requests + 1);
      const last = lines.at(-1);
      expect(last).toMatchObject({ msg: 'egress', server: 'egress-demo', host: 'api.test', status: 200 });
      expect(JSON.stringify(lines)).not.toContain(SECRET);

      await rt.stop(instance.id, { graceMs: 2000 });
      await setup.release();
    },
    30_000,
  );
});
