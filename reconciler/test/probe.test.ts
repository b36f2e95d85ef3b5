import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleCache,
  type Instance,
  ProbeError,
  ProcessRuntime,
  probeInstance,
  UnixRequestError,
  unixRequest,
} from '../src/index.ts';
import { FIXTURE_MANIFEST, FIXTURE_PROBE, materializeFixture, NODE_BIN } from '../src/testing.ts';

let tmp: string;
let rt: ProcessRuntime;
let instance: Instance;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-probe-'));
  const bundle = await new BundleCache({ dir: join(tmp, 'bundles') }).ensure('d'.repeat(40), materializeFixture);
  rt = new ProcessRuntime({ dataDir: join(tmp, 'data'), nodePath: NODE_BIN, log: () => {} });
  instance = await rt.start({
    serverName: 'probe-target',
    revision: 'f'.repeat(40),
    treeSha: 'd'.repeat(40),
    bundlePath: bundle.path,
    env: {},
    limits: { memoryMb: 128, cpu: 1, timeoutMs: 5000 },
  });
});
afterAll(async () => {
  await rt.stop(instance.id, { graceMs: 2000 });
  await rm(tmp, { recursive: true, force: true });
});

/** A real HTTP server on a unix socket that is healthy but answers /mcp with the given status. */
async function brokenMcpServer(path: string, mcpStatus: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('{}');
    else res.writeHead(mcpStatus, { 'content-type': 'text/plain' }).end('upstream exploded');
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe('probeInstance', () => {
  it('passes when health, initialize and the tool list match the manifest', async () => {
    const result = await probeInstance(instance.socketPath, FIXTURE_MANIFEST);
    expect(result).toEqual(FIXTURE_PROBE);
  });

  it('names missing and extra tools', async () => {
    const manifest = { tools: [{ name: 'echo' }, { name: 'net_probe' }, { name: 'whoami' }, { name: 'forecast' }] };
    const err = await probeInstance(instance.socketPath, manifest).catch((e) => e);
    expect(err).toBeInstanceOf(ProbeError);
    expect(err.reason).toBe('ToolsMismatch');
    expect(err.code).toBe('probe_failed');
    expect(err.message).toBe(
      'Tools differ from the manifest (missing from the server: forecast; not in mcp.json: disk_fill, egress_fetch, escape_probe, fork_bomb, log_flood, memory_bomb, read_probe, sleep, write_probe)',
    );
    expect(err.data).toMatchObject({
      missing: ['forecast'],
      extra: [
        'disk_fill',
        'egress_fetch',
        'escape_probe',
        'fork_bomb',
        'log_flood',
        'memory_bomb',
        'read_probe',
        'sleep',
        'write_probe',
      ],
    });
  });

  it('fails with HealthFailed when nothing listens on the socket', async () => {
    const err = await probeInstance(join(tmp, 'nobody-home.sock'), FIXTURE_MANIFEST).catch((e) => e);
    expect(err).toBeInstanceOf(ProbeError);
    expect(err.reason).toBe('HealthFailed');
    expect(err.message).toMatch(/^GET \/healthz failed: .*ENOENT/);
  });

  it('fails with InitializeFailed when /mcp does not speak MCP', async () => {
    const path = join(tmp, 'broken.sock');
    const server = await brokenMcpServer(path, 500);
    try {
      const err = await probeInstance(path, FIXTURE_MANIFEST).catch((e) => e);
      expect(err).toBeInstanceOf(ProbeError);
      expect(err.reason).toBe('InitializeFailed');
      expect(err.message).toBe('MCP initialize failed: HTTP 500: upstream exploded');
    } finally {
      server.close();
    }
  });
});

describe('unixRequest', () => {
  it('returns status, headers and body', async () => {
    const res = await unixRequest(instance.socketPath, { method: 'GET', path: '/healthz' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({ ok: true });
  });

  it('times out instead of hanging', async () => {
    const path = join(tmp, 'silent.sock');
    const server = createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const err = await unixRequest(path, { method: 'GET', path: '/healthz', timeoutMs: 100 }).catch((e) => e);
      expect(err).toBeInstanceOf(UnixRequestError);
      expect(err.message).toBe(`/healthz via ${path}: no answer within 100 ms`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('unixRequest against an instance that does not stop talking', () => {
  /** A server on a unix socket whose answer to every request is `answer`. */
  async function serving(answer: (res: import('node:http').ServerResponse) => void) {
    const path = join(tmp, `talker-${Math.random().toString(36).slice(2)}.sock`);
    const server = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { path, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('cuts off an endless answer past maxBytes instead of buffering it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const talker = await serving((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    try {
      const t0 = performance.now();
      const err = await unixRequest(talker.path, { method: 'GET', path: '/mcp', maxBytes: 1024 * 1024 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UnixRequestError);
      expect((err as Error).message).toMatch(/the answer is larger than 1048576 bytes/);
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      talker.close();
    }
  });

  it('gives up at the deadline on an answer that drips a byte at a time', async () => {
    const timers: NodeJS.Timeout[] = [];
    const talker = await serving((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      timers.push(setInterval(() => res.write(' '), 50));
    });
    try {
      const err = await unixRequest(talker.path, { method: 'GET', path: '/mcp', timeoutMs: 600 }).catch(
        (e: unknown) => e,
      );
      expect((err as Error).message).toMatch(/no answer within 600 ms/);
    } finally {
      for (const t of timers) clearInterval(t);
      talker.close();
    }
  });

  it('still reads an ordinary answer whole', async () => {
    const talker = await serving((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, pad: 'y'.repeat(200_000) }));
    });
    try {
      const res = await unixRequest(talker.path, { method: 'GET', path: '/healthz' });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString('utf8')).ok).toBe(true);
    } finally {
      talker.close();
    }
  });
});
