// A platform running as its own process (node platform/src/main.ts), so tests can really kill or restart it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NODE_BIN } from '@bmms/reconciler/testing';
import { GitWorkdir, poll } from './harness.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const FORWARD = fileURLToPath(new URL('./forward.ts', import.meta.url));

/** One forwarding rule of forward.ts: listen on a TCP port (127.0.0.1) or unix socket, connect to another. */
export type ForwardRule = {
  listen: { port: number } | { path: string };
  connect: { port: number; host?: string } | { path: string };
};

/** Starts forward.ts (inside network namespace `netns` when given); resolves once it listens. */
export async function startForwarder(rules: ForwardRule[], netns?: string): Promise<ChildProcess> {
  const argv = [NODE_BIN, FORWARD, JSON.stringify(rules)];
  const child = netns
    ? spawn('nsenter', [`--net=${netns}`, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`forward.ts exited (${code})`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  return child;
}

/**
 * Where a platform runs in a network namespace of its own (one attached to a swarm's overlay network): `netns` is
 * its path; `forwards` are what it reaches on the host (Postgres, a GitHub stand-in) at the same ports there.
 */
export type Namespaced = {
  netns: string;
  forwards: ForwardRule[];
  /** Extra /etc/hosts lines the platform resolves names with (a mount namespace of its own binds them in). */
  hosts?: string;
};

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Removes a test's scratch folder with its platforms' data dirs: a platform killed with SIGKILL leaves its instances'
 * quota mounts behind (its next start would sweep them), which `rm` alone cannot remove (EBUSY).
 */
export async function removeScratch(dir: string): Promise<void> {
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Unmounts (lazily) every mount under `dir`: the quota mounts a killed platform's instances left. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' ') ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await promisify(execFile)('umount', ['-l', m]).catch(() => {});
}

export type ServerBody = {
  observedRevision: string | null;
  desiredRevision: string | null;
  conditions: { type: string; status: boolean; reason: string }[];
  history: { revision: string; state: string; reason: string; instance: string | null }[];
};

/** A platform running as its own process, so it can really be killed. */
export class PlatformProcess {
  child: ChildProcess | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: 0, signal: null });
  url = '';
  key = '';
  output = '';
  readonly dataDir: string;
  readonly env: Record<string, string>;
  readonly namespaced: Namespaced | undefined;
  readonly #forwarders: ChildProcess[] = [];

  constructor(dataDir: string, env: Record<string, string>, namespaced?: Namespaced) {
    this.dataDir = dataDir;
    this.env = env;
    this.namespaced = namespaced;
  }

  /**
   * Two platforms on one database (`env` names it), in `<dir>/a` and `<dir>/b`, started in that order (the first
   * leads the reconciler); the second uses the owner key the first made.
   */
  static async pair(dir: string, env: Record<string, string>): Promise<[PlatformProcess, PlatformProcess]> {
    const first = new PlatformProcess(path.join(dir, 'a'), env);
    await first.start();
    await mkdir(path.join(dir, 'b'), { recursive: true, mode: 0o700 });
    await copyFile(path.join(dir, 'a', 'owner-api-key'), path.join(dir, 'b', 'owner-api-key'));
    const second = new PlatformProcess(path.join(dir, 'b'), env);
    await second.start();
    return [first, second];
  }

  /** Waits until every check of change `number` of `name` completed. */
  async checksCompleted(name: string, number = 1, timeoutMs = 120_000): Promise<void> {
    await poll(
      async () => {
        const c = await this.api<{ checks: { status: string }[] }>('GET', `/api/v1/servers/${name}/changes/${number}`);
        return c.body.checks.length && c.body.checks.every((k) => k.status === 'completed') ? true : undefined;
      },
      timeoutMs,
      `checks of change #${number}`,
    );
  }

  async start(extra: Record<string, string> = {}, listenTimeoutMs = 60_000): Promise<void> {
    // A namespaced platform keeps its port across restarts: its forwarders stay.
    const port = this.namespaced && this.url ? Number(new URL(this.url).port) : await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.output = '';
    const env = { ...process.env, ...this.env, ...extra, PORT: String(port), BMMS_DATA_DIR: this.dataDir };
    const ns = this.namespaced;
    if (ns && this.#forwarders.length === 0) {
      // The test reaches the platform at the same port on the host; the platform reaches the host's services.
      await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
      const api = path.join(this.dataDir, 'api.sock');
      this.#forwarders.push(
        await startForwarder([{ listen: { path: api }, connect: { port } }, ...ns.forwards], ns.netns),
      );
      this.#forwarders.push(await startForwarder([{ listen: { port }, connect: { path: api } }]));
    }
    const child = ns
      ? spawn('nsenter', [`--net=${ns.netns}`, ...(await this.#withHosts(ns)), NODE_BIN, MAIN], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(NODE_BIN, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await poll(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return true;
        return (await fetch(`${this.url}/healthz`).catch(() => null))?.ok ? true : undefined;
      },
      listenTimeoutMs,
      'the platform to listen',
    );
    this.key = (await readFile(path.join(this.dataDir, 'owner-api-key'), 'utf8')).trim();
  }

  /** The command prefix that runs the rest with `ns.hosts` added to /etc/hosts (in a mount namespace of its own). */
  async #withHosts(ns: Namespaced): Promise<string[]> {
    if (!ns.hosts) return [];
    const file = path.join(this.dataDir, 'hosts');
    await writeFile(file, `${await readFile('/etc/hosts', 'utf8').catch(() => '')}\n${ns.hosts}\n`);
    const script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"';
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', file];
  }

  async api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  }

  /** GET /api/v1/servers/<name>. */
  async server(name: string): Promise<ServerBody> {
    return (await this.api<ServerBody>('GET', `/api/v1/servers/${name}`)).body;
  }

  /**
   * Waits until main's HEAD serves: Ready, one serving history entry, observed = desired (and, with `settled`, no
   * deploy in progress). Errors while the platform or its database is down count as "not yet".
   */
  servingHead(name: string, opts: { settled?: boolean } = {}): Promise<ServerBody> {
    return poll(
      async () => {
        const s = await this.server(name).catch(() => undefined);
        if (!s?.history) return undefined;
        const ready = s.conditions.find((c) => c.type === 'Ready')?.status;
        const serving = s.history.filter((d) => d.state === 'succeeded').length === 1;
        const settled = !opts.settled || !s.history.some((d) => d.state === 'progressing');
        return ready && serving && settled && s.observedRevision === s.desiredRevision ? s : undefined;
      },
      120_000,
      `${name} to be Ready at HEAD`,
    );
  }

  /**
   * Creates `name` from the echo template, merges change #1, then pushes a second revision (a README line) to
   * main: two deployable trees, so a revert replaces a running instance. Resolves once the second one serves.
   */
  async deployTwoRevisions(
    name: string,
    scratch: string,
    opts: { settled?: boolean; onServing?: () => Promise<void> } = {},
  ): Promise<void> {
    const created = await this.api('POST', '/api/v1/servers', { name, template: 'echo' });
    if (created.status !== 201) throw new Error(`create ${name}: ${created.status}`);
    await this.checksCompleted(name);
    const merged = await this.api('POST', `/api/v1/servers/${name}/changes/1/merge`);
    if (merged.status !== 200) throw new Error(`merge ${name}: ${merged.status}`);
    await this.servingHead(name, opts);
    await opts.onServing?.();
    const wd = new GitWorkdir(await mkdtemp(path.join(scratch, 'wd-')), scratch);
    const url = new URL(`${this.url}/git/${name}.git`);
    url.username = 'e2e';
    url.password = this.key;
    await wd.git('clone', '-q', url.toString(), '.');
    await wd.git('config', 'user.email', 'e2e@example.com');
    await wd.git('config', 'user.name', 'e2e');
    await appendFile(path.join(wd.dir, 'README.md'), '\nA second revision.\n');
    await wd.commitAndPush('A second revision', 'main');
    await this.servingHead(name, opts);
    await opts.onServing?.();
  }

  /** One JSON-RPC request to a server's MCP endpoint with the owner key: the HTTP status and body text. */
  async mcp(server: string, method: string, params?: unknown): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.url}/s/${server}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) }),
    });
    return { status: res.status, text: await res.text() };
  }

  /** tools/call `add` (the echo template's) with a = i, b = 1: the status, and the sum when it answered one. */
  async add(server: string, i: number): Promise<{ status: number; sum?: string }> {
    const { status, text } = await this.mcp(server, 'tools/call', { name: 'add', arguments: { a: i, b: 1 } });
    const sum = /"text":"(\d+)"/.exec(text)?.[1];
    return { status, ...(sum ? { sum } : {}) };
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    await this.exited;
    for (const f of this.#forwarders.splice(0)) f.kill('SIGTERM');
  }
}
