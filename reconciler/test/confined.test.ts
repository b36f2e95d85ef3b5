// The `confined` runtime (a host without bubblewrap): hostile code in an instance cannot open a network connection
// (TCP or a unix socket, loopback only here), read outside its bundle, write anywhere or start a process; the same
// probes succeed without confinement, so the proofs are not vacuous. Also: `ctx.fetch` still leaves through the
// egress channel, and a runtime picks the confined layer by itself when `bwrap` is not in the PATH.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleCache,
  CONFINED_NODE_MAJOR,
  type ExitInfo,
  ProcessRuntime,
  type ProcessRuntimeOptions,
  probeInstance,
  type StartOptions,
  unixRequest,
} from '../src/index.ts';
import { findConfinedNode, nodeMajor } from '../src/runtimes/confined.ts';
import { callTool, FIXTURE_MANIFEST, materializeFixture, NODE_BIN } from '../src/testing.ts';

const TREE = 'f'.repeat(40);
const isRoot = process.getuid?.() === 0;
let tmp: string;
let bundlePath: string;
let tcp: Server;
let port: number;
let unix: Server;
let unixPath: string;
let secretPath: string;
const runtimes: ProcessRuntime[] = [];

beforeAll(async () => {
  // 0700, as the platform's data dir is: as root the runtime copies the bundle where the instance's uid reaches it.
  tmp = await mkdtemp(join(tmpdir(), 'bmms-confined-'));
  bundlePath = (await new BundleCache({ dir: join(tmp, 'bundles') }).ensure(TREE, materializeFixture)).path;
  // Loopback only: the only traffic this machine allows.
  tcp = createServer((s) => {
    s.on('error', () => {});
    s.end('hello');
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  port = (tcp.address() as { port: number }).port;
  unixPath = join(tmp, 'host.sock');
  unix = createServer((s) => {
    s.on('error', () => {});
    s.end('hello');
  });
  await new Promise<void>((resolve) => unix.listen(unixPath, resolve));
  await chmod(unixPath, 0o777); // the kernel would let any uid in: only the permission model stands in the way
  secretPath = join(tmp, 'platform-secret.txt');
  await writeFile(secretPath, 'the platform keeps this', { mode: 0o644 });
});
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await Promise.all(rt.list().map((i) => rt.stop(i.id, { graceMs: 1000 })));
});
afterAll(async () => {
  tcp.close();
  unix.close();
  await rm(tmp, { recursive: true, force: true });
});

function runtime(opts: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime {
  const rt = new ProcessRuntime({
    dataDir: join(tmp, 'data'),
    nodePath: NODE_BIN,
    bwrapPath: join(tmp, 'no-bwrap-here'),
    log: () => {},
    ...opts,
  });
  runtimes.push(rt);
  return rt;
}

function startOpts(over: Partial<StartOptions> = {}): StartOptions {
  return {
    serverName: 'hostile',
    revision: '0123456789abcdef0123456789abcdef01234567',
    treeSha: TREE,
    bundlePath,
    env: { HOST_SOCKET: unixPath },
    limits: { memoryMb: 128, cpu: 0.5, timeoutMs: 10_000 },
    ...over,
  };
}

/** Runs node with `args`, started by bash with the secret open on fd 50; resolves with what it printed, trimmed. */
function nodeWithFd50(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/bash', ['-c', 'exec "$0" "$@" 50<"$SECRET"', NODE_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', SECRET: secretPath, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('close', () => resolve(out.trim()));
  });
}

const hostUids = (pid: number): number[] =>
  (readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)?.[1] ?? '').split(/\s+/).map(Number);

