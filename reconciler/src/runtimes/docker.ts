import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { InstanceStartError } from '../errors.ts';
import { type BookEntry, CPU_BOOST_MS, InstanceBook } from './book.ts';
import {
  containerCommand,
  containerEnv,
  containerLabels,
  DROP_PRIVILEGES,
  IMAGE_PATHS,
  LABELS,
  memoryBytes,
  SWITCH_CAPS,
} from './docker-image.ts';
import { EngineImage, removeOrphans } from './engine.ts';
import { ownerOf, signalFromExitCode, waitHealthy } from './health.ts';
import type { LogBounds } from './logs.ts';
import {
  confineContainer,
  DEFAULT_DISK_MB,
  diskQuota,
  releaseWritable,
  removeWritable,
  type Writable,
  warnUnboundedOnce,
} from './quota.ts';
import { DEFAULT_PIDS, type ExitInfo, type Instance, type LineSink, type Runtime, type StartOptions } from './types.ts';
import { MemoryUidPool, type UidPool, uidKey } from './uids.ts';

export { LABELS } from './docker-image.ts';

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
  /** Where each server's own host uid comes from (default: held in memory). */
  uids?: UidPool;
  /** Size in MiB of every writable path of an instance: /tmp and the compile cache (default 64). */
  diskMb?: number;
  /** How long an instance may use a whole core after it became healthy, before its CPU quota applies (default 5 s). */
  cpuBoostMs?: number;
  /** Bounds on the instance logs kept in memory and on disk (defaults: DEFAULT_LOG_BOUNDS). */
  logBounds?: Partial<LogBounds>;
  /** Hears every kept output line of every instance (the platform's server logs); none by default. */
  lineSink?: LineSink;
  log?: (entry: Record<string, unknown>) => void;
};

type Entry = BookEntry &
  Writable & {
    container: Docker.Container;
    stopping: boolean;
    exited: Promise<ExitInfo>;
    closed: Promise<void>;
  };

/**
 * One container per instance: read-only root, quota-bound writable paths, the server's own uid (switched to by
 * node itself before the bundle loads, so non-dumpable), every capability dropped,
 * no-new-privileges, CPU, memory and pids limits, no network at all. The bundle folder is mounted read-only and
 * the instance serves on a unix socket in a bind-mounted folder, like the process runtime.
 */
export class DockerRuntime implements Runtime {
  readonly name: string = 'docker';
  readonly #dataDir: string;
  readonly #docker: Docker;
  readonly #startTimeoutMs: number;
  readonly #uids: UidPool;
  readonly #diskMb: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #warnUnbounded: (err: Error) => void;
  readonly #book: InstanceBook<Entry>;
  readonly #cpuBoostMs: number;
  readonly #image: EngineImage;

  constructor(opts: DockerRuntimeOptions) {
    this.#dataDir = opts.dataDir;
    this.#docker = opts.docker ?? new Docker();
    this.#startTimeoutMs = opts.startTimeoutMs ?? 20_000;
    this.#uids = opts.uids ?? new MemoryUidPool();
    this.#diskMb = opts.diskMb ?? DEFAULT_DISK_MB;
    this.#log = opts.log ?? ((entry) => process.stderr.write(`${JSON.stringify(entry)}\n`));
    this.#book = new InstanceBook({ logBounds: opts.logBounds, log: this.#log, lineSink: opts.lineSink });
    this.#warnUnbounded = warnUnboundedOnce(this.#log);
    this.#cpuBoostMs = opts.cpuBoostMs ?? CPU_BOOST_MS;
    this.#image = new EngineImage(this.#docker, { nodePath: opts.nodePath ?? process.execPath, image: opts.image });
  }

  /** The engine this runtime drives. */
  get docker(): Docker {
    return this.#docker;
  }

  /** Checks the engine answers and the base image exists (building it offline on first use). */
  prepare(): Promise<string> {
    return this.#image.get();
  }

