import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleCache,
  type ExitInfo,
  type Instance,
  InstanceStartError,
  ProcessRuntime,
  type ProcessRuntimeOptions,
  probeInstance,
  SandboxUnavailableError,
  type StartOptions,
} from '../src/index.ts';
import { sweepExposedCopies } from '../src/runtimes/process.ts';
import {
  callTool,
  FIXTURE_MANIFEST,
  FIXTURE_PROBE,
  materializeFixture,
  NODE_BIN,
  ownerRecords,
} from '../src/testing.ts';

const TREE = 'e'.repeat(40);
let tmp: string;
let bundlePath: string;
const runtimes: ProcessRuntime[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-runtime-'));
  await chmod(tmp, 0o711); // a confined instance runs as its own uid (as root) and must reach its bundle
  bundlePath = (await new BundleCache({ dir: join(tmp, 'bundles') }).ensure(TREE, materializeFixture)).path;
});
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await Promise.all(rt.list().map((i) => rt.stop(i.id, { graceMs: 500 })));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function runtime(opts: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime {
  const rt = new ProcessRuntime({ dataDir: join(tmp, 'data'), nodePath: NODE_BIN, log: () => {}, ...opts });
  runtimes.push(rt);
  return rt;
}
const insecureRuntime = (opts: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime =>
  runtime({ bwrapPath: join(tmp, 'no-bwrap-here'), insecure: true, ...opts });
/** What a host without bubblewrap gets by default: Node's permission model. */
const confinedRuntime = (opts: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime =>
  runtime({ bwrapPath: join(tmp, 'no-bwrap-here'), ...opts });

function startOpts(over: Partial<StartOptions> = {}): StartOptions {
  return {
    serverName: 'weather',
    revision: '0123456789abcdef0123456789abcdef01234567',
    treeSha: TREE,
    bundlePath,
    env: {},
    limits: { memoryMb: 128, cpu: 0.5, timeoutMs: 10_000 },
    ...over,
  };
}

/** True while `pid` runs; a zombie (dead, not yet reaped by its parent) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

/** Uid line of /proc/<pid>/status: real, effective, saved, filesystem uid as the host sees them. */
const hostUids = (pid: number): number[] =>
  (readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)?.[1] ?? '').split(/\s+/).map(Number);

describe.each([
  ['bubblewrap', () => runtime()],
  ['no sandbox (insecure)', () => insecureRuntime()],
  ['confined', () => confinedRuntime()],
])('ProcessRuntime, %s', (sandbox, make) => {
  it('starts an instance that passes the probe, then stops it: socket and process gone', async () => {
    const rt = make();
    const instance = await rt.start(startOpts({ env: { GREETING: 'hi' } }));
    expect(instance.sandbox).toBe(sandbox === 'no sandbox (insecure)' ? 'none' : sandbox);
    expect(rt.list().map((i) => i.id)).toEqual([instance.id]);
    expect(alive(instance.pid)).toBe(true);

    await expect(probeInstance(instance.socketPath, FIXTURE_MANIFEST)).resolves.toEqual(FIXTURE_PROBE);
    expect(await callTool(instance.socketPath, 'echo', { message: 'hello' })).toEqual({ message: 'hello' });

    const exits: ExitInfo[] = [];
    rt.onExit((_i, info) => exits.push(info));
    await rt.stop(instance.id, { graceMs: 5000 });
    expect(existsSync(instance.socketPath)).toBe(false);
    expect(alive(instance.pid)).toBe(false);
    expect(rt.list()).toEqual([]);
    expect(exits).toEqual([{ code: 0, signal: null, expected: true }]);
    // The JSON-line logs of the server were captured, in memory and on disk.
    const logs = rt.logs(instance.id);
    expect(logs.map((l) => JSON.parse(l).msg)).toEqual(['listening', 'draining']);
    expect(readFileSync(join(tmp, 'data', 'instances', instance.id, 'log'), 'utf8')).toContain('"draining"');
  });

  it('reports an unexpected exit after kill -9 of the pid', async () => {
    const rt = make();
    const instance = await rt.start(startOpts());
    const exits: [Instance, ExitInfo][] = [];
    rt.onExit((i, info) => exits.push([i, info]));
    process.kill(instance.pid, 'SIGKILL');
    const [gone, info] = await waitFor(() => exits[0]);
    expect(gone.id).toBe(instance.id);
    expect(info.expected).toBe(false);
    expect(info.code === 0 && info.signal === null).toBe(false);
    expect(rt.list()).toEqual([]);
    expect(existsSync(instance.socketPath)).toBe(false);
  });

  it('a stop that comes while an exit is being handled returns once the instance’s record is gone', async () => {
    const rt = make();
    const instance = await rt.start(startOpts());
    const record = join(tmp, 'data', 'instances', instance.id, 'record.json');
    expect(existsSync(record)).toBe(true);
    process.kill(instance.pid, 'SIGKILL');
    // No longer listed: its exit is being handled (another stopper got there first).
    for (let i = 0; rt.list().length > 0 && i < 100_000; i++) await new Promise((r) => setImmediate(r));
    await rt.stop(instance.id, { graceMs: 500 });
    // What follows a stop (a deletion removing the server's folders) must not find the record of a running instance.
    expect(existsSync(record)).toBe(false);
  });

  it('fails start with the last log lines when the server crashes', async () => {
    const rt = make();
    const err = await rt.start(startOpts({ env: { FIXTURE_MODE: 'crash' } })).catch((e) => e);
    expect(err).toBeInstanceOf(InstanceStartError);
    expect(err.code).toBe('instance_start_failed');
    expect(err.message).toContain('exited (code 3)');
    expect(err.logs.join('\n')).toContain('fixture crashing on purpose');
    expect(rt.list()).toEqual([]);
  });
});

describe('ProcessRuntime start timeout', () => {
  it('kills a server that never answers /healthz and says so', async () => {
    const rt = runtime({ startTimeoutMs: 3000 }); // long enough for node to print its line on a busy machine
    const exits: ExitInfo[] = [];
    rt.onExit((_i, info) => exits.push(info));
    const err = await rt.start(startOpts({ env: { FIXTURE_MODE: 'hang' } })).catch((e) => e);
    expect(err).toBeInstanceOf(InstanceStartError);
    expect(err.message).toContain('no healthy /healthz within 3000 ms');
    expect(err.logs.join('\n')).toContain('hanging without listening');
    expect((err.data as { instanceId: string }).instanceId).toMatch(/^weather-/);
    expect(rt.list()).toEqual([]);
    expect(exits).toEqual([]); // never became an instance, so no exit event
  });
});

describe('cleanupOrphans', () => {
  it('kills what a previous runtime left running, and never a process that merely reuses a recorded pid', async () => {
    const dataDir = join(tmp, 'orphans');
    const previous = runtime({ dataDir });
    const left = await previous.start(startOpts());
    const kept = await previous.start(startOpts({ serverName: 'other' }));
    await previous.stop(kept.id, { graceMs: 2000 });

    // An unrelated process whose pid is in a stale record (as if the pid had been recycled).
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    const bystanderPid = bystander.pid as number;
    const fakeDir = join(dataDir, 'instances', 'stale-00000000');
    await mkdir(fakeDir, { recursive: true });
    await writeFile(
      join(fakeDir, 'record.json'),
      JSON.stringify({ id: 'stale-00000000', pid: bystanderPid, pidStart: '1', wrapperPid: null, wrapperStart: null }),
    );

    try {
      const current = runtime({ dataDir });
      const mine = await current.start(startOpts({ serverName: 'mine' }));
      expect(await current.cleanupOrphans()).toBe(1);
      expect(alive(left.pid)).toBe(false);
      expect(existsSync(left.socketPath)).toBe(false);
      expect(alive(bystanderPid)).toBe(true);
      expect(alive(mine.pid)).toBe(true); // its own instances are not orphans
      expect(await current.cleanupOrphans()).toBe(0);
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('removes the bundle copies of platform processes that are gone, and of no live process', async () => {
    const root = await mkdtemp(join(tmp, 'exposed-'));
    const folder = async (name: string, owner?: object, ageMs = 0) => {
      const dir = join(root, name);
      await mkdir(join(dir, 'copy'), { recursive: true });
      await writeFile(join(dir, 'copy', 'server.mjs'), '// a bundle\n');
      if (owner) await writeFile(join(dir, 'owner.json'), JSON.stringify(owner));
      if (ageMs > 0) await utimes(dir, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
      return dir;
    };
    const owners = await ownerRecords();
    try {
      const live = await folder('bmms-confined-live', owners.alive);
      const dead = await folder('bmms-confined-dead', owners.gone);
      // The pid runs, but it is not the process that wrote the file (a recycled pid).
      const recycled = await folder('bmms-confined-recycled', { pid: owners.alive.pid, start: '1' });
      const unownedNew = await folder('bmms-confined-new');
      const unownedOld = await folder('bmms-confined-old', undefined, 2 * 60 * 60_000);
      const unrelated = await folder('something-else', owners.gone);
      await symlink(join(root, 'something-else'), join(root, 'bmms-confined-link'));

      const removed: string[] = [];
      expect(await sweepExposedCopies(root, (dir) => removed.push(dir))).toBe(3);
      expect(removed.sort()).toEqual([dead, unownedOld, recycled].sort());
      for (const dir of [dead, recycled, unownedOld]) expect(existsSync(dir)).toBe(false);
      for (const dir of [live, unownedNew, unrelated]) expect(existsSync(join(dir, 'copy', 'server.mjs'))).toBe(true);
      expect(existsSync(join(root, 'bmms-confined-link'))).toBe(true); // a link is never followed nor removed
    } finally {
      owners.stop();
    }
  });
});

describe('bubblewrap sandbox', () => {
  let tcp: Server;
  let port: number;
  beforeAll(async () => {
    tcp = createServer((s) => {
      s.on('error', () => {}); // the probe hangs up at once
      s.end('hello');
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => tcp.close(() => resolve())));

  it('starts on a whole core, then holds the instance to the manifest CPU quota', async (t) => {
    const rt = runtime({ cpuBoostMs: 300 });
    if (rt.cgroups?.version !== 1) return t.skip();
    const instance = await rt.start(startOpts({ limits: { memoryMb: 128, cpu: 0.25, timeoutMs: 10_000 } }));
    const cpuDir = readFileSync(`/proc/${instance.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => /:(cpu|cpu,cpuacct|cpuacct,cpu):/.test(l))
      ?.split(':')[2];
    const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu${cpuDir}/cpu.cfs_quota_us`, 'utf8'));
    expect(quota()).toBe(-1);
    await waitFor(() => (quota() === 25_000 ? true : undefined), 5000);
  });

  it('gives the server no network, a read-only bundle dir and an unprivileged host uid', async () => {
    const probeFile = join(dirname(bundlePath), 'probe.txt');
    await rm(probeFile, { force: true });
    const rt = runtime();
    const instance = await rt.start(startOpts());

    expect(await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port })).toEqual({
      connected: false,
      error: 'ECONNREFUSED',
    });
    expect(readlinkSync(`/proc/${instance.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));

    expect(await callTool(instance.socketPath, 'write_probe')).toMatchObject({ written: false, error: 'EROFS' });
    expect(existsSync(probeFile)).toBe(false);

    const uids = hostUids(instance.pid);
    expect(uids).toHaveLength(4);
    expect(uids.every((u) => u !== 0)).toBe(true);
    expect(await callTool(instance.socketPath, 'whoami')).toMatchObject({ uid: uids[0] });
    // Limits: a cgroup with the manifest's memory (V8's heap at 3/4 of it), pids and CPU; and rlimits.
    expect(rt.cgroups).not.toBeNull();
    expect(readFileSync(`/proc/${instance.pid}/cmdline`, 'utf8').split('\0')).toContain('--max-old-space-size=96');
    expect(readFileSync(`/proc/${instance.pid}/cgroup`, 'utf8')).toContain(`/${instance.id}`);
    expect(readFileSync(`/proc/${instance.pid}/limits`, 'utf8')).toMatch(/^Max open files\s+1024\s+1024/m);
    // The platform's environment does not leak in.
    const environ = readFileSync(`/proc/${instance.pid}/environ`, 'utf8').split('\0').filter(Boolean);
    expect(environ.map((kv) => kv.split('=')[0]).sort()).toEqual([
      'BMMS_COMPILE_CACHE', // enabled by drop-privileges.cjs once the server runs as its own uid
      'BMMS_REVISION',
      'BMMS_RUN_AS', // the uid drop-privileges.cjs switches to

      'BMMS_SOCKET',
      'BMMS_TIMEOUT_MS',
      'MALLOC_ARENA_MAX',
      'PWD', // set by bwrap's --chdir
    ]);
  });

  it('the same probes succeed without the sandbox (so the proofs above are not vacuous)', async () => {
    const probeFile = join(dirname(bundlePath), 'probe.txt');
    const rt = insecureRuntime();
    const instance = await rt.start(startOpts());
    try {
      expect(await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port })).toEqual({
        connected: true,
      });
      expect(await callTool(instance.socketPath, 'write_probe')).toMatchObject({ written: true });
      expect(existsSync(probeFile)).toBe(true);
    } finally {
      await rm(probeFile, { force: true });
    }
  });

  it.runIf(existsSync('/usr/bin/bwrap'))(
    'runs a node binary that lives under /tmp (hidden by the sandbox tmpfs)',
    async () => {
      const nodeUnderTmp = join(tmp, 'node-bin', 'node');
      await mkdir(dirname(nodeUnderTmp), { recursive: true });
      await link(NODE_BIN, nodeUnderTmp).catch(() => copyFile(NODE_BIN, nodeUnderTmp));
      await chmod(nodeUnderTmp, 0o755);
      const rt = runtime({ nodePath: nodeUnderTmp });
      expect(rt.sandbox).toBe('bubblewrap');
      const instance = await rt.start(startOpts());
      await expect(probeInstance(instance.socketPath, FIXTURE_MANIFEST)).resolves.toBeDefined();
    },
  );

  it('refuses to run unsandboxed unless told to', async () => {
    const refusing = runtime({ bwrapPath: join(tmp, 'no-bwrap-here'), confined: 'never' });
    expect(refusing.unavailable).toBeInstanceOf(SandboxUnavailableError);
    await expect(refusing.start(startOpts())).rejects.toThrow(SandboxUnavailableError);
    expect(refusing.list()).toEqual([]);
    expect(insecureRuntime().sandbox).toBe('none');
    expect(insecureRuntime().unavailable).toBeUndefined();
  });

  it('measures spawn → healthy', async () => {
    const rows: string[] = [];
    for (const [label, make] of [
      ['bubblewrap', () => runtime({ compileCache: false })],
      ['bubblewrap + compile cache', () => runtime()],
      ['no sandbox', () => insecureRuntime({ compileCache: false })],
      ['no sandbox + compile cache', () => insecureRuntime()],
    ] as const) {
      const rt = make();
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const instance = await rt.start(startOpts({ serverName: 'timing' }));
        ms.push(Math.round(performance.now() - t));
        await rt.stop(instance.id, { graceMs: 2000 });
      }
      rows.push(`${label.padEnd(28)} ${ms.join(' ')} ms (median ${[...ms].sort((a, b) => a - b)[2]})`);
    }
    console.log(`spawn → /healthz 200:\n${rows.join('\n')}`);
    expect(rows).toHaveLength(4);
  });
});

describe('liveness', () => {
  it.runIf(existsSync('/usr/bin/bwrap'))(
    'kills a sandboxed instance whose event loop is stuck, as an unexpected exit saying why',
    async () => {
      const rt = runtime({ liveness: { intervalMs: 150, timeoutMs: 150, failures: 3 } });
      const instance = await rt.start(startOpts());
      expect(instance.sandbox).toBe('bubblewrap');
      const exits: ExitInfo[] = [];
      rt.onExit((_i, info) => exits.push(info));
      const stuck = callTool(instance.socketPath, 'log_flood', { seconds: 60, lineBytes: 10 }).catch(() => 'failed');
      await expect.poll(() => exits.length, { timeout: 10_000 }).toBe(1);
      expect(exits[0]).toMatchObject({ expected: false, reason: expect.stringMatching(/^unresponsive: /) });
      expect(await stuck).toBe('failed');
      // A healthy one is left alone meanwhile.
      const fine = await rt.start(startOpts({ serverName: 'fine' }));
      await sleep(800);
      expect(rt.list().map((i) => i.id)).toEqual([fine.id]);
    },
  );
});

describe('binds (the egress proxy socket folder)', () => {
  let proxyDir: string;
  let proxy: HttpServer;
  let tcp: Server;
  let port: number;
  const targets: string[] = [];
  beforeAll(async () => {
    proxyDir = join(tmp, 'egress-bind');
    await mkdir(proxyDir, { mode: 0o711 });
    await chmod(proxyDir, 0o711);
    proxy = createHttpServer((req, res) => {
      targets.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end('proxied');
    });
    await new Promise<void>((resolve) => proxy.listen(join(proxyDir, 'egress.sock'), resolve));
    await chmod(join(proxyDir, 'egress.sock'), 0o666);
    tcp = createServer((s) => s.end('hello'));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  const send = 'GET https://api.example.com/v1 HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\n\r\n';
  const withBind = () =>
    startOpts({
      env: { BMMS_EGRESS_SOCKET: '/run/bmms-egress/egress.sock' },
      binds: [{ host: proxyDir, sandbox: '/run/bmms-egress' }],
    });

  it('binds the folder into the sandbox: the socket answers while direct TCP still fails', async () => {
    const rt = runtime();
    expect(rt.sandbox).toBe('bubblewrap');
    const instance = await rt.start(withBind());
    const reply = (await callTool(instance.socketPath, 'net_probe', { socketEnv: 'BMMS_EGRESS_SOCKET', send })) as {
      path: string;
      reply: string;
    };
    expect(reply.path).toBe('/run/bmms-egress/egress.sock');
    expect(reply.reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply.reply).toContain('proxied');
    expect(targets.at(-1)).toBe('https://api.example.com/v1');
    expect(await callTool(instance.socketPath, 'net_probe', { host: '127.0.0.1', port })).toEqual({
      connected: false,
      error: 'ECONNREFUSED',
    });
  });

  it('refuses a bind that would shadow the bundle, the server socket or a system folder', async () => {
    const rt = runtime();
    for (const sandbox of ['/app', '/run/bmms', '/usr/lib/x', 'relative', '/run/../app', '/']) {
      await expect(rt.start(startOpts({ binds: [{ host: proxyDir, sandbox }] }))).rejects.toMatchObject({
        code: 'instance_start_failed',
      });
    }
    expect(rt.list()).toEqual([]);
  });

  it('without a sandbox, rewrites env paths under a bind to the host folder', async () => {
    const rt = insecureRuntime();
    const instance = await rt.start(withBind());
    const reply = (await callTool(instance.socketPath, 'net_probe', { socketEnv: 'BMMS_EGRESS_SOCKET', send })) as {
      path: string;
      reply: string;
    };
    expect(reply.path).toBe(join(proxyDir, 'egress.sock'));
    expect(reply.reply).toContain('proxied');
  });
});
