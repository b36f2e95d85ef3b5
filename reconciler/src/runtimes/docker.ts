import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chown, mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { InstanceStartError } from '../errors.ts';
import { ensureBaseImage, IMAGE_PATHS } from './docker-image.ts';
import { instanceSlug, ownerOf, signalFromExitCode, waitHealthy } from './health.ts';
import { DEFAULT_PIDS, type ExitInfo, type Instance, type Runtime, type StartOptions } from './types.ts';

export type DockerRuntimeOptions = {
  /** Root for `instances/<id>/` (log, sock/mcp.sock) and the compile caches; bind-mounted into containers. */
  dataDir: string;
  /** The engine; default: DOCKER_HOST or /var/run/docker.sock. */
  docker?: Docker;
  /** Image to run; default: the offline base image built from `nodePath` on first use. */
  image?: string;
  /** Node binary the offline base image is built from. */
  nodePath?: string;
  /** How long start() waits for /healthz. */
  startTimeoutMs?: number;
  /** Uid:gid inside the container. */
  user?: string;
  logLines?: number;
  log?: (entry: Record<string, unknown>) => void;
};

type Entry = {
  instance: Instance;
  container: Docker.Container;
  lines: string[];
  logFile: WriteStream;
  stopping: boolean;
  started: boolean;
  exited: Promise<ExitInfo>;
  closed: Promise<void>;
};

/** Labels every container of ours carries, so a restarted platform finds (and collects) what it owns. */
export const LABELS = {
  owner: 'dev.bmms.owner',
  server: 'dev.bmms.server',
  revision: 'dev.bmms.revision',
  tree: 'dev.bmms.tree',
  instance: 'dev.bmms.instance',
} as const;

/**
 * One container per instance: read-only root, tmpfs /tmp, a non-root user, every capability dropped,
 * no-new-privileges, CPU, memory and pids limits, no network at all. The bundle folder is mounted read-only and
 * the instance serves on a unix socket in a bind-mounted folder, like the process runtime.
 */
export class DockerRuntime implements Runtime {
  readonly name: string = 'docker';
  readonly #dataDir: string;
  readonly #docker: Docker;
  readonly #nodePath: string;
  readonly #startTimeoutMs: number;
  readonly #user: string;
  readonly #logLines: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #recentLogs = new Map<string, string[]>();
  readonly #exitListeners = new Set<(instance: Instance, info: ExitInfo) => void>();
  #owner: string | undefined;
  #image: Promise<string> | undefined;

  constructor(opts: DockerRuntimeOptions) {
    this.#dataDir = opts.dataDir;
    this.#docker = opts.docker ?? new Docker();
    this.#nodePath = opts.nodePath ?? process.execPath;
    this.#startTimeoutMs = opts.startTimeoutMs ?? 20_000;
    this.#user = opts.user ?? '65534:65534';
    this.#logLines = opts.logLines ?? 200;
    this.#log = opts.log ?? ((entry) => process.stderr.write(`${JSON.stringify(entry)}\n`));
    if (opts.image) this.#image = Promise.resolve(opts.image);
  }

  /** The engine this runtime drives. */
  get docker(): Docker {
    return this.#docker;
  }

