import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ensureBaseImage, LABELS } from './docker-image.ts';
import { unmountQuotas, WRITABLE_DIRS } from './quota.ts';

/**
 * The image the docker and swarm runtimes run, made ready once: the engine answers (as a swarm manager for
 * `swarm`), and the offline base image exists. A failure is not remembered, so the next start tries again.
 */
export class EngineImage {
  readonly #docker: Docker;
  readonly #nodePath: string;
  readonly #swarm: boolean;
  #ready: Promise<string> | undefined;

  constructor(docker: Docker, opts: { nodePath: string; image?: string | undefined; swarm?: boolean }) {
    this.#docker = docker;
    this.#nodePath = opts.nodePath;
    this.#swarm = opts.swarm ?? false;
    if (opts.image) this.#ready = Promise.resolve(opts.image);
  }

  /** The image reference to run. */
  get(): Promise<string> {
    this.#ready ??= this.#prepare();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  async #prepare(): Promise<string> {
    let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    try {
      info = await this.#docker.info();
    } catch (err) {
      throw new Error(`the Docker engine does not answer (${err instanceof Error ? err.message : String(err)})`);
    }
    if (this.#swarm && (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable)) {
      throw new Error('the Docker engine is not a swarm manager (run `docker swarm init` on it, or join it as one)');
    }
    const tag = await ensureBaseImage(this.#docker, this.#nodePath);
    if (!this.#swarm) return tag;
    // By image id: the engine then never tries a registry for an image built here (with none to ask, each task
    // would wait for that pull to time out). A configured BMMS_DOCKER_IMAGE keeps its name, for multi-host pulls.
    return (await this.#docker.getImage(tag).inspect()).Id;
  }
}

/**
 * Removes what a previous platform on this data dir left in the engine (containers or services carrying its
 * owner label) except the instances `keep` names; returns how many it removed.
 */
export async function removeOrphans(
  found: { engineId: string; labels: Record<string, string> }[],
  opts: {
    keep: (instanceId: string) => boolean;
    remove: (engineId: string) => Promise<unknown>;
    dataDir: string;
    what: string;
    log: (entry: Record<string, unknown>) => void;
  },
): Promise<number> {
  let removed = 0;
  for (const { engineId, labels } of found) {
    const id = labels[LABELS.instance];
    if (id !== undefined && opts.keep(id)) continue;
    await opts.remove(engineId).catch(() => {});
    if (id !== undefined) {
      const dirs = WRITABLE_DIRS.map((dir) => join(opts.dataDir, 'instances', id, dir));
      await unmountQuotas(dirs);
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
    removed++;
    opts.log({ level: 'info', msg: `removed orphan ${opts.what}`, instanceId: id, serverName: labels[LABELS.server] });
  }
  return removed;
}
