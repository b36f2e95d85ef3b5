import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, cp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { InstanceStartError, SandboxUnavailableError } from '../errors.ts';
import { type BookEntry, CPU_BOOST_MS, InstanceBook } from './book.ts';
import { Cgroups, enterCgroupArgs, type InstanceCgroup } from './cgroups.ts';
import {
  ChannelBridge,
  channelEnv,
  channelStdio,
  closingInherited,
  findConfinedNode,
  packagedNode,
  permissionArgs,
  whichSync,
} from './confined.ts';
import { INSTANCE_ENV, INSTANCE_NODE_FLAGS, ownerOf, signalFromExitCode, waitHealthy } from './health.ts';
import { BoundedOutput, type JobOptions, type JobResult } from './job.ts';
import { type LivenessOptions, LivenessWatch } from './liveness.ts';
import type { LogBounds } from './logs.ts';
import { ownedTempDir, procStartTime, sweepOwnedTempDirs } from './owned-temp.ts';
import {
  DEFAULT_DISK_MB,
  diskQuota,
  prepareWritable,
  removeWritable,
  unmountQuotas,
  WRITABLE_DIRS,
  type Writable,
  warnUnboundedOnce,
} from './quota.ts';
import type { ExitInfo, Instance, LineSink, Runtime, StartOptions } from './types.ts';
import { MemoryUidPool, type UidPool, uidKey } from './uids.ts';

/** Preloaded before the bundle when running as root: the instance switches to its uid itself (see the file). */
const DROP_PRIVILEGES = fileURLToPath(new URL('./drop-privileges.cjs', import.meta.url));
/** Preloaded before a confined instance's bundle: it may signal itself only (and drops to its uid as root). */
const CONFINED_PRELOAD = fileURLToPath(new URL('./confined-preload.cjs', import.meta.url));

export type ProcessRuntimeOptions = {
  /** Root for `instances/<id>/` (record.json, log, sock/mcp.sock). */
  dataDir: string;
  /** Node binary that runs bundles. */
  nodePath?: string;
  /** Run without a sandbox when bubblewrap is missing (development only; logs a loud warning). */
  insecure?: boolean;
  /**
   * The `confined` layer (Node's permission model, see confined.ts): `fallback` (default) where bubblewrap is
   * missing, `always` even where it is present, `never` (no bubblewrap: instances are refused).
   */
  confined?: 'fallback' | 'always' | 'never';
  /** Node binary of confined instances (default: the reconciler's `node` dependency, else `nodePath` if ≥ 25). */
  confinedNodePath?: string;
  /** How long start() waits for /healthz. */
  startTimeoutMs?: number;
  /** bubblewrap binary (default: `bwrap` in the PATH); a missing path means no sandbox. */
  bwrapPath?: string;
  setprivPath?: string;
  prlimitPath?: string;
  /** Where each server's own host uid comes from when the platform runs as root (default: held in memory). */
  uids?: UidPool;
  /** Size in MiB of every writable path of an instance: /tmp and the compile cache (default 64). */
  diskMb?: number;
  /** Keep V8's compile cache per (server, tree) under `<dataDir>/compile-cache/` to start faster (default true). */
  compileCache?: boolean;
  /** Bounds on the instance logs kept in memory and on disk (defaults: DEFAULT_LOG_BOUNDS). */
  logBounds?: Partial<LogBounds>;
  /** Hears every kept output line of every instance (the platform's server logs); none by default. */
  lineSink?: LineSink;
  /** Where the runtime's own structured log lines go. */
  log?: (entry: Record<string, unknown>) => void;
  /** Memory, pids and CPU limits (default: detected; null turns them off). */
  cgroups?: Cgroups | null;
  /** How long an instance may use a whole core after it became healthy, before its CPU quota applies (default 5 s). */
  cpuBoostMs?: number;
  /** How started instances are watched for a stuck event loop (liveness.ts; `{ intervalMs: 0 }` turns it off). */
  liveness?: LivenessOptions;
};

/** What survives a platform crash on disk: the instance, plus start times so a recycled pid is never killed. */
type InstanceRecord = Omit<Instance, 'startedAt'> & {
  pidStart: string;
  wrapperPid: number | null;
  wrapperStart: string | null;
  startedAt: string;
};

type Entry = BookEntry & {
  child: ChildProcess;
  wrapperPid: number | null;
  stopping: boolean;
  exited: Promise<ExitInfo>;
  /** Settles after the exit was cleaned up (socket, record removed) and listeners were told. */
  closed: Promise<void>;
  cgroup: InstanceCgroup | null;
  /** The platform's end of a confined instance's channels. */
  bridge: ChannelBridge | null;
  /** Why the runtime itself killed it (it stopped answering), for its exit. */
  killedFor?: string;
} & Writable;