describe('confined runtime', () => {
  it('is what a runtime falls back to without bubblewrap, on a Node that gates the network', () => {
    const rt = runtime();
    expect(rt.sandbox).toBe('confined');
    expect(rt.unavailable).toBeUndefined();
    expect(nodeMajor(rt.confinedNode as string)).toBeGreaterThanOrEqual(CONFINED_NODE_MAJOR);
    // A Node whose permission model lets the network through is never taken for it.
    const platformNode = nodeMajor(NODE_BIN) as number;
    expect(findConfinedNode([NODE_BIN])).toEqual(
      platformNode >= CONFINED_NODE_MAJOR ? { path: NODE_BIN, major: platformNode } : undefined,
    );
  });

  it('picks bubblewrap from the PATH, and the confined layer when bwrap is not in it', () => {
    const hasBwrap = existsSync('/usr/bin/bwrap');
    const saved = process.env.PATH;
    try {
      process.env.PATH = join(tmp, 'empty-bin');
      const without = new ProcessRuntime({ dataDir: join(tmp, 'data'), nodePath: NODE_BIN, log: () => {} });
      expect(without.sandbox).toBe('confined');
      if (hasBwrap) {
        process.env.PATH = saved;
        const withBwrap = new ProcessRuntime({ dataDir: join(tmp, 'data'), nodePath: NODE_BIN, log: () => {} });
        expect(withBwrap.sandbox).toBe('bubblewrap');
      }
    } finally {
      process.env.PATH = saved;
    }
  });

  it('an instance cannot connect (TCP or unix socket), read outside its bundle, write, or start a process', async () => {
    const rt = runtime();
    const instance = await rt.start(startOpts());
    expect(instance.sandbox).toBe('confined');
    await expect(probeInstance(instance.socketPath, FIXTURE_MANIFEST)).resolves.toBeDefined();

    expect(await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port })).toEqual({
      connected: false,
      error: 'ERR_ACCESS_DENIED',
    });
    expect(await callTool(instance.socketPath, 'net_probe', { socketEnv: 'HOST_SOCKET' })).toEqual({
      connected: false,
      error: 'ERR_ACCESS_DENIED',
    });
    expect(await callTool(instance.socketPath, 'read_probe', { path: secretPath })).toEqual({
      read: false,
      error: 'ERR_ACCESS_DENIED',
    });
    expect(await callTool(instance.socketPath, 'read_probe', { path: '/etc/passwd' })).toEqual({
      read: false,
      error: 'ERR_ACCESS_DENIED',
    });
    // Its own bundle it reads (as root a copy its uid can reach; the original stays in the 0700 data dir).
    const cmdline = readFileSync(`/proc/${instance.pid}/cmdline`, 'utf8').split('\0');
    const readable = cmdline.filter((a) => a.startsWith('--allow-fs-read=')).map((a) => a.slice(16));
    const ownDir = readable[0] as string;
    expect(ownDir === dirname(bundlePath) || (isRoot && ownDir.startsWith(tmpdir()))).toBe(true);
    expect(await callTool(instance.socketPath, 'read_probe', { path: join(ownDir, 'server.mjs') })).toMatchObject({
      read: true,
    });
    expect(await callTool(instance.socketPath, 'write_probe')).toMatchObject({
      written: false,
      error: 'ERR_ACCESS_DENIED',
    });
    expect(existsSync(join(dirname(bundlePath), 'probe.txt'))).toBe(false);
    expect(await callTool(instance.socketPath, 'fork_bomb', { max: 3 })).toEqual({
      spawned: 0,
      error: 'ERR_ACCESS_DENIED',
    });
    // Nor any other way out Node has.
    expect(await callTool(instance.socketPath, 'escape_probe')).toEqual({
      worker: 'ERR_ACCESS_DENIED',
      addon: 'ERR_DLOPEN_DISABLED',
      wasi: 'ERR_ACCESS_DENIED',
      inspector: 'ERR_ACCESS_DENIED',
      binding: 'ERR_ACCESS_DENIED',
      udp: 'ERR_ACCESS_DENIED',
      dns: 'ERR_ACCESS_DENIED',
      eval: 'EvalError',
      signal: 'ERR_ACCESS_DENIED', // the platform's pid: Node's permission model does not gate signals, we do
      self: 'ok',
      shifty: 'ok', // checked and signalled as the number it was once: itself
      debug: 'ERR_ACCESS_DENIED',
      renice: 'ERR_ACCESS_DENIED',
      reniceSelf: 'ok',
      v8flags: 'ERR_ACCESS_DENIED',
    });

    // The flags it runs under, and (as root) its own unprivileged uid.
    expect(cmdline).toContain('--permission');
    expect(cmdline).toContain('--disallow-code-generation-from-strings');
    // Read access to its bundle's folder only, and the preloads (signals to itself only; as root, its own uid).
    expect(readable.slice(1)).toEqual([
      expect.stringMatching(/confined-preload\.cjs$/),
      ...(isRoot ? [expect.stringMatching(/drop-privileges\.cjs$/)] : []),
    ]);
    expect(cmdline.filter((a) => a.startsWith('--allow-') && !a.startsWith('--allow-fs-read='))).toEqual([]);
    // The heap limit: the manifest's memory, or 3/4 of it under a memory cgroup (root).
    expect(cmdline).toContain(`--max-old-space-size=${rt.cgroups ? 96 : 128}`);
    if (isRoot) {
      const uids = hostUids(instance.pid);
      expect(uids.every((u) => u !== 0)).toBe(true);
      expect(await callTool(instance.socketPath, 'whoami')).toMatchObject({ uid: uids[0] });
    }
    if (existsSync('/usr/bin/prlimit')) {
      expect(readFileSync(`/proc/${instance.pid}/limits`, 'utf8')).toMatch(/^Max open files\s+1024\s+1024/m);
    }
    // No listener of its own: the only sockets it has are the ones it was handed.
    const environ = readFileSync(`/proc/${instance.pid}/environ`, 'utf8').split('\0');
    expect(environ.some((kv) => kv.startsWith('BMMS_SOCKET='))).toBe(false);
    expect(environ).toContain('BMMS_CHANNEL_FDS=4,5,6,7,8,9,10,11');
  });

  it('the same probes succeed without confinement (so the proofs above are not vacuous)', async () => {
    const rt = runtime({ insecure: true });
    expect(rt.sandbox).toBe('none');
    const instance = await rt.start(startOpts());
    expect(await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port })).toEqual({
      connected: true,
    });
    expect(await callTool(instance.socketPath, 'net_probe', { socketEnv: 'HOST_SOCKET' })).toEqual({
      connected: true,
    });
    expect(await callTool(instance.socketPath, 'read_probe', { path: secretPath })).toEqual({
      read: true,
      head: 'the platform keeps this',
    });
    expect(await callTool(instance.socketPath, 'escape_probe')).toMatchObject({
      worker: 'ok',
      udp: 'ok',
      dns: 'ok',
      signal: 'ok',
      shifty: 'ERR_INVALID_ARG_TYPE',
      debug: 'ESRCH',
      renice: 'ok',
      v8flags: 'ok',
    });
  });

  it('serves more concurrent calls than it has channels, and a caller hanging up costs no channel', async () => {
    const rt = runtime();
    const instance = await rt.start(startOpts());
    const calls = Array.from({ length: 40 }, (_, i) => callTool(instance.socketPath, 'echo', { message: `m${i}` }));
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 40 }, (_, i) => ({ message: `m${i}` })));
    // Callers that give up before the answer: the relay still reads each answer to its end.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        unixRequest(instance.socketPath, {
          method: 'POST',
          path: '/mcp',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: { name: 'sleep', arguments: { ms: 300 } },
          }),
          timeoutMs: 30,
        }).catch(() => null),
      ),
    );
    const again = Array.from({ length: 16 }, (_, i) => callTool(instance.socketPath, 'echo', { message: `n${i}` }));
    expect(await Promise.all(again)).toEqual(Array.from({ length: 16 }, (_, i) => ({ message: `n${i}` })));
  });

  it('an instance that closes its channels while calls wait for one does not take the platform down', async () => {
    const rt = runtime();
    const instance = await rt.start(startOpts());
    // Eight calls hold every channel, four more wait for one; then the instance is gone (a hostile exit, or an OOM
    // kill under load). Each channel that closes fails the waiting calls again: the platform must take every one.
    const calls = Array.from({ length: 12 }, () =>
      callTool(instance.socketPath, 'sleep', { ms: 10_000 }).then(
        () => 'answered',
        () => 'failed',
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    process.kill(instance.pid, 'SIGKILL');
    expect(await Promise.all(calls)).toEqual(Array(12).fill('failed'));
    await new Promise((r) => setTimeout(r, 200));
  });

  it('kills an instance whose event loop is stuck, as an unexpected exit saying why', async () => {
    const rt = runtime({ liveness: { intervalMs: 150, timeoutMs: 150, failures: 3 } });
    const instance = await rt.start(startOpts());
    const exits: { id: string; info: ExitInfo }[] = [];
    rt.onExit((i, info) => exits.push({ id: i.id, info }));
    // A handler that never yields (here: writing for 60 s without a pause): no tool timeout can end it.
    const stuck = callTool(instance.socketPath, 'log_flood', { seconds: 60, lineBytes: 10 }).catch(() => 'failed');
    await expect.poll(() => exits.length, { timeout: 10_000 }).toBe(1);
    expect(exits[0]).toMatchObject({
      id: instance.id,
      info: { expected: false, reason: expect.stringMatching(/^unresponsive: \/healthz did not answer within/) },
    });
    expect(await stuck).toBe('failed');
    expect(rt.logs(instance.id).join('\n')).toMatch(/killed: unresponsive/);
  });

  it('closes in the instance every descriptor the platform inherited without close-on-exec', async () => {
    // A platform started with a descriptor left open by whatever started it (here fd 50, a file the instance may not
    // read, as a shell's `50<file` leaves it; Node itself marks a few low ones close-on-exec at start): the
    // descriptors it lists for a confined spawn, and what the preload does with them.
    const confined = new URL('../src/runtimes/confined.ts', import.meta.url).pathname;
    const preload = new URL('../src/runtimes/confined-preload.cjs', import.meta.url).pathname;
    const listed = await nodeWithFd50([
      '--input-type=module',
      '-e',
      `import { closingInherited } from '${confined}';
const { env } = closingInherited({ env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
console.log(env.BMMS_CLOSE_FDS ?? '');`,
    ]);
    expect(listed.split(',')).toContain('50');
    const read = `const fs = require('node:fs');
try { console.log(fs.readFileSync(50, 'utf8')); } catch (err) { console.log(err.code); }`;
    expect(await nodeWithFd50(['-e', read])).toBe('the platform keeps this');
    expect(await nodeWithFd50(['--require', preload, '-e', read], { BMMS_CLOSE_FDS: listed })).toBe('EBADF');
  });

  it('runs a one-shot job confined too: no network, no reads outside its folder', async () => {
    const rt = runtime();
    const appDir = join(tmp, 'job');
    await mkdir(appDir, { recursive: true });
    await chmod(appDir, 0o755);
    await writeFile(
      join(appDir, 'job.mjs'),
      `import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
const out = {};
try { readFileSync(${JSON.stringify(secretPath)}); out.read = 'ok'; } catch (e) { out.read = e.code; }
const s = connect(${port}, '127.0.0.1');
s.on('connect', () => { out.net = 'connected'; console.log(JSON.stringify(out)); s.destroy(); });
s.on('error', (e) => { out.net = e.code; console.log(JSON.stringify(out)); });
`,
      { mode: 0o644 },
    );
    const result = await rt.runJob({
      serverName: 'hostile',
      appDir,
      args: ['job.mjs'],
      limits: { memoryMb: 128, timeoutMs: 20_000, outputBytes: 65536 },
    });
    expect(result.sandbox).toBe('confined');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.output.trim())).toEqual({ read: 'ERR_ACCESS_DENIED', net: 'ERR_ACCESS_DENIED' });
  });
});

