import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { InstanceStartError } from '../errors.ts';
import { type BookEntry, InstanceBook } from './book.ts';
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

export type SwarmRuntimeOptions = {
  /** Root for `instances/<id>/` and the compile caches: must exist at the same path on every node that runs tasks. */
  dataDir: string;
  /** A swarm manager; default: DOCKER_HOST or /var/run/docker.sock. */
  docker?: Docker;
  image?: string;
  nodePath?: string;
  /** Placement constraints, e.g. `node.labels.bmms==1`. */
  constraints?: string[];
  startTimeoutMs?: number;
  /** How often task states are polled. */
  pollMs?: number;
  /** Where each server's own host uid comes from (default: held in memory). */
  uids?: UidPool;
  /** Size in MiB of every writable path of an instance: /tmp and the compile cache (default 64). */
  diskMb?: number;
  /** Bounds on the instance logs kept in memory and on disk (defaults: DEFAULT_LOG_BOUNDS). */
  logBounds?: Partial<LogBounds>;
  /** Hears every kept output line of every instance (the platform's server logs); none by default. */
  lineSink?: LineSink;
  log?: (entry: Record<string, unknown>) => void;
};

type Entry = BookEntry &
  Writable & {
    serviceId: string;
    stopping: boolean;
    exit: ExitInfo | null;
    exited: Promise<ExitInfo>;
    resolveExit: (info: ExitInfo) => void;
    closed: Promise<void>;
    lastStatus: string;
    logStream: NodeJS.ReadableStream | null;
  };

const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);
/**
 * The engine's health check: the same GET /healthz the runtime probes, from inside the task, as the server's uid
 * (it starts as the container's user, root without CAP_DAC_OVERRIDE, which may not enter the socket folder).
 */
const healthScript = (uid: number): string =>
  `process.setgroups([]);process.setgid(${uid});process.setuid(${uid});${HEALTH_SCRIPT}`;