/** Pids of the direct children of `pid`. */
function procChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number | null, signal: NodeJS.Signals): void {
  // Never 0, -1 or init: process.kill(-1) would signal every process we may signal.
  if (pid === null || !Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Without a sandbox the bound folders are not moved: env values naming a path under a bind's `sandbox` path
 * (e.g. BMMS_EGRESS_SOCKET=/run/bmms-egress/egress.sock) are rewritten to the same path under its `host` folder.
 */
function hostPaths(env: Record<string, string>, binds: NonNullable<StartOptions['binds']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const bind = binds.find((b) => value === b.sandbox || value.startsWith(`${b.sandbox}/`));
    out[name] = bind ? `${bind.host}${value.slice(bind.sandbox.length)}` : value;
  }
  return out;
}

const SANDBOX_SOCKET_DIR = '/run/bmms';
const SANDBOX_APP_DIR = '/app';
const SANDBOX_BIN_DIR = '/opt/bmms/bin';
const SANDBOX_CACHE_DIR = '/var/cache/node';
const LIB_DIRS = ['/usr/lib', '/usr/lib64', '/lib', '/lib64'];

/**
 * The embedded runtime: one Node process per instance, sandboxed with bubblewrap and serving HTTP on a unix socket;
 * where bubblewrap is missing, confined by Node's permission model and served over inherited socket pairs.
 */
/** How one instance is spawned: the command, its options, its cgroup and (confined) its egress socket. */
type InstanceCommand = {
  file: string;
  args: string[];
  options: SpawnOptions;
  cgroup: InstanceCgroup | null;
  egressSocket?: string | undefined;
};

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly sandbox: Instance['sandbox'];
  /** Set when no sandbox is available and insecure mode is off: every start() refuses with it. */
  readonly unavailable: SandboxUnavailableError | undefined;
  readonly #dataDir: string;
  readonly #nodePath: string;
  readonly #startTimeoutMs: number;
  readonly #bwrapPath: string;
  readonly #setprivPath: string;
  readonly #prlimitPath: string;
  /** The Node binary of confined instances (sandbox `confined`). */
  readonly #confinedNode: string | null = null;
  /** Folders copied where a confined instance's own uid can reach them (root only), by original folder. */
  readonly #exposed = new Map<string, Promise<string>>();
  #exposeRoot: Promise<string> | undefined;
  readonly #uids: UidPool;
  readonly #diskMb: number;
  readonly #compileCache: boolean;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #warnUnbounded: (err: Error) => void;
  readonly #book: InstanceBook<Entry>;
  readonly #cpuBoostMs: number;
  readonly #liveness: LivenessWatch;
  /** Where memory, pids and CPU limits are enforced; null when they cannot be (then only the V8 heap is capped). */
  readonly cgroups: Cgroups | null;

  constructor(opts: ProcessRuntimeOptions) {
    this.#dataDir = opts.dataDir;
    this.#nodePath = realpathSync(opts.nodePath ?? process.execPath);
    this.#startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.#bwrapPath = opts.bwrapPath ?? whichSync('bwrap') ?? 'bwrap';
    this.#setprivPath = opts.setprivPath ?? whichSync('setpriv') ?? '/usr/bin/setpriv';
    this.#prlimitPath = opts.prlimitPath ?? whichSync('prlimit') ?? '/usr/bin/prlimit';
    this.#uids = opts.uids ?? new MemoryUidPool();
    this.#diskMb = opts.diskMb ?? DEFAULT_DISK_MB;
    this.#compileCache = opts.compileCache ?? true;
    this.#log = opts.log ?? ((entry) => process.stderr.write(`${JSON.stringify(entry)}\n`));
    this.#warnUnbounded = warnUnboundedOnce(this.#log);
    this.#book = new InstanceBook({ logBounds: opts.logBounds, log: this.#log, lineSink: opts.lineSink });
    this.#cpuBoostMs = opts.cpuBoostMs ?? CPU_BOOST_MS;
    this.#liveness = new LivenessWatch({
      ...opts.liveness,
      instances: () =>
        [...this.#book.entries.values()]
          .filter((e) => e.started && !e.stopping)
          .map((e) => {
            const bridge = e.bridge;
            return {
              id: e.instance.id,
              socketPath: e.instance.socketPath,
              ...(bridge ? { unreachable: () => !bridge.hasFreeChannel() } : {}),
            };
          }),
      kill: (id, why) => this.#killStuck(id, why),
    });
    this.#liveness.start();

    const missing = ProcessRuntime.bubblewrapMissing(opts);
    const confine = opts.confined ?? 'fallback';
    this.unavailable = undefined;
    this.cgroups = null;
    if (missing === undefined && confine !== 'always') {
      this.sandbox = 'bubblewrap';
      // One parent per data dir: two platforms (or test runs) on one host never collect each other's instances.
      this.cgroups = opts.cgroups === undefined ? Cgroups.detect(`bmms-${ownerOf(this.#dataDir)}`) : opts.cgroups;
      if (!this.cgroups) {
        this.#log({
          level: 'warn',
          msg: 'no writable cgroup hierarchy: instance memory, pids and CPU limits are not enforced (only the V8 heap is capped)',
        });
      }
    } else if (opts.insecure && confine !== 'always') {
      this.sandbox = 'none';
      this.#log({
        level: 'warn',
        msg: `INSECURE: ${missing} not found; MCP servers will run WITHOUT a sandbox, with the platform's user, network and filesystem. Never do this in production.`,
      });
    } else if (confine !== 'never') {
      // No bubblewrap: Node's permission model, with a Node that gates the network (confined.ts).
      const node = findConfinedNode([opts.confinedNodePath, packagedNode(), this.#nodePath]);
      this.sandbox = 'confined';
      if (!node) {
        this.unavailable = new SandboxUnavailableError(
          missing ?? 'bwrap',
          'and no Node 25 or later for the confined runtime (npm install puts one in reconciler/node_modules)',
        );
      } else if (this.#isRoot() && !isExecutable(this.#setprivPath)) {
        // As root a confined instance must drop to its own uid, with no way back.
        this.unavailable = new SandboxUnavailableError(this.#setprivPath);
      } else {
        this.#confinedNode = node.path;
        if (this.#isRoot()) {
          this.cgroups = opts.cgroups === undefined ? Cgroups.detect(`bmms-${ownerOf(this.#dataDir)}`) : opts.cgroups;
        }
        this.#log({
          level: 'warn',
          msg: `no bubblewrap: MCP servers run confined by Node ${node.major}'s permission model (read-only bundle; no network, processes, workers or addons). Not a hardened sandbox: install bubblewrap for production.`,
        });
      }
    } else {
      // The platform still runs (API, git, checks); instances are refused until bubblewrap is installed.
      this.sandbox = 'none';
      this.unavailable = new SandboxUnavailableError(missing ?? 'bwrap');
    }
  }

  /** The Node binary confined instances run on (null unless the sandbox is `confined`). */
  get confinedNode(): string | null {
    return this.#confinedNode;
  }

  #isRoot(): boolean {
    return process.getuid?.() === 0;
  }

  /**
   * What bubblewrap needs and this host lacks (bwrap, prlimit, and setpriv as root), as the constructor would look
   * them up; undefined when the bubblewrap sandbox is available.
   */
  static bubblewrapMissing(
    opts: Pick<ProcessRuntimeOptions, 'bwrapPath' | 'prlimitPath' | 'setprivPath'> = {},
  ): string | undefined {
    const bwrap = opts.bwrapPath ?? whichSync('bwrap') ?? 'bwrap';
    const prlimit = opts.prlimitPath ?? whichSync('prlimit') ?? '/usr/bin/prlimit';
    const setpriv = opts.setprivPath ?? whichSync('setpriv') ?? '/usr/bin/setpriv';
    const needed = [bwrap, prlimit, ...(process.getuid?.() === 0 ? [setpriv] : [])];
    return needed.find((p) => !isExecutable(p));
  }

  /** Start one instance of a bundle and wait for its /healthz. */
  async start(opts: StartOptions): Promise<Instance> {
    if (this.unavailable) throw this.unavailable;
    checkBinds(opts.binds ?? []);
    const sandboxed = this.sandbox === 'bubblewrap';
    const confined = this.sandbox === 'confined';
    // As root every server runs as its own host uid; without root bwrap's user namespace maps the platform's.
    const owner = (sandboxed || confined) && this.#isRoot() ? await this.#ownerOf(opts) : null;
    // A confined instance may write nowhere: no compile cache (it would be a folder it writes to).
    const compileCache = this.#compileCache && !confined;
    const dirs = await this.#book.dirs(this.#dataDir, opts.serverName, opts.treeSha, {
      cache: compileCache,
      cacheScope: uidKey(opts.serverName, opts.kind),
    });
    const { id, instanceDir, sockDir, socketPath } = dirs;
    const { cacheDir, tmpDir, mounts, ownCache } = await prepareWritable(dirs, confined ? null : owner, {
      diskMb: this.#diskMb,
      compileCache,
      onUnbounded: this.#warnUnbounded,
    });

    let command: InstanceCommand;
    try {
      command = await this.#command(opts, { id, socketPath, sockDir, cacheDir, tmpDir }, owner);
    } catch (err) {
      // Nothing started: the quota mounts just made would otherwise stay until the next start's orphan sweep.
      await removeWritable({ mounts, ownCache: null }, instanceDir);
      throw err;
    }
    const { file, args, options, cgroup, egressSocket } = command;
    const child: ChildProcess = spawn(file, args, confined ? closingInherited(options) : options);
    const startedAt = new Date();

    const { lines, logFile, capture } = this.#book.newLog(instanceDir, id, opts);
    capture.follow(child.stdout, 'stdout');
    capture.follow(child.stderr, 'stderr');

    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code, signal) =>
        resolve({
          code,
          // bwrap's init passes on a killed server's status as 128+n.
          signal: signal ?? (sandboxed ? signalFromExitCode(code) : null),
          expected: entry.stopping,
          ...(entry.killedFor ? { reason: entry.killedFor } : {}),
        }),
      );
      child.once('error', (err) => {
        capture.note(`spawn failed: ${err.message}`);
        resolve({ code: null, signal: null, expected: entry.stopping });
      });
    });
    const instance: Instance = {
      id,
      serverName: opts.serverName,
      revision: opts.revision,
      treeSha: opts.treeSha,
      socketPath,
      pid: child.pid ?? -1,
      startedAt,
      sandbox: this.sandbox,
    };
    const entry: Entry = {
      instance,
      child,
      wrapperPid: null,
      lines,
      logFile,
      capture,
      stopping: false,
      started: false,
      exited,
      closed: exited.then((info) => this.#onClosed(entry, instanceDir, info)),
      cgroup,
      bridge: null,
      mounts,
      ownCache,
    };
    this.#book.entries.set(id, entry);

    try {
      if (sandboxed) {
        entry.wrapperPid = child.pid ?? null;
        instance.pid = await this.#readChildPid(child, exited);
      }
      if (confined) {
        entry.bridge = new ChannelBridge(child, {
          socketPath,
          egressSocket,
          onExhausted: () => {
            if (entry.stopping || child.exitCode !== null || child.signalCode !== null) return;
            capture.note('killed: the instance closed every channel to the platform');
            kill(instance.pid, 'SIGKILL');
          },
        });
        await entry.bridge.listen();
      }
      await this.#writeRecord(instanceDir, entry);
      await this.#waitHealthy(entry);
    } catch (err) {
      this.#forceKill(entry);
      const info = await exited;
      await entry.closed;
      const why = err instanceof Error ? err.message : String(err);
      throw new InstanceStartError(
        `Instance ${id} of ${opts.serverName}@${opts.revision.slice(0, 12)} did not become healthy: ${why}`,
        lines.tail(20),
        { instanceId: id, exitCode: info.code, signal: info.signal },
      );
    }
    entry.started = true;
    if (cgroup && this.cgroups) {
      const cgroups = this.cgroups;
      const limit = () => void cgroups.limitCpu(cgroup, opts.limits.cpu);
      if (this.#cpuBoostMs > 0) setTimeout(limit, this.#cpuBoostMs).unref();
      else limit();
    }
    return { ...instance };
  }

  /**
   * Runs a one-shot Node program in the sandbox an instance of `serverName` gets (own network, pid and user
   * namespaces, read-only root, the instance's Node flags, a memory/pids/CPU cgroup, the preview uid as root), with
   * `appDir` read-only at `/app`. Resolves when it ended, was killed at its time limit or aborted.
   */
  async runJob(opts: JobOptions): Promise<JobResult> {
    if (this.unavailable) throw this.unavailable;
    const sandboxed = this.sandbox === 'bubblewrap';
    const confined = this.sandbox === 'confined';
    const owner = (sandboxed || confined) && this.#isRoot() ? await this.#ownerOf({ ...opts, kind: 'preview' }) : null;
    // As root a confined job reads its folder as its own uid: a copy where it can (one-shot, removed after).
    const appDir = confined && owner ? await this.#reachable(opts.appDir) : opts.appDir;
    const limits = {
      memoryMb: opts.limits.memoryMb,
      cpu: opts.limits.cpu ?? 1,
      timeoutMs: opts.limits.timeoutMs,
      pids: opts.limits.pids ?? 64,
    };
    const heapMb = this.cgroups ? limits.memoryMb * 0.75 : limits.memoryMb;
    const nodeArgs = [`--max-old-space-size=${Math.max(16, Math.floor(heapMb))}`, ...INSTANCE_NODE_FLAGS];
    const env: Record<string, string> = { ...opts.env, ...INSTANCE_ENV };
    if (owner) {
      nodeArgs.push('--require', `${SANDBOX_BIN_DIR}/drop-privileges.cjs`);
      env.BMMS_RUN_AS = `${owner.uid}:${owner.gid}`;
    }
    const cgroup =
      (sandboxed || confined) && this.cgroups ? await this.cgroups.create(`job-${randomUUID()}`, limits) : null;
    const program = [...nodeArgs, ...opts.args];
    let child: ChildProcess;
    if (confined) {
      const confinedEnv: Record<string, string> = { ...opts.env, ...INSTANCE_ENV };
      if (owner) confinedEnv.BMMS_RUN_AS = `${owner.uid}:${owner.gid}`;
      const job = this.#confinedProgram([appDir], heapMb, owner, opts.args);
      const cmd = cgroup ? enterCgroupArgs(cgroup, job.file, job.args) : job;
      child = spawn(
        cmd.file,
        cmd.args,
        closingInherited({ env: confinedEnv, cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] }),
      );
    } else if (sandboxed) {
      const noWritable = { sockDir: null, cacheDir: null, tmpDir: null };
      const bwrapArgs = this.#bwrapArgs({ dir: opts.appDir, cwd: SANDBOX_APP_DIR }, noWritable, program, []);
      const cmd = cgroup
        ? enterCgroupArgs(cgroup, this.#bwrapPath, bwrapArgs)
        : { file: this.#bwrapPath, args: bwrapArgs };
      child = spawn(cmd.file, cmd.args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
      (child.stdio[3] as Readable | null)?.resume();
    } else {
      child = spawn(this.#nodePath, program, { env, cwd: opts.appDir, stdio: ['ignore', 'pipe', 'pipe'] });
    }
    const output = new BoundedOutput(opts.limits.outputBytes);
    output.follow(child.stdout);
    output.follow(child.stderr);
    let timedOut = false;
    const stop = () => {
      if (child.pid !== undefined) kill(child.pid, 'SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limits.timeoutMs);
    opts.signal?.addEventListener('abort', stop, { once: true });
    if (opts.signal?.aborted) stop();
    try {
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('close', (code, signal) =>
          resolve({ code, signal: signal ?? (sandboxed ? signalFromExitCode(code) : null) }),
        );
        child.once('error', (err) => {
          output.add(`[bmms] spawn failed: ${err.message}\n`);
          resolve({ code: null, signal: null });
        });
      });
      const oomKilled = cgroup && this.cgroups ? (await this.cgroups.oomKills(cgroup)) > 0 : false;
      return {
        code,
        signal,
        output: output.text(),
        truncated: output.truncated,
        timedOut,
        oomKilled,
        sandbox: this.sandbox === 'bubblewrap' || this.sandbox === 'confined' ? this.sandbox : 'none',
      };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', stop);
      if (cgroup && this.cgroups) await this.cgroups.remove(cgroup);
      if (appDir !== opts.appDir) {
        this.#exposed.delete(opts.appDir);
        await rm(appDir, { recursive: true, force: true });
      }
    }
  }

  /**
   * How to spawn the instance: node on the bundle, inside bubblewrap (and its cgroup, created here) when sandboxed,
   * with the environment, heap limit and uid switch it runs under.
   */
  async #command(
    opts: StartOptions,
    dirs: { id: string; socketPath: string; sockDir: string; cacheDir: string | null; tmpDir: string | null },
    owner: { uid: number; gid: number } | null,
  ): Promise<InstanceCommand> {
    const { id, socketPath, sockDir, cacheDir, tmpDir } = dirs;
    const sandboxed = this.sandbox === 'bubblewrap';
    const binds = opts.binds ?? [];
    if (this.sandbox === 'confined') return this.#confinedCommand(opts, id, owner);
    const env: Record<string, string> = {
      ...(sandboxed ? opts.env : hostPaths(opts.env, binds)),
      ...INSTANCE_ENV,
      BMMS_SOCKET: sandboxed ? `${SANDBOX_SOCKET_DIR}/mcp.sock` : socketPath,
      BMMS_REVISION: opts.revision,
      BMMS_TIMEOUT_MS: String(opts.limits.timeoutMs),
    };
    // As root the cache is enabled after the uid switch (drop-privileges.cjs): node would create it as uid 0.
    if (cacheDir) env[owner ? 'BMMS_COMPILE_CACHE' : 'NODE_COMPILE_CACHE'] = sandboxed ? SANDBOX_CACHE_DIR : cacheDir;
    // Under a memory cgroup V8's heap stays below the limit: a heap bomb ends as a V8 error, anything else as an OOM kill.
    const heapMb = this.cgroups ? opts.limits.memoryMb * 0.75 : opts.limits.memoryMb;
    const nodeArgs = [`--max-old-space-size=${Math.max(16, Math.floor(heapMb))}`, ...INSTANCE_NODE_FLAGS];
    if (owner) {
      nodeArgs.push('--require', `${SANDBOX_BIN_DIR}/drop-privileges.cjs`);
      env.BMMS_RUN_AS = `${owner.uid}:${owner.gid}`;
    }
    const cgroup = sandboxed && this.cgroups ? await this.cgroups.create(id, opts.limits, { cpuBoost: true }) : null;
    // The environment goes to the child through spawn's env, not --setenv, so secrets never show in `ps`.
    if (sandboxed) {
      const bundleName = opts.bundlePath.slice(dirname(opts.bundlePath).length + 1);
      const bwrapArgs = this.#bwrapArgs(
        { dir: dirname(opts.bundlePath), cwd: '/tmp' },
        { sockDir, cacheDir, tmpDir },
        [...nodeArgs, `${SANDBOX_APP_DIR}/${bundleName}`],
        binds,
      );
      const cmd = cgroup
        ? enterCgroupArgs(cgroup, this.#bwrapPath, bwrapArgs)
        : { file: this.#bwrapPath, args: bwrapArgs };
      return { ...cmd, options: { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }, cgroup };
    }
    return {
      file: this.#nodePath,
      args: [...nodeArgs, opts.bundlePath],
      options: { env, stdio: ['ignore', 'pipe', 'pipe'] },
      cgroup,
    };
  }

  /**
   * A confined instance: node under the permission model (read access to the bundle's folder only), behind prlimit
   * where present, as root dropped to the server's uid (setpriv, then drop-privileges.cjs) and in its cgroup. It
   * gets socket pairs instead of a socket path; an egress proxy socket among its env becomes the egress channel.
   */
  async #confinedCommand(
    opts: StartOptions,
    id: string,
    owner: { uid: number; gid: number } | null,
  ): Promise<{
    file: string;
    args: string[];
    options: SpawnOptions;
    cgroup: InstanceCgroup | null;
    egressSocket: string | undefined;
  }> {
    const { BMMS_EGRESS_SOCKET: egressSocket, ...env } = hostPaths(opts.env, opts.binds ?? []);
    const heapMb = this.cgroups ? opts.limits.memoryMb * 0.75 : opts.limits.memoryMb;
    const bundleDir = owner ? await this.#reachable(dirname(opts.bundlePath)) : dirname(opts.bundlePath);
    const bundle = join(bundleDir, basename(opts.bundlePath));
    const program = this.#confinedProgram([bundleDir], heapMb, owner, [bundle]);
    const cgroup = this.cgroups ? await this.cgroups.create(id, opts.limits, { cpuBoost: true }) : null;
    const cmd = cgroup ? enterCgroupArgs(cgroup, program.file, program.args) : program;
    const childEnv: Record<string, string> = {
      ...env,
      ...INSTANCE_ENV,
      ...channelEnv(egressSocket !== undefined),
      BMMS_REVISION: opts.revision,
      BMMS_TIMEOUT_MS: String(opts.limits.timeoutMs),
      ...(owner ? { BMMS_RUN_AS: `${owner.uid}:${owner.gid}` } : {}),
    };
    return {
      ...cmd,
      options: { env: childEnv, cwd: bundleDir, stdio: channelStdio(egressSocket !== undefined) },
      cgroup,
      egressSocket,
    };
  }

  /**
   * `dir` as a confined instance running as its own uid can open it: itself when every folder above lets other
   * users through, else a copy (made once) in a folder of ours under the system's temporary folder. The data dir
   * is the platform's alone (0700) and stays so.
   */
  async #reachable(dir: string): Promise<string> {
    if (await reachableByOthers(dir)) return dir;
    let copy = this.#exposed.get(dir);
    if (!copy) {
      copy = (async () => {
        this.#exposeRoot ??= (async () => {
          // Recorded as this process's, so that a later start removes it once this process is gone (killed).
          const root = await ownedTempDir(EXPOSED_PREFIX);
          await chmod(root, 0o711);
          return root;
        })();
        const root = await this.#exposeRoot;
        const target = join(root, createHash('sha256').update(dir).digest('hex').slice(0, 24));
        const staging = `${target}.${randomUUID()}`;
        await cp(dir, staging, { recursive: true });
        await chmodTree(staging);
        await rename(staging, target).catch(async (err) => {
          await rm(staging, { recursive: true, force: true });
          if (!existsSync(target)) throw err;
        });
        return target;
      })();
      this.#exposed.set(dir, copy);
      copy.catch(() => this.#exposed.delete(dir));
    }
    return copy;
  }

  /** The command line of confined node on `script` (and its arguments), wrapped in prlimit and setpriv. */
  #confinedProgram(
    readable: string[],
    heapMb: number,
    owner: { uid: number; gid: number } | null,
    script: string[],
  ): { file: string; args: string[] } {
    const node = this.#confinedNode as string;
    const nodeArgs = [
      ...permissionArgs([...readable, CONFINED_PRELOAD, ...(owner ? [DROP_PRIVILEGES] : [])]),
      `--max-old-space-size=${Math.max(16, Math.floor(heapMb))}`,
      ...INSTANCE_NODE_FLAGS,
      '--require',
      CONFINED_PRELOAD,
      ...script,
    ];
    let command = [node, ...nodeArgs];
    if (owner) {
      // Node starts as root holding only CAP_SETUID/CAP_SETGID and switches to the server's uid before any of the
      // bundle loads (drop-privileges.cjs), as in bubblewrap; no_new_privs keeps it from regaining anything.
      command = [
        this.#setprivPath,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all,+setuid,+setgid',
        '--no-new-privs',
        '--',
        ...command,
      ];
    }
    if (isExecutable(this.#prlimitPath)) {
      command = [this.#prlimitPath, '--nofile=1024:1024', '--core=0', '--fsize=0', '--', ...command];
    }
    const [file, ...args] = command as [string, ...string[]];
    return { file, args };
  }

  /** The host uid (and same-numbered gid) of this server's instances, from the pool. */
  async #ownerOf(opts: Pick<StartOptions, 'serverName' | 'kind'>): Promise<{ uid: number; gid: number }> {
    const uid = await this.#uids.uidFor(uidKey(opts.serverName, opts.kind));
    return { uid, gid: uid };
  }

  #bwrapArgs(
    app: { dir: string; cwd: string },
    { sockDir, cacheDir, tmpDir }: { sockDir: string | null; cacheDir: string | null; tmpDir: string | null },
    nodeArgs: string[],
    binds: NonNullable<StartOptions['binds']>,
  ): string[] {
    const args = [
      '--unshare-ipc',
      '--unshare-pid',
      '--unshare-net',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--die-with-parent',
      '--new-session',
      '--info-fd',
      '3',
    ];
    // As root a user namespace would map only uid 0, and setpriv could not drop to an unprivileged uid;
    // so root stays in the initial user namespace and drops privileges with setpriv instead.
    if (!this.#isRoot()) args.push('--unshare-user');
    // bwrap creates missing parents of a mount point as 0700 when run as root; the server's uid must traverse them.
    const made = new Set<string>();
    const bind = (flag: '--ro-bind' | '--bind', src: string, dest: string): void => {
      const parts = dest.split('/').filter(Boolean);
      for (let i = 1; i < parts.length; i++) {
        const dir = `/${parts.slice(0, i).join('/')}`;
        if (!made.has(dir)) args.push('--perms', '0755', '--dir', dir);
        made.add(dir);
      }
      args.push(flag, src, dest);
    };
    for (const dir of LIB_DIRS) {
      if (!existsSync(dir)) continue;
      if (lstatSync(dir).isSymbolicLink()) args.push('--symlink', realpathSync(dir), dir);
      else bind('--ro-bind', dir, dir);
    }
    // Fixed paths inside: the host paths may lie under /tmp, which the sandbox replaces with a tmpfs.
    const node = `${SANDBOX_BIN_DIR}/node`;
    const prlimit = `${SANDBOX_BIN_DIR}/prlimit`;
    const setpriv = `${SANDBOX_BIN_DIR}/setpriv`;
    bind('--ro-bind', this.#nodePath, node);
    bind('--ro-bind', this.#prlimitPath, prlimit);
    if (this.#isRoot()) {
      bind('--ro-bind', this.#setprivPath, setpriv);
      bind('--ro-bind', DROP_PRIVILEGES, `${SANDBOX_BIN_DIR}/drop-privileges.cjs`);
    }
    bind('--ro-bind', app.dir, SANDBOX_APP_DIR);
    if (sockDir) bind('--bind', sockDir, SANDBOX_SOCKET_DIR);
    if (cacheDir) bind('--bind', cacheDir, SANDBOX_CACHE_DIR);
    if (tmpDir) bind('--bind', tmpDir, '/tmp');
    for (const extra of binds) bind('--bind', extra.host, extra.sandbox);
    args.push(
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      // Without a host quota mount (not root) /tmp is bubblewrap's own tmpfs, bounded in size only.
      ...(tmpDir ? [] : ['--perms', '01777', '--size', String(diskQuota(this.#diskMb).bytes), '--tmpfs', '/tmp']),
      '--chdir',
      app.cwd,
      '--',
      prlimit,
      '--nofile=1024:1024',
      '--core=0',
      '--fsize=67108864',
      '--',
    );
    if (this.#isRoot()) {
      // Node starts as uid 0 with nothing but CAP_SETUID/CAP_SETGID and switches to the server's uid before the
      // bundle loads (drop-privileges.cjs): a process that switches itself is non-dumpable, one exec'd after
      // setpriv's switch is not. no_new_privs keeps it from ever regaining anything.
      args.push(
        setpriv,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all,+setuid,+setgid',
        '--no-new-privs',
        '--',
      );
    }
    args.push(node, ...nodeArgs);
    return args;
  }

  /**
   * bubblewrap reports the host pid of its init inside the new pid namespace on the info fd; the server is that
   * init's only child. (Not --as-pid-1: setpriv's uid change clears the parent-death signal, so a server that is
   * pid 1 would outlive a killed bwrap; with bwrap's init as pid 1 the whole namespace dies with it.)
   */
  async #readChildPid(child: ChildProcess, exited: Promise<ExitInfo>): Promise<number> {
    const stream = child.stdio[3] as Readable | null;
    if (!stream) throw new Error('bubblewrap info fd is missing');
    let text = '';
    const pid = new Promise<number>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        try {
          const info = JSON.parse(text) as { 'child-pid'?: number };
          if (typeof info['child-pid'] === 'number') resolve(info['child-pid']);
        } catch {
          // incomplete JSON so far
        }
      });
      stream.on('end', () => reject(new Error('bubblewrap exited before reporting the child pid')));
      stream.on('error', reject);
    });
    let done = false;
    const exitedEarly = exited.then((info): never => {
      throw new Error(`bubblewrap exited with ${info.code ?? info.signal} before the server started`);
    });
    const server = pid.then(async (init) => {
      for (let i = 0; i < 500 && !done; i++) {
        const [first] = procChildren(init);
        if (first !== undefined) return first;
        await sleep(2);
      }
      throw new Error('bubblewrap did not start the server process');
    });
    try {
      return await Promise.race([server, exitedEarly]);
    } finally {
      done = true;
    }
  }

  async #writeRecord(instanceDir: string, entry: Entry): Promise<void> {
    const { instance } = entry;
    const pidStart = procStartTime(instance.pid);
    if (pidStart === null) throw new Error('process exited right after spawn');
    const record: InstanceRecord = {
      id: instance.id,
      serverName: instance.serverName,
      revision: instance.revision,
      treeSha: instance.treeSha,
      socketPath: instance.socketPath,
      pid: instance.pid,
      pidStart,
      wrapperPid: entry.wrapperPid,
      wrapperStart: entry.wrapperPid === null ? null : procStartTime(entry.wrapperPid),
      startedAt: instance.startedAt.toISOString(),
      sandbox: instance.sandbox,
    };
    await writeFile(join(instanceDir, 'record.json'), JSON.stringify(record), { mode: 0o600 });
  }

  async #waitHealthy(entry: Entry): Promise<void> {
    let exit: ExitInfo | null = null;
    void entry.exited.then((info) => {
      exit = info;
    });
    await waitHealthy(entry.instance.socketPath, { timeoutMs: this.#startTimeoutMs, exited: () => exit });
  }

  async #onClosed(entry: Entry, instanceDir: string, info: ExitInfo): Promise<void> {
    await this.#book.closing(entry, info, async () => {
      await entry.bridge?.close();
      if (entry.cgroup && this.cgroups) {
        if ((await this.cgroups.oomKills(entry.cgroup)) > 0) {
          entry.capture.note('killed: out of memory (the instance hit its memory limit)');
        }
        await this.cgroups.remove(entry.cgroup);
      }
      await removeWritable(entry, instanceDir);
      await rm(join(instanceDir, 'record.json'), { force: true }).catch(() => {});
    });
  }

  /** SIGKILL the server; bwrap then exits on its own (killing bwrap first could leave a zombie), else it goes too. */
  /** Kills an instance the liveness watch found stuck: an unexpected exit, which the reconciler restarts. */
  #killStuck(id: string, why: string): void {
    const entry = this.#book.entries.get(id);
    if (!entry || entry.stopping) return;
    entry.killedFor = why;
    entry.capture.note(`killed: ${why}`);
    this.#log({ level: 'warn', msg: 'killing a stuck instance', instance: id, server: entry.instance.serverName, why });
    this.#forceKill(entry);
  }

  #forceKill(entry: Entry): void {
    kill(entry.instance.pid, 'SIGKILL');
    if (entry.wrapperPid !== null && entry.wrapperPid !== entry.instance.pid) {
      const wrapper = entry.wrapperPid;
      setTimeout(() => kill(wrapper, 'SIGKILL'), 1000).unref();
    }
  }

  /** Stop an instance gracefully (SIGTERM, then SIGKILL after graceMs); resolves when its process is gone. */
  async stop(instanceId: string, opts: { graceMs: number }): Promise<void> {
    const entry = this.#book.entries.get(instanceId);
    if (!entry) {
      await this.#book.released(instanceId);
      return;
    }
    entry.stopping = true;
    kill(entry.instance.pid, 'SIGTERM');
    const timer = setTimeout(() => this.#forceKill(entry), opts.graceMs);
    await entry.exited;
    clearTimeout(timer);
    await entry.closed;
  }

  /** Running instances started by this runtime object. */
  list(): Instance[] {
    return this.#book.list();
  }

  /** See `Runtime.settled`: the starts and exit handlings in flight that the book counts. */
  settled(serverName: string, timeoutMs: number): Promise<void> {
    return this.#book.settled(serverName, timeoutMs);
  }

  /** Subscribe to instance exits; returns the unsubscribe function. */
  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    return this.#book.onExit(cb);
  }

  /** Last captured stdout/stderr lines of an instance. */
  logs(instanceId: string): string[] {
    return this.#book.logs(instanceId);
  }

  /** Kill processes recorded under `<dataDir>/instances/` that this runtime did not start, checking pid start times. */
  async cleanupOrphans(): Promise<number> {
    const root = join(this.#dataDir, 'instances');
    const ids = await readdir(root).catch(() => [] as string[]);
    let killed = 0;
    for (const id of ids) {
      if (this.#book.entries.has(id)) continue;
      const recordPath = join(root, id, 'record.json');
      let record: InstanceRecord;
      try {
        record = JSON.parse(await readFile(recordPath, 'utf8')) as InstanceRecord;
      } catch {
        // Died before its record was written: nothing to kill (its cgroup is emptied below), only its mounts.
        await unmountQuotas(WRITABLE_DIRS.map((dir) => join(root, id, dir)));
        continue;
      }
      // A pid whose start time differs is a recycled pid owned by someone else: never touch it.
      const gone = async (pid: number, start: string): Promise<void> => {
        for (let i = 0; i < 100 && procStartTime(pid) === start; i++) await sleep(10);
      };
      const victims: number[] = [];
      // The server first: bwrap then reaps it and exits; the wrapper only if it is still there.
      for (const [pid, start] of [
        [record.pid, record.pidStart],
        [record.wrapperPid, record.wrapperStart],
      ] as const) {
        if (typeof pid !== 'number' || typeof start !== 'string' || procStartTime(pid) !== start) continue;
        kill(pid, 'SIGKILL');
        victims.push(pid);
        await gone(pid, start);
      }
      if (victims.length > 0) {
        killed++;
        this.#log({ level: 'info', msg: 'killed orphan instance', instanceId: id, serverName: record.serverName });
      }
      await rm(recordPath, { force: true });
      await unmountQuotas(WRITABLE_DIRS.map((dir) => join(root, id, dir)));
      for (const dir of WRITABLE_DIRS) await rm(join(root, id, dir), { recursive: true, force: true });
    }
    await sweepExposedCopies(tmpdir(), (dir) =>
      this.#log({ level: 'info', msg: 'removed bundle copies left by a previous run', dir }),
    );
    // A cgroup outlives a crash of ours with everything still inside it: empty it, whatever the records say.
    if (this.cgroups) {
      for (const [id, cg] of await this.cgroups.leftovers()) {
        if (this.#book.entries.has(id)) continue;
        await this.cgroups.remove(cg);
      }
    }
    return killed;
  }
}

/** The folder (under the system's temporary folder) of a process's bundle copies that confined instances can read. */
const EXPOSED_PREFIX = 'bmms-confined-';

/**
 * Removes the bundle-copy folders (`bmms-confined-*` in `root`) of platform processes that are gone: killed, a
 * process never runs its exit handler (see owned-temp.ts).
 */
export function sweepExposedCopies(root: string, removed?: (dir: string) => void): Promise<number> {
  return sweepOwnedTempDirs(root, EXPOSED_PREFIX, removed);
}

/** True when every folder from `dir` up lets other users through (x): a confined instance's own uid can reach it. */
async function reachableByOthers(dir: string): Promise<boolean> {
  for (let d = dir; ; d = dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

/** Folders 0755, files 0644: what a bundle needs to be read by any uid. */
async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path);
    else if (entry.isFile()) await chmod(path, 0o644);
  }
}

/** A bind may add a folder, never shadow the bundle, the server's socket or the system dirs. */
function checkBinds(binds: { host: string; sandbox: string }[]): void {
  const reserved = [SANDBOX_SOCKET_DIR, SANDBOX_APP_DIR, SANDBOX_BIN_DIR, SANDBOX_CACHE_DIR, '/proc', '/dev', '/tmp'];
  for (const b of binds) {
    const ok =
      /^\/[A-Za-z0-9._/-]+$/.test(b.sandbox) &&
      !b.sandbox.split('/').includes('..') &&
      !reserved.some((r) => b.sandbox === r || b.sandbox.startsWith(`${r}/`) || r.startsWith(`${b.sandbox}/`)) &&
      !LIB_DIRS.some((d) => b.sandbox === d || b.sandbox.startsWith(`${d}/`));
    if (!ok) throw new InstanceStartError(`Bind target "${b.sandbox}" is not allowed`, []);
  }
}
