/** A running MCP server process (or container) that the reconciler started. */
export type Instance = {
  /** Unique id of this instance; also its folder name under `<dataDir>/instances/`. */
  id: string;
  /** The server (customer repo) this instance serves. */
  serverName: string;
  /** Git commit the bundle was built from. */
  revision: string;
  /** Git tree SHA of that commit; the bundle cache key. */
  treeSha: string;
  /**
   * Where the instance serves HTTP (`/healthz`, `/mcp`): the host path of its unix socket, or `tcp://<address>:<port>`
   * for a swarm task on an overlay network (see endpoint.ts).
   */
  socketPath: string;
  /** Host pid of the server process itself (inside the sandbox when there is one); -1 for a task on another node. */
  pid: number;
  /** When the process was spawned. */
  startedAt: Date;
  /** How the instance is isolated (`confined`: Node's permission model, where bubblewrap is missing). */
  sandbox: 'bubblewrap' | 'confined' | 'docker' | 'swarm' | 'none';
};

/** Resource limits from the manifest. */
export type Limits = {
  /** V8 heap limit in MiB. */
  memoryMb: number;
  /** CPU share (1 = one core); advisory where the runtime cannot enforce it. */
  cpu: number;
  /** Per-request timeout in ms, passed to the server as BMMS_TIMEOUT_MS. */
  timeoutMs: number;
  /** Most processes and threads the instance may have (default 128). */
  pids?: number;
};

/** The pids limit when the manifest sets none. */
export const DEFAULT_PIDS = 128;

export type StartOptions = {
  serverName: string;
  revision: string;
  treeSha: string;
  /** Absolute path of the built `server.mjs`. */
  bundlePath: string;
  /** Extra environment for the server (decrypted secrets included); nothing else from the platform leaks in. */
  env: Record<string, string>;
  limits: Limits;
  /**
   * Host folders bound into the sandbox read-write at `sandbox` (e.g. the egress proxy's socket folder). Give env
   * paths as seen inside the sandbox: a runtime that cannot bind (insecure process mode) rewrites env values under
   * a `sandbox` path to the `host` path, so one env works in both modes.
   */
  binds?: { host: string; sandbox: string }[];
  /** A preview runs code no check has passed yet: it never shares a host uid with its server's production. */
  kind?: 'production' | 'preview';
  /** The change number of a preview, to tag its output lines (a preview of main's own suite has none). */
  preview?: number;
};

/**
 * One line of an instance's output that the log bounds kept, a summary of the lines they dropped, or a line the
 * platform added (an OOM kill, a spawn failure): what a line sink hears.
 */
export type InstanceLine = {
  instanceId: string;
  serverName: string;
  revision: string;
  /** The preview's change number, when the instance runs a preview of a change. */
  preview: number | undefined;
  /** Which stream the line came from; null for summaries and the platform's own lines. */
  stream: 'stdout' | 'stderr' | null;
  /** `output`: a line the instance wrote; `dropped`: `dropped` lines went over the rate; `note`: the platform's. */
  source: 'output' | 'dropped' | 'note';
  text: string;
  /** How many lines the summary stands for (source `dropped`). */
  dropped?: number;
};

/** Hears every kept line of every instance; must return at once (it runs as output is read). */
export type LineSink = (line: InstanceLine) => void;

/** How an instance ended. */
export type ExitInfo = {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when stop() asked for it; false when it crashed or was killed from outside. */
  expected: boolean;
  /** Why the runtime killed it itself, when it did (it stopped answering: see liveness.ts). */
  reason?: string;
};

/** Where MCP server instances run: one interface for the process, docker and swarm engines. */
export interface Runtime {
  /** Engine name, e.g. `process`. */
  readonly name: string;
  /** Start an instance; resolves once GET /healthz answers 200 over its socket, else kills it and throws InstanceStartError. */
  start(opts: StartOptions): Promise<Instance>;
  /** Stop an instance: SIGTERM, SIGKILL after `graceMs`; resolves when it is gone (at once if unknown). */
  stop(instanceId: string, opts: { graceMs: number }): Promise<void>;
  /** Instances this runtime started that are still running. */
  list(): Instance[];
  /** Call `cb` whenever a started instance exits; returns an unsubscribe function. */
  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void;
  /** The last log lines of an instance (still running or recently exited); empty if unknown. */
  logs(instanceId: string): string[];
  /** Kill instances a previous platform process left running; returns how many were killed. */
  cleanupOrphans(): Promise<number>;
  /**
   * Resolves once no instance of `serverName` is starting or having its exit handled (at most `timeoutMs`): what a
   * deletion waits for before it removes the server's folders.
   */
  settled(serverName: string, timeoutMs: number): Promise<void>;
}
