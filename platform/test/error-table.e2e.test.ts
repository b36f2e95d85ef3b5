import { randomBytes } from 'node:crypto';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { TestStack } from './harness.ts';

// The codes of the error table (src/errors.ts) that no other end-to-end test produces, each produced here over
// HTTP against a real platform. test/error-table.test.ts checks that every code of the table is produced by some test.

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const MCP_HEADERS = { accept: 'application/json, text/event-stream' };
const PING = { jsonrpc: '2.0', id: 1, method: 'ping' };

describe('error codes on the wire', () => {
  let stack: TestStack;
  const logs: string[] = [];

  beforeAll(async () => {
    stack = await TestStack.start(
      {},
      {},
      createLogger({}, (line) => logs.push(line)),
    );
    await stack.createAndDeploy('base');
  }, 180_000);
  afterAll(async () => {
    await stack?.destroy();
  });

  it('answers 404 not_found for an unknown API version, an unknown endpoint and an unknown MCP resource', async () => {
    const version = await stack.api<ErrorBody>('GET', '/api/v2/servers');
    expect(version.status).toBe(404);
    expect(version.body).toEqual({
      error: { code: 'not_found', message: 'GET /api/v2/servers not found: unknown API version, use /api/v1' },
    });
    const endpoint = await stack.api<ErrorBody>('POST', '/nowhere', {});
    expect(endpoint.status).toBe(404);
    expect(endpoint.body).toEqual({ error: { code: 'not_found', message: 'POST /nowhere not found' } });
    const resource = await stack.api<ErrorBody>('GET', '/.well-known/oauth-protected-resource/s/nope/mcp');
    expect(resource.status).toBe(404);
    expect(resource.body).toEqual({ error: { code: 'not_found', message: 'MCP server "nope" not found' } });
  });

  it('answers 413 payload_too_large past each endpoint’s body limit, naming the limit', async () => {
    const api = await stack.api<ErrorBody>('POST', '/api/v1/keys', { name: 'x'.repeat(1024 * 1024 + 1) });
    expect(api.status).toBe(413);
    expect(api.body.error).toEqual({ code: 'payload_too_large', message: 'the request body is larger than 1 MB' });
    const auth = await stack.api<ErrorBody>('POST', '/auth/login', { email: 'x'.repeat(17 * 1024) }, { key: null });
    expect(auth.status).toBe(413);
    expect(auth.body.error).toEqual({ code: 'payload_too_large', message: 'the request body is larger than 16 KB' });
    const gateway = await stack.api<ErrorBody>(
      'POST',
      '/s/base/mcp',
      { ...PING, params: { pad: 'x'.repeat(4 * 1024 * 1024) } },
      { headers: MCP_HEADERS },
    );
    expect(gateway.status).toBe(413);
    expect(gateway.body.error).toEqual({ code: 'payload_too_large', message: 'the request body is larger than 4 MB' });
  });

  it('takes a client that leaves mid-upload as gone, not as an error of its own', async () => {
    const { port } = new URL(stack.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /s/base/mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${stack.key}\r\n` +
        'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n' +
        '{"jsonrpc"',
    );
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.filter((line) => line.includes('"level":"error"'))).toEqual([]);
    const after = await stack.api('POST', '/s/base/mcp', PING, { headers: MCP_HEADERS });
    expect(after.status).toBe(200);
  });

  it('answers 404 template_not_found for a template nobody published', async () => {
    const r = await stack.api<ErrorBody>('GET', '/api/v1/templates/no-such-template');
    expect(r.status).toBe(404);
    expect(r.body.error).toEqual({
      code: 'template_not_found',
      message: 'published template "no-such-template" not found',
    });
  });

  it('refuses a rollback to the revision main is at (409 nothing_to_revert) or off its line (400)', async () => {
    const head = (await stack.platform.ctx.git.resolveRef('base', 'main')) ?? '';
    const r = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/rollback', { revision: head });
    expect(r.status).toBe(409);
    expect(r.body.error).toEqual({ code: 'nothing_to_revert', message: `main is already at ${head.slice(0, 7)}` });
    const off = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/rollback', { revision: 'f'.repeat(40) });
    expect(off.status).toBe(400);
    expect(off.body.error).toEqual({
      code: 'unknown_revision',
      message: "fffffff is not on main's line of base within the last 50 commits",
    });
    expect(await stack.platform.ctx.git.resolveRef('base', 'main')).toBe(head);
  });

  it('answers 403 insufficient_scope on the dashboard’s try-it call for a key without the server’s scope', async () => {
    const key = await stack.api<{ key: string }>('POST', '/api/v1/keys', { name: 'api only', scopes: ['api'] });
    expect(key.status).toBe(201);
    const r = await stack.api<ErrorBody>(
      'POST',
      '/api/v1/servers/base/tools/echo/call',
      { arguments: { text: 'hi' } },
      { key: key.body.key },
    );
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'insufficient_scope', message: 'this call needs scope mcp:tools' });
  });

  it('answers 409 concurrent_update when another writer holds main every time a revert tries to move it', async () => {
    const head = await stack.platform.ctx.git.resolveRef('base', 'main');
    // What a `git push` in progress leaves: git's own lock on the branch. Every compare-and-swap of main fails.
    const lock = path.join(stack.dataDir, 'repos', 'base.git', 'refs', 'heads', 'main.lock');
    await writeFile(lock, `${head}\n`);
    try {
      const r = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/revert', {});
      expect(r.status).toBe(409);
      expect(r.body.error).toEqual({
        code: 'concurrent_update',
        message: 'main kept moving while reverting; try again',
      });
    } finally {
      await rm(lock, { force: true });
    }
    expect(await stack.platform.ctx.git.resolveRef('base', 'main')).toBe(head);
  });

  it('answers 503 server_unavailable with Retry-After when the instance behind the route is gone, and says so to the reconciler once a second', async () => {
    const { routes, reconciler } = stack.platform.ctx;
    const serving = routes.get('base');
    if (!serving) throw new Error('base has no route');
    // A socket file nobody listens on any more (a hard link to a closed listener's socket), and no file at all.
    const dir = path.join(os.tmpdir(), `bmms-gone-${randomBytes(4).toString('hex')}`);
    await mkdir(dir);
    const live = path.join(dir, 'live.sock');
    const stale = path.join(dir, 'stale.sock');
    const listener = createServer(() => {});
    await new Promise<void>((resolve) => listener.listen(live, resolve));
    await link(live, stale);
    await new Promise((resolve) => listener.close(resolve));
    const woken: string[] = [];
    const wake = reconciler.wake.bind(reconciler);
    reconciler.wake = (name: string) => {
      // Only the gateway's wakes count here: the periodic resync wakes every server too (by its row and again by its
      // route), and one that fell inside this test made it see three.
      if (new Error().stack?.includes('wakeAtMostOncePerSecond')) woken.push(name);
      wake(name);
    };
    try {
      for (const socketPath of [stale, path.join(dir, 'missing.sock')]) {
        routes.set('base', { ...serving, socketPath });
        const r = await stack.api<ErrorBody>('POST', '/s/base/mcp', PING, { headers: MCP_HEADERS });
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('1');
        expect(r.body.error).toEqual({
          code: 'server_unavailable',
          message: '"base" is restarting; retry in a moment',
        });
        expect(JSON.stringify(r.body)).not.toContain(dir);
        // The dashboard's try-it call alike.
        const tried = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/tools/echo/call', {
          arguments: { text: 'hi' },
        });
        expect(tried.status).toBe(503);
        expect(tried.body.error).toEqual({
          code: 'server_unavailable',
          message: '"base" is restarting; retry in a moment',
        });
      }
      expect(woken).toEqual(['base']);
    } finally {
      reconciler.wake = wake;
      routes.set('base', serving);
      await rm(dir, { recursive: true, force: true });
    }
    expect((await stack.api('POST', '/s/base/mcp', PING, { headers: MCP_HEADERS })).status).toBe(200);
  });

  describe('an instance that drops the connection before it answers', () => {
    let dropping: Server;
    const socketPath = path.join(os.tmpdir(), `bmms-drop-${randomBytes(4).toString('hex')}.sock`);

    beforeAll(async () => {
      dropping = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => dropping.listen(socketPath, resolve));
    });
    afterAll(async () => {
      await new Promise((resolve) => dropping.close(resolve));
    });

    /** Runs `call` while the route of `base` points at the dropping socket (same instance, same revision). */
    async function whileDropping<T>(call: () => Promise<T>): Promise<T> {
      const { routes } = stack.platform.ctx;
      const serving = routes.get('base');
      if (!serving) throw new Error('base has no route');
      routes.set('base', { ...serving, socketPath });
      try {
        return await call();
      } finally {
        routes.set('base', serving);
      }
    }

    it('answers 502 bad_gateway on the MCP gateway', async () => {
      const r = await whileDropping(() => stack.api<ErrorBody>('POST', '/s/base/mcp', PING, { headers: MCP_HEADERS }));
      expect(r.status).toBe(502);
      expect(r.body.error.code).toBe('bad_gateway');
      expect(r.body.error.message).toMatch(/^the server's instance failed: /);
      // The real instance serves again.
      expect((await stack.api('POST', '/s/base/mcp', PING, { headers: MCP_HEADERS })).status).toBe(200);
    });

    it('answers 502 tool_call_failed on the dashboard’s try-it call', async () => {
      const r = await whileDropping(() =>
        stack.api<ErrorBody>('POST', '/api/v1/servers/base/tools/echo/call', { arguments: { text: 'hi' } }),
      );
      expect(r.status).toBe(502);
      expect(r.body.error.code).toBe('tool_call_failed');
      expect(r.body.error.message).toMatch(/^the call failed: /);
    });
  });

  it('answers 500 internal_error quoting the request id when something unexpected fails, and hides the cause', async () => {
    const { db } = stack.platform.ctx;
    await db.$executeRawUnsafe('ALTER TABLE generations RENAME TO generations_elsewhere');
    try {
      const r = await stack.api<ErrorBody>(
        'GET',
        `/api/v1/generations/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`,
      );
      expect(r.status).toBe(500);
      const requestId = r.headers.get('x-request-id');
      expect(r.body.error).toEqual({
        code: 'internal_error',
        message: `something went wrong on our side; quote request id ${requestId} when reporting it`,
      });
      expect(JSON.stringify(r.body)).not.toContain('generations');
    } finally {
      await db.$executeRawUnsafe('ALTER TABLE generations_elsewhere RENAME TO generations');
    }
  });

  it('answers 413 template_too_large when main’s files exceed what a template may hold', async () => {
    const wd = await stack.clone('base');
    await wd.git('checkout', '-q', '-b', 'big');
    // 2.4 MiB of plain text in three files, each under a push's 1 MiB limit per file.
    for (const n of [1, 2, 3]) {
      await writeFile(path.join(wd.dir, `NOTES-${n}.md`), `Notes, part ${n}, about this server.\n`.repeat(24_000));
    }
    await wd.commitAndPush('notes', 'big');
    const number = await stack.openChange('base', 'big');
    const checked = await stack.waitChecks('base', number, 180_000);
    expect(checked.checkSuite?.conclusion).toBe('success');
    expect((await stack.api('POST', `/api/v1/servers/base/changes/${number}/merge`)).status).toBe(200);
    const r = await stack.api<ErrorBody>('POST', '/api/v1/servers/base/publish', {});
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('template_too_large');
    expect(r.body.error.message).toMatch(/a template may hold at most 2097152: remove large files first$/);
    expect(await stack.platform.ctx.db.publishedTemplate.count()).toBe(0);
  }, 240_000);
});

describe('a stored secret under a master key the platform no longer has', () => {
  const K1 = randomBytes(32).toString('base64');
  const K2 = randomBytes(32).toString('base64');
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start({}, { masterKey: `v1:${K1}` });
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  it('answers 500 unknown_key_version, naming the version to add back', async () => {
    expect((await stack.api('POST', '/api/v1/servers', { name: 'vault', template: 'echo' })).status).toBe(201);
    // v2 becomes current and seals a value; then the operator goes back to a key list without v2.
    await stack.stop();
    await stack.boot({}, { masterKey: `v2:${K2},v1:${K1}` });
    const set = await stack.api('PUT', '/api/v1/servers/vault/secrets/SPARE', { value: 'kept under v2' });
    expect(set.status).toBe(201);
    await stack.stop();
    await stack.boot({}, { masterKey: `v1:${K1}` });
    const r = await stack.api<ErrorBody>('POST', '/api/v1/admin/rotate-master-key');
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('unknown_key_version');
    expect(r.body.error.message).toContain('master key "v2", which is not configured (known: v1)');
    expect(JSON.stringify(r.body)).not.toContain('kept under v2');
  }, 120_000);
});
