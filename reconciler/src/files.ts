import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { uidKey } from './runtimes/uids.ts';

const INSTANCE_DIR = /^(.+)-[0-9a-f]{8}$/;
const TREE_DIR = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The compile-cache folder name of `server`'s `tree` in one scope (as InstanceBook.dirs names it). */
function cacheName(scope: string, tree: string): string {
  return createHash('sha256').update(`${scope}\0${tree}`).digest('hex').slice(0, 32);
}

/** The compile-cache folder names a server's trees may have: its production scope and its previews'. */
function cacheNames(server: string, trees: Iterable<string>): string[] {
  const names: string[] = [];
  for (const tree of trees) {
    for (const kind of ['production', 'preview'] as const) names.push(cacheName(uidKey(server, kind), tree));
  }
  return names;
}

/**
 * What the runtimes and the bundle cache leave in the data dir per server: instance folders (with their log files)
 * under `instances/`, V8 compile caches under `compile-cache/`, bundles under `bundles/<tree>`. Removes them when a
 * server is deleted, and at start whatever no server owns any more (a deletion a crash interrupted).
 */
export class ServerFiles {
  readonly #dataDir: string;

  constructor(opts: { dataDir: string }) {
    this.#dataDir = opts.dataDir;
  }

  /** Removes the stopped instances' folders of `server`, its compile caches of `trees`, and the bundles of `bundles`. */
  async purge(server: string, trees: string[], bundles: string[]): Promise<void> {
    const instances = join(this.#dataDir, 'instances');
    for (const id of await readdir(instances).catch(() => [] as string[])) {
      if (INSTANCE_DIR.exec(id)?.[1] === server) await this.#removeInstance(join(instances, id));
    }
    for (const name of cacheNames(server, trees)) {
      await rm(join(this.#dataDir, 'compile-cache', name), { recursive: true, force: true });
    }
    for (const tree of bundles) {
      if (TREE_DIR.test(tree)) await rm(join(this.#dataDir, 'bundles', tree), { recursive: true, force: true });
    }
  }

  /**
   * Removes what belongs to no server in `servers` (name → its trees): instance folders of other names, compile
   * caches and bundles of other trees. Run at start, before anything builds or starts; returns how many went.
   */
  async sweep(servers: Map<string, string[]>): Promise<number> {
    let removed = 0;
    const instances = join(this.#dataDir, 'instances');
    for (const id of await readdir(instances).catch(() => [] as string[])) {
      const name = INSTANCE_DIR.exec(id)?.[1];
      if (name !== undefined && servers.has(name)) continue;
      if (await this.#removeInstance(join(instances, id))) removed++;
    }
    const caches = new Set([...servers].flatMap(([name, trees]) => cacheNames(name, trees)));
    removed += await this.#sweepDir(join(this.#dataDir, 'compile-cache'), (f) => caches.has(f));
    const trees = new Set([...servers.values()].flat());
    removed += await this.#sweepDir(join(this.#dataDir, 'bundles'), (f) => !TREE_DIR.test(f) || trees.has(f));
    return removed;
  }

  /** An instance folder goes unless its instance may still run (its record is there: the runtime kills it first). */
  async #removeInstance(dir: string): Promise<boolean> {
    if (existsSync(join(dir, 'record.json'))) return false;
    // A folder still mounted (a quota the runtime did not release) stays for the next start's sweep.
    return rm(dir, { recursive: true, force: true }).then(
      () => true,
      () => false,
    );
  }

  async #sweepDir(dir: string, keep: (name: string) => boolean): Promise<number> {
    let removed = 0;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (keep(f)) continue;
      await rm(join(dir, f), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}
