import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PIDS, type Limits } from './types.ts';

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
const CPU_PERIOD_US = 100_000;

/** What one instance's cgroup(s) look like on disk. */
export type InstanceCgroup = {
  /** `cgroup.procs` files a process writes its pid into to enter the instance's cgroup(s). */
  procs: string[];
  dirs: string[];
};

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** This process's own cgroup path per v1 controller (or `''` for v2), from /proc/self/cgroup. */
function ownPaths(): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers.split(',')) paths.set(c, path);
  }
  return paths;
}

/**
 * Memory, pids and CPU limits for process-runtime instances through cgroups (v1 or v2), nested under the
 * platform's own cgroup. `detect()` returns null where cgroups are not writable (then limits are not enforced).
 */
export class Cgroups {
  readonly version: 1 | 2;
  /** Parent folder per controller (v1) or the single parent (v2, key `unified`). */
  readonly #parents: Map<string, string>;

  private constructor(version: 1 | 2, parents: Map<string, string>) {
    this.version = version;
    this.#parents = parents;
  }

  /** The cgroup hierarchy this host lets us manage, or null. */
  static detect(namespace = 'bmms'): Cgroups | null {
    try {
      const own = ownPaths();
      if (existsSync(join(ROOT, 'cgroup.controllers'))) {
        const base = join(ROOT, own.get('') ?? '/');
        const controllers = readFileSync(join(base, 'cgroup.controllers'), 'utf8');
        if (!['memory', 'pids', 'cpu'].every((c) => controllers.split(/\s+/).includes(c))) return null;
        if (!writable(base)) return null;
        return new Cgroups(2, new Map([['unified', join(base, namespace)]]));
      }
      const parents = new Map<string, string>();
      for (const c of V1_CONTROLLERS) {
        const mount = join(ROOT, c);
        const base = join(mount, own.get(c) ?? '/');
        if (!existsSync(join(base, 'cgroup.procs')) || !writable(base)) return null;
        parents.set(c, join(base, namespace));
      }
      return new Cgroups(1, parents);
    } catch {
      return null;
    }
  }

  /**
   * Creates the instance's cgroup(s) with its memory and pids limits. The CPU quota waits for `limitCpu` when
   * `cpuBoost` is set (a start at a fraction of a core takes that much longer), else applies at once.
   */
  async create(instanceId: string, limits: Limits, opts: { cpuBoost?: boolean } = {}): Promise<InstanceCgroup> {
    const memory = Math.max(32, Math.floor(limits.memoryMb)) * 1024 * 1024;
    const pids = limits.pids ?? DEFAULT_PIDS;
    const quota = opts.cpuBoost ? null : cpuQuota(limits.cpu);
    const dirs: string[] = [];
    if (this.version === 2) {
      const parent = this.#parents.get('unified') as string;
      await mkdir(parent, { recursive: true });
      // Controllers must be enabled from the root down to the parent of the instance's group.
      await writeFile(join(parent, '..', 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => {});
      await writeFile(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
      const dir = join(parent, instanceId);
      await mkdir(dir);
      dirs.push(dir);
      await writeFile(join(dir, 'memory.max'), String(memory));
      await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {});
      await writeFile(join(dir, 'pids.max'), String(pids));
      await writeFile(join(dir, 'cpu.max'), `${quota ?? 'max'} ${CPU_PERIOD_US}`);
      return { procs: [join(dir, 'cgroup.procs')], dirs };
    }
    for (const c of V1_CONTROLLERS) {
      const dir = join(this.#parents.get(c) as string, instanceId);
      await mkdir(dir, { recursive: true });
      dirs.push(dir);
      if (c === 'memory') {
        await writeFile(join(dir, 'memory.limit_in_bytes'), String(memory));
        if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
          await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(memory)).catch(() => {});
        }
      } else if (c === 'pids') {
        await writeFile(join(dir, 'pids.max'), String(pids));
      } else {
        await writeFile(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota ?? -1));
      }
    }
    return { procs: dirs.map((d) => join(d, 'cgroup.procs')), dirs };
  }

  /** Applies the CPU quota (`cpu` cores) to an instance's cgroup; a cgroup that is gone is ignored. */
  async limitCpu(cg: InstanceCgroup, cpu: number): Promise<void> {
    const quota = cpuQuota(cpu);
    for (const dir of cg.dirs) {
      if (this.version === 2) {
        await writeFile(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`).catch(() => {});
      } else if (existsSync(join(dir, 'cpu.cfs_quota_us'))) {
        await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota)).catch(() => {});
      }
    }
  }

  /** The CPU quota in force, in cores (null: unlimited), as the kernel reports it. */
  async cpuLimit(cg: InstanceCgroup): Promise<number | null> {
    for (const dir of cg.dirs) {
      if (this.version === 2) {
        const [q, period] = (await readFile(join(dir, 'cpu.max'), 'utf8')).trim().split(' ');
        return q === 'max' ? null : Number(q) / Number(period);
      }
      if (existsSync(join(dir, 'cpu.cfs_quota_us'))) {
        const q = Number((await readFile(join(dir, 'cpu.cfs_quota_us'), 'utf8')).trim());
        const period = Number((await readFile(join(dir, 'cpu.cfs_period_us'), 'utf8')).trim());
        return q < 0 ? null : q / period;
      }
    }
    return null;
  }

  /** How many times the kernel's OOM killer struck inside the instance's cgroup. */
  async oomKills(cg: InstanceCgroup): Promise<number> {
    for (const dir of cg.dirs) {
      const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
      const text = await readFile(join(dir, file), 'utf8').catch(() => '');
      const m = /^oom_kill (\d+)$/m.exec(text);
      if (m?.[1]) return Number(m[1]);
    }
    return 0;
  }

  /** Kills whatever is left in the instance's cgroup(s) and removes them. */
  async remove(cg: InstanceCgroup): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      let left = 0;
      for (const procs of cg.procs) {
        const pids = (await readFile(procs, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
        for (const pid of pids) {
          left++;
          if (pid > 1) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
        }
      }
      if (left === 0) break;
      await sleep(20);
    }
    for (const dir of cg.dirs) await rmdir(dir).catch(() => {});
  }

  /** Every instance cgroup left under our parent(s), e.g. by a platform that crashed. */
  async leftovers(): Promise<Map<string, InstanceCgroup>> {
    const found = new Map<string, InstanceCgroup>();
    for (const parent of this.#parents.values()) {
      const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const cg = found.get(e.name) ?? { procs: [], dirs: [] };
        cg.dirs.push(join(parent, e.name));
        cg.procs.push(join(parent, e.name, 'cgroup.procs'));
        found.set(e.name, cg);
      }
    }
    return found;
  }
}

/** A CFS quota in µs per period for `cpu` cores (at least 1 ms). */
function cpuQuota(cpu: number): number {
  return Math.max(1000, Math.round(cpu * CPU_PERIOD_US));
}

/**
 * The shell prelude that moves itself into the instance's cgroups and then execs the sandbox, so that the
 * sandbox and everything it forks are limited from their first instruction.
 */
export function enterCgroupArgs(cg: InstanceCgroup, command: string, args: string[]): { file: string; args: string[] } {
  const script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';
  return {
    file: '/bin/sh',
    args: ['-c', script, 'bmms-cgroup', String(cg.procs.length), ...cg.procs, command, ...args],
  };
}
