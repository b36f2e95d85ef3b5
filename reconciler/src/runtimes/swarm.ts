import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { tcpEndpoint } from '../endpoint.ts';
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
import { type ConfigMount, MAX_CONFIG_BYTES, SwarmConfigs } from './swarm-configs.ts';
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
  /**
   * An overlay network (attachable, best `internal`) the tasks join and serve on, at `tcp://<task address>:8080`,
   * instead of a unix socket in a bind-mounted folder: any platform process attached to it reaches every task,
   * on whichever node it runs. Unset: the socket, which only a platform on the task's own host reaches.
   */
  network?: string;
  /**
   * The label values that tie services to this platform, the first for new ones (default: one derived from the data
   * dir). Replicas of one platform share them, so whichever leads removes what an earlier leader left, whatever its
   * data dir; the others are former values (a rotated master key) still cleaned up.
   */
  owners?: string[];
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
    /** The task's address on the overlay network, once the engine allocated it. */
    address: string | null;
    /** The swarm configs its files came in (on an overlay network). */
    configs: ConfigMount[];
  };

const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);
/**
 * The engine's health check: the same GET /healthz the runtime probes, from inside the task, as the server's uid
 * (it starts as the container's user, root without CAP_DAC_OVERRIDE, which may not enter the socket folder).
 */
const healthScript = (uid: number, network: boolean): string =>
  `process.setgroups([]);process.setgid(${uid});process.setuid(${uid});${healthCheck(network)}`;
const healthTarget = (network: boolean) =>
  network ? `host:'127.0.0.1',port:${NETWORK_PORT}` : `socketPath:'${IMAGE_PATHS.socketDir}/mcp.sock'`;
