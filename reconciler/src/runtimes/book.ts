import { createHash, randomBytes } from 'node:crypto';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { instanceSlug } from './health.ts';
import {
  DEFAULT_LOG_BOUNDS,
  type LogBounds,
  LogBudget,
  LogCapture,
  LogRing,
  type LogTarget,
  RotatingLogFile,
} from './logs.ts';
import type { ExitInfo, Instance, LineSink, StartOptions } from './types.ts';

/** What every runtime keeps per instance it started. */
export type BookEntry = {
  instance: Instance;
  /** The last log lines, kept in memory (bounded). */
  lines: LogRing;
  logFile: RotatingLogFile;
  /** Reads the instance's output into `lines` and `logFile` within the log bounds. */
  capture: LogCapture;
  /** True once start() returned it: only started instances are listed and reported on exit. */
  started: boolean;
};

/** Where one instance lives on the host. */
export type InstanceDirs = {
  id: string;
  instanceDir: string;
  sockDir: string;
  socketPath: string;
  /** V8's compile cache, scoped to one server's tree: an instance only ever feeds its own later instances. */
  cacheDir: string;
};

const RECENT_LOGS = 100;

/**
 * A fresh instance may use a whole core until this long after it became healthy (start, probe, first calls);
 * then its manifest's CPU quota applies. At half a core, starting would take twice as long.
 */
export const CPU_BOOST_MS = 5000;

/**
 * The bookkeeping the runtimes share: live entries, the logs of recently exited instances, exit listeners, and
 * each instance's folders and log file.
 */
export class InstanceBook<E extends BookEntry> {
  readonly entries = new Map<string, E>();
  /** Instances that exited and are being cleaned up: no longer listed, not yet gone from the host. */
  readonly #closing = new Map<string, { serverName: string; released: Promise<void> }>();
  readonly #recent = new Map<string, LogRing>();
  readonly #listeners = new Set<(instance: Instance, info: ExitInfo) => void>();
  readonly #bounds: LogBounds;
  readonly #budget: LogBudget;
  readonly #log: (entry: Record<string, unknown>) => void;
  readonly #sink: LineSink | undefined;

  constructor(opts: {
    logBounds?: Partial<LogBounds> | undefined;
    log: (entry: Record<string, unknown>) => void;
    lineSink?: LineSink | undefined;
  }) {
    this.#bounds = { ...DEFAULT_LOG_BOUNDS, ...opts.logBounds };
    this.#budget = new LogBudget(this.#bounds.totalMemoryBytes);
    // Over the total, the logs of exited instances go first, oldest first.
    this.#budget.reclaim = () => {
      let freed = 0;
      for (const [id, ring] of this.#recent) {
        if (this.#budget.used <= this.#budget.limit) break;
        freed += ring.bytes;
        ring.release();
        this.#recent.delete(id);
      }
      return freed;
    };
    this.#log = opts.log;
    this.#sink = opts.lineSink;
  }