  /** The container spec of one instance. */
  #containerSpec(
    id: string,
    opts: StartOptions,
    image: string,
    owner: string,
    dirs: { sockDir: string; cacheDir: string; tmpDir: string | null; uid: number },
  ): Docker.ContainerCreateOptions {
    const memory = memoryBytes(opts.limits);
    return {
      name: `bmms-${id}`,
      Image: image,
      Cmd: containerCommand(opts),
      Env: containerEnv(opts, dirs.uid),
      // Root with nothing but SETUID/SETGID until the preload switches to the instance's uid (non-dumpable then).
      User: '0:0',
      WorkingDir: '/tmp',
      NetworkDisabled: true,
      Labels: containerLabels(owner, id, opts),
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        // A host quota mount when the platform could make one (bounds files too), else the engine's sized tmpfs.
        ...(dirs.tmpDir ? {} : { Tmpfs: { '/tmp': `rw,nosuid,nodev,noexec,size=${diskQuota(this.#diskMb).bytes}` } }),
        CapDrop: ['ALL'],
        CapAdd: [...SWITCH_CAPS],
        SecurityOpt: ['no-new-privileges'],
        Init: true,
        Memory: memory,
        MemorySwap: memory,
        // No CPU quota yet: it applies CPU_BOOST_MS after the instance is healthy (see start()).
        PidsLimit: opts.limits.pids ?? DEFAULT_PIDS,
        Ulimits: [
          { Name: 'nofile', Soft: 1024, Hard: 1024 },
          { Name: 'core', Soft: 0, Hard: 0 },
        ],
        Binds: [
          `${dirname(opts.bundlePath)}:${IMAGE_PATHS.app}:ro`,
          `${DROP_PRIVILEGES}:${IMAGE_PATHS.dropPrivileges}:ro`,
          `${dirs.sockDir}:${IMAGE_PATHS.socketDir}:rw`,
          `${dirs.cacheDir}:${IMAGE_PATHS.cacheDir}:rw`,
          ...(dirs.tmpDir ? [`${dirs.tmpDir}:/tmp:rw`] : []),
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
    const owner = ownerOf(this.#dataDir);
    const dirs = await this.#book.dirs(this.#dataDir, opts.serverName, opts.treeSha, {
      cacheScope: uidKey(opts.serverName, opts.kind),
    });
    const { id, instanceDir, sockDir, socketPath } = dirs;
    const confined = await this.#confine(opts, dirs);
    const { cacheDir } = confined;
    const container = await this.#docker
      .createContainer(
        this.#containerSpec(id, opts, image, owner, { sockDir, cacheDir, tmpDir: confined.tmpDir, uid: confined.uid }),
      )
      .catch(async (err: unknown) => {
        await releaseWritable(confined);
        throw err;
      });
    const { lines, logFile, capture } = this.#book.newLog(instanceDir, id, opts);
    await this.#followOutput(container, capture);

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
      capture,
      mounts: confined.mounts,
      ownCache: confined.ownCache,
      stopping: false,
      started: false,
      exited: Promise.resolve({ code: null, signal: null, expected: false }),
      closed: Promise.resolve(),
    };
    this.#book.entries.set(id, entry);
    try {
      await container.start();
      entry.exited = container.wait().then(
        async (res: { StatusCode: number }) => {
          const state = await container.inspect().then(
            (i) => i.State,
            () => undefined,
          );
          if (state?.OOMKilled) capture.note('killed: out of memory (the container hit its memory limit)');
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
      this.#book.entries.delete(id);
      const why = error instanceof Error ? error.message : String(error);
      throw new InstanceStartError(
        `Instance ${id} of ${opts.serverName}@${opts.revision.slice(0, 12)} did not become healthy: ${why}`,
        lines.tail(20),
        { instanceId: id, exitCode: (exit as ExitInfo | null)?.code ?? null },
      );
    }
    entry.started = true;
    this.#limitCpu(entry, opts.limits.cpu);
    return { ...instance };
  }

  /** Follows the container's stdout and stderr into the instance's log. */
  async #followOutput(container: Docker.Container, capture: Entry['capture']): Promise<void> {
    const attached = await container.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough();
    const err = new PassThrough();
    this.#docker.modem.demuxStream(attached, out, err);
    attached.on('end', () => {
      out.end();
      err.end();
    });
    capture.follow(out, 'stdout');
    capture.follow(err, 'stderr');
  }

  /** Applies the CPU limit once the start-up boost is over (at once without a boost). */
  #limitCpu(entry: Entry, cpu: number): void {
    const { container, instance } = entry;
    const limit = () =>
      void container.update({ NanoCpus: Math.round(cpu * 1e9) }).catch((err: Error) => {
        if (!entry.stopping)
          this.#log({
            level: 'warn',
            msg: 'could not apply the CPU limit',
            instanceId: instance.id,
            error: err.message,
          });
      });
    if (this.#cpuBoostMs > 0) setTimeout(limit, this.#cpuBoostMs).unref();
    else limit();
  }

  async #onClosed(entry: Entry, instanceDir: string, info: ExitInfo): Promise<void> {
    await this.#book.closing(entry, info, async () => {
      // The socket first: once the container is gone nothing may still look like a live endpoint, while the
      // quota mounts below take a moment to release.
      await rm(join(instanceDir, 'sock', 'mcp.sock'), { force: true }).catch(() => {});
      await entry.container.remove({ force: true }).catch(() => {});
      await removeWritable(entry, instanceDir);
    });
  }

  /** The server's host uid, and its writable folders as quota mounts owned by it (when the platform is root). */
  async #confine(
    opts: StartOptions,
    dirs: { instanceDir: string; sockDir: string; cacheDir: string },
  ): ReturnType<typeof confineContainer> {
    const uid = await this.#uids.uidFor(uidKey(opts.serverName, opts.kind));
    return confineContainer(uid, dirs, { diskMb: this.#diskMb, onUnbounded: this.#warnUnbounded });
  }

  /** Stop a container: SIGTERM, SIGKILL after graceMs (the engine's own stop timeout); resolves when removed. */
  async stop(instanceId: string, opts: { graceMs: number }): Promise<void> {
    const entry = this.#book.entries.get(instanceId);
    if (!entry) {
      // Gone already, or exited with its cleanup still running: what follows a stop must find it gone.
      await this.#book.released(instanceId);
      return;
    }
    entry.stopping = true;
    await entry.container.stop({ t: Math.max(0, Math.ceil(opts.graceMs / 1000)) }).catch(() => {});
    await entry.exited;
    await entry.closed;
  }

  /** See `Runtime.settled`: the starts and exit handlings in flight that the book counts. */
  settled(serverName: string, timeoutMs: number): Promise<void> {
    return this.#book.settled(serverName, timeoutMs);
  }

  list(): Instance[] {
    return this.#book.list();
  }

  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    return this.#book.onExit(cb);
  }

  logs(instanceId: string): string[] {
    return this.#book.logs(instanceId);
  }

  /** Removes containers labelled with this data dir's owner id that this runtime object did not start. */
  async cleanupOrphans(): Promise<number> {
    const owner = ownerOf(this.#dataDir);
    let found: Docker.ContainerInfo[];
    try {
      found = await this.#docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } });
    } catch {
      return 0; // no engine: nothing of ours can be running there
    }
    return removeOrphans(
      found.map((c) => ({ engineId: c.Id, labels: c.Labels })),
      {
        keep: (id) => this.#book.entries.has(id),
        remove: (engineId) => this.#docker.getContainer(engineId).remove({ force: true }),
        dataDir: this.#dataDir,
        what: 'container',
        log: this.#log,
      },
    );
  }
}