const healthCheck = (network: boolean) =>
  `require('http').get({${healthTarget(network)},path:'/healthz',timeout:900},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
/** The port a task serves on when it is on an overlay network. */
export const NETWORK_PORT = 8080;

/** A mount of a service's task (a bind from the host, or a tmpfs of its own). */
type Mount =
  | { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }
  | { Type: 'tmpfs'; Target: string; TmpfsOptions: { SizeBytes: number; Mode: number } };

type Task = {
  ServiceID?: string;
  NodeID?: string;
  NetworksAttachments?: { Network?: { Spec?: { Name?: string } }; Addresses?: string[] }[];
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
  readonly #network: string | undefined;
  readonly #owners: string[] | undefined;
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
    this.#network = opts.network;
    this.#owners = opts.owners?.length ? opts.owners : undefined;
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

  /**
   * Checks the engine is a swarm manager, the base image exists (built offline on first use) and the overlay
   * network, when one is configured, is there for tasks to join.
   */
  async prepare(): Promise<string> {
    const image = await this.#image.get();
    if (this.#network) await this.#checkNetwork(this.#network);
    this.#localNode ??= (
      (await this.#docker.info().catch(() => ({}))) as { Swarm?: { NodeID?: string } }
    ).Swarm?.NodeID;
    return image;
  }

  /** The swarm node id of the engine this runtime talks to: only its containers can be inspected (for a pid). */
  #localNode: string | undefined;

  #subnets: string[] | undefined;
  #configs: SwarmConfigs | undefined;
  async #checkNetwork(name: string): Promise<void> {
    if (this.#subnets) return;
    const info = (await this.#docker
      .getNetwork(name)
      .inspect()
      .catch(() => null)) as {
      Driver?: string;
      Scope?: string;
      IPAM?: { Config?: { Subnet?: string }[] };
    } | null;
    if (!info)
      throw new Error(
        `the swarm network ${name} does not exist (docker network create -d overlay --internal --attachable ${name})`,
      );
    if (info.Driver !== 'overlay' || info.Scope !== 'swarm')
      throw new Error(`the network ${name} is not a swarm overlay network`);
    this.#subnets = (info.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean);
  }

  async start(opts: StartOptions): Promise<Instance> {
    let image: string;
    try {
      image = await this.prepare();
    } catch (err) {
      throw new InstanceStartError(`Cannot start ${opts.serverName}: ${(err as Error).message}`, []);
    }
    const owner = this.#owners?.[0] ?? ownerOf(this.#dataDir);
    const dirs = await this.#book.dirs(this.#dataDir, opts.serverName, opts.treeSha, {
      cacheScope: uidKey(opts.serverName, opts.kind),
    });
    const { id, instanceDir, sockDir } = dirs;
    const confined = await this.#confine(opts, dirs);
    const labels = containerLabels(owner, id, opts);
    let configs: ConfigMount[] | null = null;
    const create = async () => {
      configs = await this.#files(opts, owner);
      return this.#docker.createService(this.#serviceSpec(opts, image, labels, id, { sockDir, ...confined }, configs));
    };
    // Once more when a config went between its lookup and the create (the last instance using it closed).
    const service = await create()
      .catch((err: unknown) => (this.#network && /config/i.test(String(err)) ? create() : Promise.reject(err)))
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
      socketPath: dirs.socketPath,
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
      address: null,
      configs: configs ?? [],
    };
    entry.closed = exited.then((info) => this.#onClosed(entry, instanceDir, info));
    this.#book.entries.set(id, entry);
    this.#ensurePolling();
    void this.#followLogs(entry);
    try {
      const deadline = Date.now() + this.#startTimeoutMs;
      if (this.#network) instance.socketPath = await this.#endpointOf(entry, deadline);
      await waitHealthy(instance.socketPath, {
        timeoutMs: Math.max(0, deadline - Date.now()),
        exited: () => entry.exit,
        pollMs: 10,
      });
    } catch (error) {
      entry.stopping = true;
      await this.#docker
        .getService(serviceId)
        .remove()
        .catch(() => {});
      this.#finish(entry, entry.exit ?? { code: null, signal: null, expected: true });
      await entry.closed;
      let why = error instanceof Error ? error.message : String(error);
      if (this.#network && entry.address && entry.lastStatus.startsWith('running'))
        why += ` (the task runs at ${entry.address} on ${this.#network}: is this platform process attached to that network?)`;
      throw new InstanceStartError(
        `Instance ${id} of ${opts.serverName}@${opts.revision.slice(0, 12)} did not become healthy: ${why} (task: ${entry.lastStatus})`,
        lines.tail(20),
        { instanceId: id },
      );
    }
    entry.started = true;
    return { ...instance };
  }

  /** The overlay network tasks join, when one is configured. */
  get network(): string | undefined {
    return this.#network;
  }

  /**
   * This platform process's own address on the overlay network (where instances reach it, e.g. its egress proxy);
   * throws when it is not attached to that network.
   */
  async localAddress(): Promise<string> {
    if (!this.#network) throw new Error('the swarm runtime has no network');
    await this.#checkNetwork(this.#network);
    const subnets = this.#subnets ?? [];
    for (const addresses of Object.values(networkInterfaces())) {
      for (const a of addresses ?? []) {
        if (a.family === 'IPv4' && subnets.some((subnet) => inSubnet(a.address, subnet))) return a.address;
      }
    }
    throw new Error(
      `this platform process has no address on the swarm network ${this.#network} (${subnets.join(', ')}): run it as a service on that network, or attach its container to it`,
    );
  }

  /** Waits for the engine to give the task its address on the overlay network: the instance's endpoint. */
  async #endpointOf(entry: Entry, deadline: number): Promise<string> {
    while (entry.address === null) {
      if (entry.exit !== null) throw new Error('it exited before it got an address');
      if (Date.now() > deadline) throw new Error(`it got no address on ${this.#network} in time`);
      this.#ensurePolling();
      await sleep(Math.min(this.#pollMs, 20));
    }
    return tcpEndpoint(entry.address, NETWORK_PORT);
  }

  /**
   * On an overlay network, the bundle and the preload as swarm configs (no node needs the platform's data dir);
   * null elsewhere, or when a file is too large for a config (then bound, with a warning: every node then needs the
   * data dir at the same path).
   */
  async #files(opts: StartOptions, owner: string): Promise<ConfigMount[] | null> {
    if (!this.#network) return null;
    this.#configs ??= new SwarmConfigs(this.#docker, owner);
    const mounts = await this.#configs.mounts(dirname(opts.bundlePath), IMAGE_PATHS.app, [
      { path: DROP_PRIVILEGES, target: IMAGE_PATHS.dropPrivileges },
    ]);
    if (!mounts)
      this.#log({
        level: 'warn',
        msg: `a file of ${opts.serverName}'s bundle is over the engine's ${MAX_CONFIG_BYTES}-byte limit for configs: bound from the data dir instead, which only a node that has it can run`,
        serverName: opts.serverName,
      });
    return mounts;
  }

  /** The swarm service of one instance: a read-only container of the base image, its files, limits and health check. */
  #serviceSpec(
    opts: StartOptions,
    image: string,
    labels: Record<string, string>,
    id: string,
    confined: { sockDir: string; cacheDir: string; tmpDir: string | null; uid: number },
    configs: ConfigMount[] | null,
  ): Docker.CreateServiceOptions {
    return {
      Name: `bmms-${id}`,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: image,
          Command: containerCommand(opts),
          Env: this.#network
            ? [
                ...containerEnv(opts, confined.uid).filter((e) => !e.startsWith('BMMS_SOCKET=')),
                `BMMS_LISTEN=0.0.0.0:${NETWORK_PORT}`,
              ]
            : containerEnv(opts, confined.uid),
          // Root with nothing but SETUID/SETGID until the preload switches to the instance's uid.
          User: '0:0',
          Dir: '/tmp',
          ReadOnly: true,
          Init: true,
          CapabilityDrop: ['ALL'],
          CapabilityAdd: SWITCH_CAPS.map((c) => `CAP_${c}`),
          Labels: labels,
          Mounts: this.#mounts(opts, confined, configs !== null),
          ...(configs ? { Configs: configs } : {}),
          HealthCheck: {
            Test: ['CMD', IMAGE_PATHS.node, '-e', healthScript(confined.uid, this.#network !== undefined)],
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
        // No virtual IP (the engine's load balancer needs IPVS): the gateway calls the task's own address.
        ...(this.#network ? { Networks: [{ Target: this.#network }] } : {}),
        LogDriver: { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '1' } },
      },
      Mode: { Replicated: { Replicas: 1 } },
      ...(this.#network ? { EndpointSpec: { Mode: 'dnsrr' } } : {}),
    } as Docker.CreateServiceOptions;
  }

  /**
   * The task's mounts. With its own socket: the bundle, the preload, the socket folder, the compile cache and /tmp
   * from the platform's host. On an overlay network nothing from the host but what configs could not carry: the
   * compile cache and /tmp are the task's own tmpfs.
   */
  #mounts(
    opts: StartOptions,
    confined: { sockDir: string; cacheDir: string; tmpDir: string | null },
    filesAsConfigs: boolean,
  ): Mount[] {
    const bind = (source: string, target: string, readOnly: boolean) => ({
      Type: 'bind' as const,
      Source: source,
      Target: target,
      ReadOnly: readOnly,
    });
    const tmpfs = (target: string) => ({
      Type: 'tmpfs' as const,
      Target: target,
      TmpfsOptions: { SizeBytes: diskQuota(this.#diskMb).bytes, Mode: 0o1777 },
    });
    const files = filesAsConfigs
      ? []
      : [
          bind(dirname(opts.bundlePath), IMAGE_PATHS.app, true),
          bind(DROP_PRIVILEGES, IMAGE_PATHS.dropPrivileges, true),
        ];
    const extra = (opts.binds ?? []).map((b) => bind(b.host, b.sandbox, false));
    if (this.#network) return [...files, tmpfs(IMAGE_PATHS.cacheDir), tmpfs('/tmp'), ...extra];
    return [
      ...files,
      bind(confined.sockDir, IMAGE_PATHS.socketDir, false),
      bind(confined.cacheDir, IMAGE_PATHS.cacheDir, false),
      ...extra,
      confined.tmpDir ? bind(confined.tmpDir, '/tmp', false) : tmpfs('/tmp'),
    ];
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
      const down = await this.#downNodes(tasks);
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
        if (this.#network && entry.address === null) entry.address = addressOn(task, this.#network);
        const containerId = task.Status?.ContainerStatus?.ContainerID;
        const local = !task.NodeID || !this.#localNode || task.NodeID === this.#localNode;
        if (state === 'running' && entry.instance.pid === -1 && containerId && local) {
          const info = await this.#docker
            .getContainer(containerId)
            .inspect()
            .catch(() => null);
          if (info?.State.Pid) entry.instance.pid = info.State.Pid;
        }
        if (task.NodeID && down.has(task.NodeID) && !entry.stopping) {
          // A lost node's tasks stay "running" to the engine (restart policy none): the instance is gone for us.
          entry.capture.note(`killed: its node ${task.NodeID.slice(0, 12)} is ${down.get(task.NodeID)}`);
          this.#finish(entry, { code: null, signal: 'SIGKILL', expected: false, reason: 'node lost' });
          continue;
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

  /** Nodes that run some of our tasks and are down or unreachable (id → state), asked only when a task has a node. */
  async #downNodes(tasks: Task[]): Promise<Map<string, string>> {
    const down = new Map<string, string>();
    if (!tasks.some((t) => t.NodeID)) return down;
    const nodes = (await this.#docker.listNodes().catch(() => [])) as { ID: string; Status?: { State?: string } }[];
    for (const node of nodes) {
      const state = node.Status?.State ?? 'unknown';
      if (state === 'down' || state === 'disconnected') down.set(node.ID, state);
    }
    return down;
  }

  #finish(entry: Entry, info: ExitInfo): void {
    if (entry.exit !== null) return;
    entry.exit = info;
    entry.resolveExit(info);
  }

  async #onClosed(entry: Entry, instanceDir: string, info: ExitInfo): Promise<void> {
    await this.#book.closing(entry, info, async () => {
      await this.#docker
        .getService(entry.serviceId)
        .remove()
        .catch(() => {});
      (entry.logStream as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
      await this.#configs?.release(entry.configs);
      await removeWritable(entry, instanceDir);
    });
  }

  /** The server's host uid, and its writable folders as quota mounts owned by it (when the platform is root). */
  async #confine(
    opts: StartOptions,
    dirs: { instanceDir: string; sockDir: string; cacheDir: string },
  ): ReturnType<typeof confineContainer> {
    const uid = await this.#uids.uidFor(uidKey(opts.serverName, opts.kind));
    // On an overlay network every writable path is the task's own tmpfs: no host folders to prepare.
    if (this.#network) return { uid, tmpDir: null, mounts: [], ownCache: null, cacheDir: dirs.cacheDir };
    return confineContainer(uid, dirs, { diskMb: this.#diskMb, onUnbounded: this.#warnUnbounded });
  }

  /** Removes the service (the engine stops its task: SIGTERM, then SIGKILL); resolves when the task is gone. */
  async stop(instanceId: string, opts: { graceMs: number }): Promise<void> {
    const entry = this.#book.entries.get(instanceId);
    if (!entry) {
      // Gone already, or exited with its cleanup still running: what follows a stop must find it gone.
      await this.#book.released(instanceId);
      return;
    }
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

  /** See `Runtime.settled`: the starts and exit handlings in flight that the book counts. */
  settled(serverName: string, timeoutMs: number): Promise<void> {
    return this.#book.settled(serverName, timeoutMs);
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

  /** Removes services labelled with this platform's owner ids (or this data dir's) that this runtime object did not start. */
  async cleanupOrphans(): Promise<number> {
    // The data dir's own label too: what this platform started before its services carried the shared one.
    const owners = [...new Set([...(this.#owners ?? []), ownerOf(this.#dataDir)])];
    const services: { ID: string; Spec?: { Labels?: Record<string, string> } }[] = [];
    try {
      for (const owner of owners)
        services.push(...(await this.#docker.listServices({ filters: { label: [`${LABELS.owner}=${owner}`] } })));
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

/** Whether IPv4 `address` lies in `subnet` (a.b.c.d/n). */
export function inSubnet(address: string, subnet: string): boolean {
  const [base, bits] = subnet.split('/') as [string, string | undefined];
  const n = Number(bits ?? 32);
  const toInt = (ip: string) => ip.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address) || !/^\d+\.\d+\.\d+\.\d+$/.test(base) || !(n >= 0 && n <= 32)) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return (toInt(address) & mask) >>> 0 === (toInt(base) & mask) >>> 0;
}

/** The task's address (without its prefix length) on the named network, or null before the engine gave it one. */
function addressOn(task: Task, network: string): string | null {
  const attachment = task.NetworksAttachments?.find((a) => a.Network?.Spec?.Name === network);
  const cidr = attachment?.Addresses?.[0];
  return cidr ? (cidr.split('/')[0] as string) : null;
}