  async #ownerId(): Promise<string> {
    this.#owner ??= ownerOf(this.#dataDir);
    return this.#owner;
  }

  /** Checks the engine answers and the base image exists (building it offline on first use). */
  prepare(): Promise<string> {
    this.#image ??= (async () => {
      try {
        await this.#docker.ping();
      } catch (err) {
        throw new Error(`the Docker engine does not answer (${err instanceof Error ? err.message : String(err)})`);
      }
      return ensureBaseImage(this.#docker, this.#nodePath);
    })();
    this.#image.catch(() => {
      this.#image = undefined;
    });
    return this.#image;
  }

  /** The container spec of one instance (the swarm runtime reuses its parts). */
  protected containerSpec(
    id: string,
    opts: StartOptions,
    image: string,
    owner: string,
    dirs: { sockDir: string; cacheDir: string },
  ): Docker.ContainerCreateOptions {
    const memoryBytes = Math.max(32, Math.floor(opts.limits.memoryMb)) * 1024 * 1024;
    // V8's heap stays under the container's limit, so a heap bomb ends as a V8 error and anything else as an OOM kill.
    const heapMb = Math.max(16, Math.floor(opts.limits.memoryMb * 0.75));
    return {
      name: `bmms-${id}`,
      Image: image,
      Cmd: [IMAGE_PATHS.node, `--max-old-space-size=${heapMb}`, `${IMAGE_PATHS.app}/${basename(opts.bundlePath)}`],
      Env: Object.entries({
        ...opts.env,
        BMMS_SOCKET: `${IMAGE_PATHS.socketDir}/mcp.sock`,
        BMMS_REVISION: opts.revision,
        BMMS_TIMEOUT_MS: String(opts.limits.timeoutMs),
        NODE_COMPILE_CACHE: IMAGE_PATHS.cacheDir,
      }).map(([k, v]) => `${k}=${v}`),
      User: this.#user,
      WorkingDir: '/tmp',
      NetworkDisabled: true,
      Labels: {
        [LABELS.owner]: owner,
        [LABELS.server]: opts.serverName,
        [LABELS.revision]: opts.revision,
        [LABELS.tree]: opts.treeSha,
        [LABELS.instance]: id,
      },
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,noexec,size=64m' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Init: true,
        Memory: memoryBytes,
        MemorySwap: memoryBytes,
        NanoCpus: Math.round(opts.limits.cpu * 1e9),
        PidsLimit: opts.limits.pids ?? DEFAULT_PIDS,
        Ulimits: [
          { Name: 'nofile', Soft: 1024, Hard: 1024 },
          { Name: 'core', Soft: 0, Hard: 0 },
        ],
        Binds: [
          `${dirname(opts.bundlePath)}:${IMAGE_PATHS.app}:ro`,
          `${dirs.sockDir}:${IMAGE_PATHS.socketDir}:rw`,
          `${dirs.cacheDir}:${IMAGE_PATHS.cacheDir}:rw`,
          ...(opts.binds ?? []).map((b) => `${b.host}:${b.sandbox}:rw`),
        ],
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'none', Config: {} },
      },
    };
  }

  /** Start one container and wait for its /healthz over the bind-mounted socket. */
  async start(opts: StartOptions): Promise<Instance> {
    let image: string;
    try {
      image = await this.prepare();
    } catch (err) {
      throw new InstanceStartError(`Cannot start ${opts.serverName}: ${(err as Error).message}`, []);
    }
    const owner = await this.#ownerId();
    const id = `${instanceSlug(opts.serverName)}-${randomBytes(4).toString('hex')}`;
    const instanceDir = join(this.#dataDir, 'instances', id);
    const sockDir = join(instanceDir, 'sock');
    const socketPath = join(sockDir, 'mcp.sock');
    const cacheDir = join(
      this.#dataDir,
      'compile-cache',
      createHash('sha256').update(`${opts.serverName}\0${opts.treeSha}`).digest('hex').slice(0, 32),
    );
    const [uid, gid] = this.#user.split(':').map(Number) as [number, number];
    for (const dir of [sockDir, cacheDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (process.getuid?.() === 0) await chown(dir, uid, gid);
    }

    const container = await this.#docker.createContainer(
      this.containerSpec(id, opts, image, owner, { sockDir, cacheDir }),
    );
    const lines: string[] = [];
    const logFile = createWriteStream(join(instanceDir, 'log'), { flags: 'a', mode: 0o600 });
    const capture = (stream: Readable): void => {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        lines.push(line);
        if (lines.length > this.#logLines) lines.shift();
        logFile.write(`${line}\n`);
      });
    };
    const attached = await container.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough();
    const err = new PassThrough();
    this.#docker.modem.demuxStream(attached, out, err);
    attached.on('end', () => {
      out.end();
      err.end();
    });
    capture(out);
    capture(err);

    const instance: Instance = {
      id,
      serverName: opts.serverName,
      revision: opts.revision,
      treeSha: opts.treeSha,
      socketPath,
      pid: -1,
      startedAt: new Date(),
      sandbox: 'docker',
    };
    let exit: ExitInfo | null = null;
    const entry: Entry = {
      instance,
      container,
      lines,
      logFile,
      stopping: false,
      started: false,
      exited: Promise.resolve({ code: null, signal: null, expected: false }),
      closed: Promise.resolve(),
    };
    this.#entries.set(id, entry);
    try {
      await container.start();
      entry.exited = container.wait().then(
        async (res: { StatusCode: number }) => {
          const state = await container.inspect().then(
            (i) => i.State,
            () => undefined,
          );
          if (state?.OOMKilled) lines.push('killed: out of memory (the container hit its memory limit)');
          const info = {
            code: res.StatusCode,
            signal: state?.OOMKilled ? ('SIGKILL' as const) : signalFromExitCode(res.StatusCode),
            expected: entry.stopping,
          };
          exit = info;
          return info;
        },
        () => {
          exit = { code: null, signal: null, expected: entry.stopping };
          return exit;
        },
      );
      entry.closed = entry.exited.then((info) => this.#onClosed(entry, instanceDir, info));
      instance.pid = (await container.inspect()).State.Pid;
      await waitHealthy(socketPath, { timeoutMs: this.#startTimeoutMs, exited: () => exit });
    } catch (error) {
      entry.stopping = true;
      await container.remove({ force: true }).catch(() => {});
      await entry.closed;
      this.#entries.delete(id);
      const why = error instanceof Error ? error.message : String(error);
      throw new InstanceStartError(
        `Instance ${id} of ${opts.serverName}@${opts.revision.slice(0, 12)} did not become healthy: ${why}`,
        lines.slice(-20),
        { instanceId: id, exitCode: (exit as ExitInfo | null)?.code ?? null },
      );
    }
    entry.started = true;
    return { ...instance };
  }

  async #onClosed(entry: Entry, instanceDir: string, info: ExitInfo): Promise<void> {
    const { instance } = entry;
    this.#entries.delete(instance.id);
    this.#recentLogs.set(instance.id, entry.lines);
    if (this.#recentLogs.size > 100) {
      const oldest = this.#recentLogs.keys().next().value;
      if (oldest !== undefined) this.#recentLogs.delete(oldest);
    }
    entry.logFile.end();
    await entry.container.remove({ force: true }).catch(() => {});
    await rm(join(instanceDir, 'sock'), { recursive: true, force: true }).catch(() => {});
    if (!entry.started) return;
    for (const cb of this.#exitListeners) {
      try {
        cb(instance, info);
      } catch (err) {
        this.#log({ level: 'error', msg: 'onExit listener threw', error: String(err) });
      }
    }
  }

  /** Stop a container: SIGTERM, SIGKILL after graceMs (the engine's own stop timeout); resolves when removed. */
  async stop(instanceId: string, opts: { graceMs: number }): Promise<void> {
    const entry = this.#entries.get(instanceId);
    if (!entry) return;
    entry.stopping = true;
    await entry.container.stop({ t: Math.max(0, Math.ceil(opts.graceMs / 1000)) }).catch(() => {});
    await entry.exited;
    await entry.closed;
  }

  list(): Instance[] {
    return [...this.#entries.values()].filter((e) => e.started).map((e) => ({ ...e.instance }));
  }

  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    this.#exitListeners.add(cb);
    return () => this.#exitListeners.delete(cb);
  }

  logs(instanceId: string): string[] {
    return [...(this.#entries.get(instanceId)?.lines ?? this.#recentLogs.get(instanceId) ?? [])];
  }

  /** Removes containers labelled with this data dir's owner id that this runtime object did not start. */
  async cleanupOrphans(): Promise<number> {
    const owner = await this.#ownerId();
    let found: Docker.ContainerInfo[];
    try {
      found = await this.#docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } });
    } catch {
      return 0; // no engine: nothing of ours can be running there
    }
    let removed = 0;
    for (const info of found) {
      const id = info.Labels[LABELS.instance];
      if (id !== undefined && this.#entries.has(id)) continue;
      await this.#docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => {});
      if (id !== undefined) await rm(join(this.#dataDir, 'instances', id, 'sock'), { recursive: true, force: true });
      removed++;
      this.#log({
        level: 'info',
        msg: 'removed orphan container',
        instanceId: id,
        serverName: info.Labels[LABELS.server],
      });
    }
    return removed;
  }
}
