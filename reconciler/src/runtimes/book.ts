import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { instanceSlug } from './health.ts';
import type { ExitInfo, Instance } from './types.ts';

/** What every runtime keeps per instance it started. */
export type BookEntry = {
  instance: Instance;
  /** The last log lines, kept in memory. */
  lines: string[];
  logFile: WriteStream;
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
  readonly #recent = new Map<string, string[]>();
  readonly #listeners = new Set<(instance: Instance, info: ExitInfo) => void>();
  readonly #logLines: number;
  readonly #log: (entry: Record<string, unknown>) => void;

  constructor(opts: { logLines: number; log: (entry: Record<string, unknown>) => void }) {
    this.#logLines = opts.logLines;
    this.#log = opts.log;
  }

  /** A new instance id and its folders, created (and handed to `owner` when running as root). */
  async dirs(
    dataDir: string,
    serverName: string,
    treeSha: string,
    opts: { owner?: { uid: number; gid: number }; cache?: boolean } = {},
  ): Promise<InstanceDirs> {
    const id = `${instanceSlug(serverName)}-${randomBytes(4).toString('hex')}`;
    const instanceDir = join(dataDir, 'instances', id);
    const sockDir = join(instanceDir, 'sock');
    const cacheDir = join(
      dataDir,
      'compile-cache',
      createHash('sha256').update(`${serverName}\0${treeSha}`).digest('hex').slice(0, 32),
    );
    for (const dir of opts.cache === false ? [sockDir] : [sockDir, cacheDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (opts.owner && process.getuid?.() === 0) await chown(dir, opts.owner.uid, opts.owner.gid);
    }
    return { id, instanceDir, sockDir, socketPath: join(sockDir, 'mcp.sock'), cacheDir };
  }

  /** The instance's log file (appended to across restarts of the platform). */
  logFile(instanceDir: string): WriteStream {
    return createWriteStream(join(instanceDir, 'log'), { flags: 'a', mode: 0o600 });
  }

  /** Keeps the last lines of `stream` in `lines` and appends every line to `file`. */
  capture(stream: Readable | null, lines: string[], file: WriteStream): void {
    if (!stream) return;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      lines.push(line);
      if (lines.length > this.#logLines) lines.shift();
      file.write(`${line}\n`);
    });
  }

  /** Forgets an entry that is gone, keeps its last lines, and tells the listeners when it had started. */
  closed(entry: E, info: ExitInfo): void {
    this.entries.delete(entry.instance.id);
    this.#recent.set(entry.instance.id, entry.lines);
    if (this.#recent.size > RECENT_LOGS) {
      const oldest = this.#recent.keys().next().value;
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

  onExit(cb: (instance: Instance, info: ExitInfo) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  logs(instanceId: string): string[] {
    return [...(this.entries.get(instanceId)?.lines ?? this.#recent.get(instanceId) ?? [])];
  }
}
