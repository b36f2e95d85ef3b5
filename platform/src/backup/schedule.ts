import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import type { BackupSummary } from './backup.ts';

const PREFIX = 'bmms-backup-';
const PARTIAL = '.partial';

export interface BackupScheduleOptions {
  /** Where backups go, one directory each (BMMS_BACKUP_DIR). */
  dir: string;
  /** How many finished backups to keep (BMMS_BACKUP_KEEP). */
  keep: number;
  /** Time between backups. */
  intervalMs: number;
  /** Writes one backup into the given new directory. */
  backup(dir: string): Promise<BackupSummary>;
  log: Logger;
}

/** Takes a backup every interval into `<dir>/bmms-backup-<time>`, keeping the newest `keep`. */
export class BackupSchedule {
  readonly #options: BackupScheduleOptions;
  #timer: NodeJS.Timeout | undefined;
  /** Backups run one at a time: the timer's and any asked for directly. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: BackupScheduleOptions) {
    this.#options = options;
  }

  /** Starts the timer (the first backup runs one interval after start). */
  start(): void {
    this.#timer = setInterval(() => {
      this.runOnce().catch(() => {});
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a backup in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#chain.catch(() => {});
  }

  /** Takes one backup now (written as `.partial`, renamed when complete), then prunes old ones. */
  runOnce(): Promise<string> {
    const next = this.#chain.catch(() => {}).then(() => this.#take());
    this.#chain = next;
    return next;
  }

  async #take(): Promise<string> {
    const { dir, log } = this.#options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const name = `${PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const partial = path.join(dir, `${name}${PARTIAL}`);
    const final = path.join(dir, name);
    try {
      const { manifest } = await this.#options.backup(partial);
      await rename(partial, final);
      log.info('backup written', { dir: final, repos: manifest.repos.length });
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      log.error('backup failed', { err });
      throw err;
    }
    await this.#prune();
    return final;
  }

  /** Removes finished backups beyond the newest `keep`, and partial ones a crash left. */
  async #prune(): Promise<void> {
    const { dir, keep } = this.#options;
    const entries = (await readdir(dir)).filter((e) => e.startsWith(PREFIX));
    // Backups run one at a time and this one is renamed already: any partial left is a crash's.
    const stale = entries.filter((e) => e.endsWith(PARTIAL));
    const done = entries.filter((e) => !e.endsWith(PARTIAL)).sort();
    for (const e of [...stale, ...done.slice(0, Math.max(0, done.length - keep))]) {
      await rm(path.join(dir, e), { recursive: true, force: true });
    }
  }
}
