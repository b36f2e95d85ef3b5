import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type Docker from 'dockerode';
import { LABELS } from './docker-image.ts';

/** The engine refuses configs of this size and more (swarmkit's limit: 1000 KiB). */
export const MAX_CONFIG_BYTES = 1000 * 1024;

/** A config mounted as one read-only file of a task. */
export type ConfigMount = {
  File: { Name: string; UID: string; GID: string; Mode: number };
  ConfigID: string;
  ConfigName: string;
};

/** One file to deliver: where it goes in the container and what it holds. */
type Delivered = { target: string; data: Buffer };

/**
 * A task's read-only files (its bundle, the privilege-dropping preload) delivered as swarm configs, which the
 * managers replicate and hand to whichever node runs the task: no node needs the platform's data dir. Configs are
 * named by content (`bmms-<owner>-<sha256>`), so the vendor files every bundle shares are stored once; a config no
 * service uses any more is removed when an instance that used it closes (the engine refuses while one still does).
 */
export class SwarmConfigs {
  readonly #docker: Docker;
  readonly #owner: string;

  constructor(docker: Docker, owner: string) {
    this.#docker = docker;
    this.#owner = owner;
  }

  /**
   * Configs for every file under `dir` (mounted at the same relative path under `targetDir`) and for `files`; null
   * when one of them is over the engine's limit (the caller then binds the folder, which needs it on every node).
   */
  async mounts(
    dir: string,
    targetDir: string,
    files: { path: string; target: string }[],
  ): Promise<ConfigMount[] | null> {
    const delivered: Delivered[] = [];
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      delivered.push({ target: join(targetDir, relative(dir, path)), data: await readFile(path) });
    }
    for (const f of files) delivered.push({ target: f.target, data: await readFile(f.path) });
    if (delivered.some((d) => d.data.length >= MAX_CONFIG_BYTES)) return null;
    const mounts: ConfigMount[] = [];
    for (const d of delivered) {
      const name = `bmms-${this.#owner.slice(0, 16)}-${createHash('sha256').update(d.data).digest('hex').slice(0, 40)}`;
      mounts.push({
        File: { Name: d.target, UID: '0', GID: '0', Mode: 0o444 },
        ConfigID: await this.#ensure(name, d.data),
        ConfigName: name,
      });
    }
    return mounts;
  }

  async #ensure(name: string, data: Buffer): Promise<string> {
    const found = await this.#find(name);
    if (found) return found;
    try {
      const created = (await this.#docker.createConfig({
        Name: name,
        Labels: { [LABELS.owner]: this.#owner },
        Data: data.toString('base64'),
      })) as { id?: string; ID?: string };
      return (created.id ?? created.ID) as string;
    } catch (err) {
      // Another start made it a moment ago.
      const raced = await this.#find(name);
      if (raced) return raced;
      throw err;
    }
  }

  async #find(name: string): Promise<string | undefined> {
    const configs = (await this.#docker.listConfigs({ filters: { name: [name] } })) as {
      ID: string;
      Spec?: { Name?: string };
    }[];
    return configs.find((c) => c.Spec?.Name === name)?.ID;
  }

  /** Removes the configs no service uses any more (best effort: the engine keeps those still in use). */
  async release(mounts: readonly ConfigMount[]): Promise<void> {
    for (const m of mounts) {
      await this.#docker
        .getConfig(m.ConfigID)
        .remove()
        .catch(() => {});
    }
  }
}