  /** The log bounds in force. */
  get logBounds(): LogBounds {
    return { ...this.#bounds };
  }

  /** Bytes of log lines held in memory across all instances. */
  get logMemoryBytes(): number {
    return this.#budget.used;
  }

  /** A new instance id and its folders, created (and handed to `owner` when running as root). */
  async dirs(
    dataDir: string,
    serverName: string,
    treeSha: string,
    opts: { owner?: { uid: number; gid: number }; cache?: boolean; cacheScope?: string } = {},
  ): Promise<InstanceDirs> {
    const id = `${instanceSlug(serverName)}-${randomBytes(4).toString('hex')}`;
    const instanceDir = join(dataDir, 'instances', id);
    const sockDir = join(instanceDir, 'sock');
    const cacheDir = join(
      dataDir,
      'compile-cache',
      // A preview (unchecked code) never seeds the cache production reads: the scope is the uid key.
      createHash('sha256')
        .update(`${opts.cacheScope ?? serverName}\0${treeSha}`)
        .digest('hex')
        .slice(0, 32),
    );
    for (const dir of opts.cache === false ? [sockDir] : [sockDir, cacheDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (opts.owner && process.getuid?.() === 0) await chown(dir, opts.owner.uid, opts.owner.gid);
    }
    return { id, instanceDir, sockDir, socketPath: join(sockDir, 'mcp.sock'), cacheDir };
  }

  /**
   * The bounded log of a new instance: its in-memory ring, its rotating file `<instanceDir>/log` and the reader,
   * which also hands each kept line to the runtime's line sink, tagged with the instance `id` of `opts`.
   */
  newLog(
    instanceDir: string,
    id: string,
    opts: Pick<StartOptions, 'serverName' | 'revision' | 'preview'>,
  ): Pick<BookEntry, 'lines' | 'logFile' | 'capture'> {
    const b = this.#bounds;
    const lines = new LogRing({ maxLines: b.memoryLines, maxBytes: b.memoryBytes, budget: this.#budget });
    const logFile = new RotatingLogFile(join(instanceDir, 'log'), b);
    const sink = this.#sink;
    const tag = { instanceId: id, serverName: opts.serverName, revision: opts.revision, preview: opts.preview };
    const target: LogTarget = { ring: lines, file: logFile, sink: sink && ((line) => sink({ ...line, ...tag })) };
    return { lines, logFile, capture: new LogCapture(target, b) };
  }

  /**
   * Runs `cleanup` of an instance that exited (its sandbox, container or service, its folders), then `closed()`.
   * It is no longer listed from the start; a stop() that comes meanwhile (a second stopper: a deletion beside a
   * preview's end) waits for the rest through `released()`, so that what follows the stop (removing the server's
   * folders) finds the instance gone from the host, and `settled()` counts it as busy.
   */
  async closing(entry: E, info: ExitInfo, cleanup: () => Promise<void>): Promise<void> {
    const { id, serverName } = entry.instance;
    this.entries.delete(id);
    let released = () => {};
    this.#closing.set(id, {
      serverName,
      released: new Promise<void>((resolve) => {
        released = resolve;
      }),
    });
    try {
      await cleanup();
      this.closed(entry, info);
    } finally {
      this.#closing.delete(id);
      released();
    }
  }

  /** Resolves once the cleanup of exited instance `id` is over; at once when none runs. */
  async released(id: string): Promise<void> {
    await this.#closing.get(id)?.released;
  }

  /** Resolves once no instance of `serverName` is starting or closing (checked every 20 ms), or after `timeoutMs`. */
  async settled(serverName: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const busy = () =>
      [...this.entries.values()].some((e) => !e.started && e.instance.serverName === serverName) ||
      [...this.#closing.values()].some((c) => c.serverName === serverName);
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Forgets an entry that is gone, keeps its last lines, and tells the listeners when it had started. */
  closed(entry: E, info: ExitInfo): void {
    this.entries.delete(entry.instance.id);
    this.#recent.set(entry.instance.id, entry.lines);
    if (this.#recent.size > RECENT_LOGS) {
      const [oldest, ring] = this.#recent.entries().next().value ?? [];
      ring?.release();
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    entry.logFile.end();
    if (!entry.started) return;
    for (const cb of this.#listeners) {
      try {
        cb(entry.instance, info);
      } catch (err) {
        this.#log({ level: 'error', msg: 'onExit listener threw', error: String(err) });
      }
    }
  }

  /** Running instances (started and not yet gone). */
  list(filter: (entry: E) => boolean = () => true): Instance[] {
    return [...this.entries.values()].filter((e) => e.started && filter(e)).map((e) => ({ ...e.instance }));
  }

  /** The last lines of an instance (running or recently exited); empty if unknown. */
  logs(instanceId: string): string[] {
    return (this.entries.get(instanceId)?.lines ?? this.#recent.get(instanceId))?.tail() ?? [];
  }

  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }
}
