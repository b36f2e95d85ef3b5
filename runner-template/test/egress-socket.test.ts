import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEgressFetch } from '../src/runtime/context.ts';
import { createSocketFetch } from '../src/runtime/egress-socket.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

// A stand-in for the platform's proxy on a unix socket: it records the absolute-form requests it gets and
// answers from a table. Nothing here touches a network.
let server: Server;
let socketPath: string;
const received: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  socketPath = join(tempDir('bmms-egress-sock-'), 'egress.sock');
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      received.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const path = new URL(url).pathname;
      if (path === '/redirect') res.writeHead(302, { location: '/final' }).end();
      else if (path === '/away') res.writeHead(302, { location: 'https://elsewhere.test/x' }).end();
      else if (path === '/gzip')
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(JSON.stringify({ zipped: true })));
      else if (path === '/empty') res.writeHead(204).end();
      else if (path === '/slow') setTimeout(() => res.end('late'), 2000);
      else res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' }).end(JSON.stringify({ path }));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  removeTempDirs();
});

const never = new AbortController().signal;
const viaProxy = () => createEgressFetch(['api.test'], never, createSocketFetch(socketPath));

describe('ctx.fetch through BMMS_EGRESS_SOCKET', () => {
  it('sends absolute-form requests with method, headers and body, and returns a standard Response', async () => {
    received.length = 0;
    const res = await viaProxy()('https://api.test/v1/items?q=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(res).toBeInstanceOf(Response);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(await res.json()).toEqual({ path: '/v1/items' });
    expect(received[0]).toMatchObject({ method: 'POST', url: 'https://api.test/v1/items?q=1', body: '{"a":1}' });
    expect(received[0]?.headers.authorization).toBe('Bearer k');
  });

  it('follows redirects hop by hop, each hop allowlist-checked', async () => {
    received.length = 0;
    const res = await viaProxy()('https://api.test/redirect');
    expect(await res.json()).toEqual({ path: '/final' });
    expect(received.map((r) => r.url)).toEqual(['https://api.test/redirect', 'https://api.test/final']);
    await expect(viaProxy()('https://api.test/away')).rejects.toMatchObject({ code: 'egress_denied' });
    expect(received.map((r) => r.url)).not.toContain('https://elsewhere.test/x');
  });

  it('decodes compressed bodies like fetch does, and handles empty ones', async () => {
    const res = await viaProxy()('https://api.test/gzip');
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.json()).toEqual({ zipped: true });
    const empty = await viaProxy()('https://api.test/empty');
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
  });

  it('refuses non-allowlisted hosts before anything reaches the socket, and aborts on the signal', async () => {
    received.length = 0;
    await expect(viaProxy()('https://other.test/')).rejects.toMatchObject({ code: 'egress_denied' });
    expect(received).toEqual([]);
    const controller = new AbortController();
    const fetching = createEgressFetch(
      ['api.test'],
      controller.signal,
      createSocketFetch(socketPath),
    )('https://api.test/slow');
    setTimeout(() => controller.abort(new Error('tool timed out')), 50);
    await expect(fetching).rejects.toThrow('tool timed out');
  });
});
