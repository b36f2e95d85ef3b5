// A three-node Docker Swarm on one machine for the multi-node tests (reconciler/docker/cluster.sh): an overlay
// network for instances, the base image on every node, and "pods" (containers attached to that network) whose
// network namespaces platform processes run in, as platform replicas deployed on the swarm would.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBaseImage, IMAGE_PATHS } from '@bmms/reconciler';
import { NODE_BIN } from '@bmms/reconciler/testing';
import Docker from 'dockerode';

const CLUSTER_SH = fileURLToPath(new URL('../../reconciler/docker/cluster.sh', import.meta.url));
const run = promisify(execFile);

/** Why this machine cannot run the cluster (not root, no dockerd or nsenter), or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (network namespaces and dockerd need it)';
  for (const bin of ['/usr/sbin/dockerd', '/usr/bin/nsenter']) if (!existsSync(bin)) return `${bin} is missing`;
  return undefined;
}

export class SwarmCluster {
  readonly dockers: Docker[];
  readonly network: string;
  image = '';
  readonly #pods: { node: number; id: string }[] = [];

  private constructor(hosts: string[], network: string) {
    this.dockers = hosts.map((h) => new Docker({ socketPath: h.replace(/^unix:\/\//, '') }));
    this.network = network;
  }

  /** Starts (or finds) the cluster, an internal overlay network `network`, and the base image on every node. */
  static async up(network: string, nodes = 3): Promise<SwarmCluster> {
    const { stdout } = await run('bash', [CLUSTER_SH, 'up', String(nodes)], { maxBuffer: 1 << 20 });
    const hosts = stdout.trim().split('\n').filter(Boolean);
    const cluster = new SwarmCluster(hosts, network);
    await cluster.#network();
    await cluster.#image();
    return cluster;
  }

  get manager(): Docker {
    return this.dockers[0] as Docker;
  }

  /** DOCKER_HOST of the manager (what the platform talks to). */
  get managerHost(): string {
    return `unix://${(this.manager.modem as unknown as { socketPath: string }).socketPath}`;
  }

  async #network(): Promise<void> {
    const existing = await this.manager.listNetworks({ filters: { name: [this.network] } });
    if (existing.some((n) => n.Name === this.network)) return;
    // Not encrypted here: this machine's kernel has no ESP offload for the engine's IPsec (the self-hosting docs
    // add `encrypted` for real hosts).
    await this.manager.createNetwork({ Name: this.network, Driver: 'overlay', Internal: true, Attachable: true });
  }

  /** The platform's offline base image, built on the manager and loaded into every other node. */
  async #image(): Promise<void> {
    const tag = await ensureBaseImage(this.manager, NODE_BIN);
    for (const docker of this.dockers.slice(1)) {
      if (
        await docker
          .getImage(tag)
          .inspect()
          .then(
            () => true,
            () => false,
          )
      )
        continue;
      const saved = (await this.manager.getImage(tag).get()) as NodeJS.ReadableStream;
      const loading = (await docker.loadImage(saved)) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(loading, (err: Error | null) => (err ? reject(err) : resolve())),
      );
    }
    this.image = tag;
  }

  /**
   * A container on node `node` (1-based) attached to the overlay network, running `script` (node -e; default: idle):
   * the path of its network namespace and its address on the network.
   */
  async pod(node: number, name: string, script = 'setInterval(() => {}, 1e9)'): Promise<{ netns: string; ip: string }> {
    const docker = this.dockers[node - 1] as Docker;
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => {});
    const container = await docker.createContainer({
      name,
      Image: this.image,
      Cmd: [IMAGE_PATHS.node, '-e', script],
      HostConfig: { NetworkMode: this.network },
    });
    await container.start();
    this.#pods.push({ node, id: container.id });
    const info = await container.inspect();
    const ip = info.NetworkSettings.Networks[this.network]?.IPAddress ?? '';
    return { netns: `/proc/${info.State.Pid}/ns/net`, ip };
  }

  /** Node number (1-based, its `bmms.node` label) of every task that runs or starts, by service name. */
  async placements(): Promise<Map<string, number>> {
    const nodes = (await this.manager.listNodes()) as { ID: string; Spec?: { Labels?: Record<string, string> } }[];
    const number = new Map(nodes.map((n) => [n.ID, Number(n.Spec?.Labels?.['bmms.node'] ?? 0)]));
    const services = new Map(
      ((await this.manager.listServices()) as { ID: string; Spec?: { Name?: string } }[]).map((s) => [
        s.ID,
        s.Spec?.Name ?? s.ID,
      ]),
    );
    const tasks = (await this.manager.listTasks()) as {
      ServiceID: string;
      NodeID: string;
      DesiredState?: string;
      Status?: { State?: string };
    }[];
    const out = new Map<string, number>();
    for (const t of tasks) {
      const name = services.get(t.ServiceID);
      // `starting` until the engine's own health check first passes (the platform's probe may pass before).
      const up = t.Status?.State === 'running' || t.Status?.State === 'starting';
      if (name && t.DesiredState === 'running' && up) out.set(name, number.get(t.NodeID) ?? 0);
    }
    return out;
  }

  /**
   * New tasks go to node `node` alone (the others paused), or anywhere again with `undefined`: places a server's
   * instance on a chosen node through the engine's own scheduling.
   */
  async placeOn(node: number | undefined): Promise<void> {
    const nodes = (await this.manager.listNodes()) as {
      ID: string;
      Version: { Index: number };
      Spec: { Labels?: Record<string, string>; Availability?: string };
    }[];
    for (const n of nodes) {
      const availability = node === undefined || n.Spec.Labels?.['bmms.node'] === String(node) ? 'active' : 'pause';
      if (n.Spec.Availability === availability) continue;
      await this.manager.getNode(n.ID).update({ version: n.Version.Index, ...n.Spec, Availability: availability });
    }
  }

  /** Stops node `node`'s engine, as a node lost would (its tasks go with it). */
  async stopNode(node: number): Promise<void> {
    await run('bash', [CLUSTER_SH, 'stop', String(node)]);
  }

  /** Removes the pods and every service; stops the engines and their namespaces when `down`. */
  async close(opts: { down?: boolean } = {}): Promise<void> {
    for (const { node, id } of this.#pods.splice(0)) {
      await this.dockers[node - 1]
        ?.getContainer(id)
        .remove({ force: true })
        .catch(() => {});
    }
    for (const s of (await this.manager.listServices().catch(() => [])) as { ID: string }[]) {
      await this.manager
        .getService(s.ID)
        .remove()
        .catch(() => {});
    }
    if (opts.down) await run('bash', [CLUSTER_SH, 'down']).catch(() => {});
  }
}