const HEALTH_SCRIPT = `require('http').get({socketPath:'${IMAGE_PATHS.socketDir}/mcp.sock',path:'/healthz',timeout:900},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;

type Task = {
  ServiceID?: string;
  Status?: {
    State?: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
};

/**
 * Docker Swarm services, one per instance (replicated, 1 replica): the same isolation as the docker runtime
 * (read-only root, quota-bound writable paths, its own non-root uid, every capability dropped, CPU/memory/pids limits, no network), an engine health
 * check, restart policy `none` and placement constraints. Rollouts stay the reconciler's job (start new, probe,
 * switch, drain), so status, crash-loop rollback and the rollback window behave the same on every runtime.
 */
export class SwarmRuntime implements Runtime {
  readonly name = 'swarm';
  readonly #dataDir: string;
  readonly #docker: Docker;
  readonly #constraints: string[];
  readonly #startTimeoutMs: number;
  readonly #pollMs: number;
  readonly #uids: UidPool;
  readonly #diskMb: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #warnUnbounded: (err: Error) => void;
  readonly #book: InstanceBook<Entry>;
  readonly #image: EngineImage;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(opts: SwarmRuntimeOptions) {
    this.#dataDir = opts.dataDir;
    this.#docker = opts.docker ?? new Docker();
    this.#constraints = opts.constraints ?? [];
    this.#startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    this.#pollMs = opts.pollMs ?? 200;
    this.#uids = opts.uids ?? new MemoryUidPool();
    this.#diskMb = opts.diskMb ?? DEFAULT_DISK_MB;
    this.#log = opts.log ?? ((entry) => process.stderr.write(`${JSON.stringify(entry)}\n`));
    this.#book = new InstanceBook({ logBounds: opts.logBounds, log: this.#log, lineSink: opts.lineSink });
    this.#warnUnbounded = warnUnboundedOnce(this.#log);
    this.#image = new EngineImage(this.#docker, {
      nodePath: opts.nodePath ?? process.execPath,
      image: opts.image,
      swarm: true,
    });
  }

  /** Checks the engine is a swarm manager and the base image exists (built offline on first use). */
  prepare(): Promise<string> {
    return this.#image.get();
  }

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
    const service = await this.#docker
      .createService(this.#serviceSpec(opts, image, containerLabels(owner, id, opts), id, { sockDir, ...confined }))
      .catch(async (err: unknown) => {
        await releaseWritable(confined);
        throw err;
      });
    const serviceId = (service as unknown as { id: string }).id;

    const { lines, logFile, capture } = this.#book.newLog(instanceDir, id, opts);
    let resolveExit: (info: ExitInfo) => void = () => {};
    const exited = new Promise<ExitInfo>((resolve) => {
      resolveExit = resolve;
    });
    const instance: Instance = {
      id,
      serverName: opts.serverName,
      revision: opts.revision,
      treeSha: opts.treeSha,
      socketPath,
      pid: -1,
      startedAt: new Date(),
      sandbox: 'swarm',
    };
    const entry: Entry = {
      instance,
      serviceId,
      lines,
      logFile,
      capture,
      mounts: confined.mounts,
      ownCache: confined.ownCache,
      stopping: false,
      started: false,
      exit: null,
      exited,
      resolveExit,
      closed: Promise.resolve(),
      lastStatus: 'created',
      logStream: null,
    };
    entry.closed = exited.then((info) => this.#onClosed(entry, instanceDir, info));
    this.#book.entries.set(id, entry);
    this.#ensurePolling();
    void this.#followLogs(entry);
    try {
      await waitHealthy(socketPath, { timeoutMs: this.#startTimeoutMs, exited: () => entry.exit, pollMs: 10 });
    } catch (error) {
      entry.stopping = true;
      await this.#docker
        .getService(serviceId)
        .remove()
        .catch(() => {});
      this.#finish(entry, entry.exit ?? { code: null, signal: null, expected: true });
      await entry.closed;
      const why = error instanceof Error ? error.message : String(error);
      throw new InstanceStartError(
        `Instance ${id} of ${opts.serverName}@${opts.revision.slice(0, 12)} did not become healthy: ${why} (task: ${entry.lastStatus})`,
        lines.tail(20),
        { instanceId: id },
      );
    }
    entry.started = true;
    return { ...instance };
  }

  /** The swarm service of one instance: a read-only container of the base image, its binds, limits and health check. */
  #serviceSpec(
    opts: StartOptions,
    image: string,
    labels: Record<string, string>,
    id: string,
    confined: { sockDir: string; cacheDir: string; tmpDir: string | null; uid: number },
  ): Docker.CreateServiceOptions {
    const { sockDir, cacheDir } = confined;
    const bind = (source: string, target: string, readOnly: boolean) => ({
      Type: 'bind' as const,
      Source: source,
      Target: target,
      ReadOnly: readOnly,
    });
    return {
      Name: `bmms-${id}`,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: image,
          Command: containerCommand(opts),
          Env: containerEnv(opts, confined.uid),
          // Root with nothing but SETUID/SETGID until the preload switches to the instance's uid.
          User: '0:0',
          Dir: '/tmp',
          ReadOnly: true,
          Init: true,
          CapabilityDrop: ['ALL'],
          CapabilityAdd: SWITCH_CAPS.map((c) => `CAP_${c}`),
          Labels: labels,
          Mounts: [
            bind(dirname(opts.bundlePath), IMAGE_PATHS.app, true),
            bind(DROP_PRIVILEGES, IMAGE_PATHS.dropPrivileges, true),
            bind(sockDir, IMAGE_PATHS.socketDir, false),
            bind(cacheDir, IMAGE_PATHS.cacheDir, false),
            ...(opts.binds ?? []).map((b) => bind(b.host, b.sandbox, false)),
            confined.tmpDir
              ? bind(confined.tmpDir, '/tmp', false)
              : {
                  Type: 'tmpfs' as const,
                  Target: '/tmp',
                  TmpfsOptions: { SizeBytes: diskQuota(this.#diskMb).bytes, Mode: 0o1777 },
                },
          ],
          HealthCheck: {
            Test: ['CMD', IMAGE_PATHS.node, '-e', healthScript(confined.uid)],
            Interval: 5e9,
            Timeout: 2e9,
            Retries: 3,
            StartPeriod: 10e9,
          },
          StopGracePeriod: 10e9,
        },
        Resources: {
          Limits: {
            NanoCPUs: Math.round(opts.limits.cpu * 1e9),
            MemoryBytes: memoryBytes(opts.limits),
            Pids: opts.limits.pids ?? DEFAULT_PIDS,
          },
        },
        RestartPolicy: { Condition: 'none' },
        Placement: { Constraints: this.#constraints },
        LogDriver: { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '1' } },
      },
      Mode: { Replicated: { Replicas: 1 } },
    } as Docker.CreateServiceOptions;
  }

  async #followLogs(entry: Entry): Promise<void> {
    try {
      const stream = (await this.#docker
        .getService(entry.serviceId)
        .logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
      entry.logStream = stream;
      const out = new PassThrough();
      const err = new PassThrough();
      this.#docker.modem.demuxStream(stream, out, err);
      stream.on('end', () => {
        out.end();
        err.end();
      });
      stream.on('error', () => {
        out.end();
        err.end();
      });
      entry.capture.follow(out, 'stdout');
      entry.capture.follow(err, 'stderr');
    } catch {
      // logs are best effort: the service may already be gone
    }
  }

  #ensurePolling(): void {
    if (this.#poller) return;
    this.#poller = setInterval(() => void this.#poll(), this.#pollMs);
    this.#poller.unref();
  }

  /** One engine call per tick for every instance: task state, exit code, and the container's pid once running. */
  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const live = [...this.#book.entries.values()].filter((e) => e.exit === null);
      if (live.length === 0) {
        clearInterval(this.#poller);
        this.#poller = undefined;
        return;
      }
      // Not filtered by service: the engine refuses the whole query once one of them was removed, and a removed
      // service is exactly the exit we are looking for.
      const tasks = (await this.#docker.listTasks()) as Task[];
      for (const entry of live) {
        const mine = tasks.filter((t) => t.ServiceID === entry.serviceId);
        const task = mine[0];
        if (!task) {
          // The service (and its task) is gone: removed by us or by someone else.
          if (entry.lastStatus !== 'created')
            this.#finish(entry, { code: null, signal: null, expected: entry.stopping });
          continue;
        }
        const state = task.Status?.State ?? 'unknown';
        entry.lastStatus = [state, task.Status?.Err].filter(Boolean).join(': ');
        const containerId = task.Status?.ContainerStatus?.ContainerID;
        if (state === 'running' && entry.instance.pid === -1 && containerId) {
          const info = await this.#docker
            .getContainer(containerId)
            .inspect()
            .catch(() => null);
          if (info?.State.Pid) entry.instance.pid = info.State.Pid;
        }
        if (!TERMINAL.has(state)) continue;
        const code = task.Status?.ContainerStatus?.ExitCode ?? null;
        const container = containerId
          ? await this.#docker
              .getContainer(containerId)
              .inspect()
              .catch(() => null)
          : null;
        if (container?.State.OOMKilled) entry.capture.note('killed: out of memory (the task hit its memory limit)');
        this.#finish(entry, {
          code,
          signal: container?.State.OOMKilled ? 'SIGKILL' : signalFromExitCode(code),
          expected: entry.stopping,
        });
      }
    } catch (err) {
      this.#log({ level: 'warn', msg: 'swarm task poll failed', error: String(err) });
    } finally {
      this.#polling = false;
    }
  }

  #finish(entry: Entry, info: ExitInfo): void {
    if (entry.exit !== null) return;
    entry.exit = info;
    entry.resolveExit(info);
  }

  async #onClosed(entry: Entry, instanceDir: string, info: ExitInfo): Promise<void> {
    this.#book.entries.delete(entry.instance.id);
    await this.#docker
      .getService(entry.serviceId)
      .remove()
      .catch(() => {});
    (entry.logStream as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
    await removeWritable(entry, instanceDir);
    this.#book.closed(entry, info);
  }

  /** The server's host uid, and its writable folders as quota mounts owned by it (when the platform is root). */
  async #confine(
    opts: StartOptions,
    dirs: { instanceDir: string; sockDir: string; cacheDir: string },
  ): ReturnType<typeof confineContainer> {
    const uid = await this.#uids.uidFor(uidKey(opts.serverName, opts.kind));
    return confineContainer(uid, dirs, { diskMb: this.#diskMb, onUnbounded: this.#warnUnbounded });
  }

  /** Removes the service (the engine stops its task: SIGTERM, then SIGKILL); resolves when the task is gone. */
  async stop(instanceId: string, opts: { graceMs: number }): Promise<void> {
    const entry = this.#book.entries.get(instanceId);
    if (!entry) return;
    entry.stopping = true;
    await this.#docker
      .getService(entry.serviceId)
      .remove()
      .catch(() => {});
    const deadline = Date.now() + opts.graceMs + 15_000;
    while (entry.exit === null && Date.now() < deadline) {
      this.#ensurePolling();
      await sleep(this.#pollMs);
    }
    this.#finish(entry, { code: null, signal: null, expected: true });
    await entry.closed;
  }

  list(): Instance[] {
    return this.#book.list((e) => e.exit === null);
  }

  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    return this.#book.onExit(cb);
  }

  logs(instanceId: string): string[] {
    return this.#book.logs(instanceId);
  }

  /** Removes services labelled with this data dir's owner id that this runtime object did not start. */
  async cleanupOrphans(): Promise<number> {
    const owner = ownerOf(this.#dataDir);
    let services: { ID: string; Spec?: { Labels?: Record<string, string> } }[];
    try {
      services = await this.#docker.listServices({ filters: { label: [`${LABELS.owner}=${owner}`] } });
    } catch {
      return 0;
    }
    return removeOrphans(
      services.map((svc) => ({ engineId: svc.ID, labels: svc.Spec?.Labels ?? {} })),
      {
        keep: (id) => this.#book.entries.has(id),
        remove: (engineId) => this.#docker.getService(engineId).remove(),
        dataDir: this.#dataDir,
        what: 'service',
        log: this.#log,
      },
    );
  }
}