describe('egress channel', () => {
  let proxy: HttpServer;
  let proxyDir: string;
  const seen: string[] = [];
  beforeAll(async () => {
    // A stand-in for the platform's egress proxy: absolute-form requests on a unix socket, answered here.
    proxyDir = join(tmp, 'egress');
    await mkdir(proxyDir, { recursive: true });
    proxy = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`proxied ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => proxy.listen(join(proxyDir, 'egress.sock'), resolve));
  });
  afterAll(() => proxy.close());

  it('relays HTTP/2 streams from the instance end of the pair to the egress proxy socket', async () => {
    const rt = runtime();
    const instance = await rt.start(
      startOpts({
        env: { BMMS_EGRESS_SOCKET: '/run/bmms-egress/egress.sock' },
        binds: [{ host: proxyDir, sandbox: '/run/bmms-egress' }],
      }),
    );
    const environ = readFileSync(`/proc/${instance.pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain('BMMS_EGRESS_FD=3');
    expect(environ.some((kv) => kv.startsWith('BMMS_EGRESS_SOCKET='))).toBe(false);
    // The runtime's channel fetch reaches the proxy, which gets the request in absolute form.
    expect(
      await callTool(instance.socketPath, 'egress_fetch', { url: 'https://api.example.com/v1/items?x=1' }),
    ).toEqual({ status: 200, body: 'proxied GET https://api.example.com/v1/items?x=1' });
    expect(seen).toEqual(['GET https://api.example.com/v1/items?x=1']);
    // By itself the instance cannot reach the proxy's socket (nor any other).
    const direct = await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port });
    expect(direct).toEqual({ connected: false, error: 'ERR_ACCESS_DENIED' });
  });
});
