/**
 * CPU time per call, which a loaded machine does not distort the way it distorts latency and throughput: user +
 * system time of this process (`process.cpuUsage`, all threads) and of its live child processes (`/proc/<pid>/stat`,
 * summed over each process tree), sampled before and after a measurement.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of one process in ms (0 once it is gone). */
function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Every live process's parent, by pid. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      map.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return map;
}

/** The live descendants of `root` (not `root` itself). */
function descendants(root: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [pid, ppid] of parents()) byParent.set(ppid, [...(byParent.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const queue = [...(byParent.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

/** CPU ms so far: this process, the trees under `separate` (each on its own) and every other descendant. */
export interface CpuSample {
  self: number;
  separate: number[];
  others: Map<number, number>;
}

/** Samples this process, the process trees rooted at `separate`, and all other descendants of this process. */
export function sampleCpu(separate: number[] = []): CpuSample {
  const { user, system } = process.cpuUsage();
  const all = descendants(process.pid);
  const excluded = new Set<number>();
  const trees = separate.map((root) => {
    const tree = [root, ...descendants(root)];
    for (const pid of tree) excluded.add(pid);
    return tree.reduce((sum, pid) => sum + procCpuMs(pid), 0);
  });
  const others = new Map<number, number>();
  for (const pid of all) if (!excluded.has(pid)) others.set(pid, procCpuMs(pid));
  return { self: (user + system) / 1000, separate: trees, others };
}

/** CPU ms spent between two samples: this process, each separate tree, and the other descendants alive at both. */
export function cpuSpent(before: CpuSample, after: CpuSample): { self: number; separate: number[]; others: number } {
  let others = 0;
  for (const [pid, ms] of after.others) others += ms - (before.others.get(pid) ?? ms);
  return {
    self: after.self - before.self,
    separate: after.separate.map((ms, i) => ms - (before.separate[i] ?? 0)),
    others,
  };
}

/** The CPU cgroup's cpu.stat of a process (cgroup v1 or v2), as numbers by name; empty when there is none. */
function cpuStat(pid: number): Record<string, number> {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l));
    const v2 = lines.find((l) => l.startsWith('0::'));
    const dir = v1 ? `/sys/fs/cgroup/cpu${v1.split(':')[2]}` : `/sys/fs/cgroup${v2?.slice(3) ?? ''}`;
    const stat: Record<string, number> = {};
    for (const line of readFileSync(`${dir}/cpu.stat`, 'utf8').split('\n')) {
      const [name, value] = line.split(' ');
      if (name && value) stat[name] = Number(value);
    }
    return stat;
  } catch {
    return {};
  }
}

/** Enforcement periods and throttled ones so far in the CPU cgroups of this process's descendants (once per cgroup). */
export function throttling(exclude: number[] = []): { periods: number; throttled: number } {
  const skip = new Set(exclude.flatMap((root) => [root, ...descendants(root)]));
  const seen = new Set<string>();
  let periods = 0;
  let throttled = 0;
  for (const pid of descendants(process.pid)) {
    if (skip.has(pid)) continue;
    const stat = cpuStat(pid);
    const key = JSON.stringify(stat);
    if (stat.nr_periods === undefined || seen.has(key)) continue;
    seen.add(key);
    periods += stat.nr_periods;
    throttled += stat.nr_throttled ?? 0;
  }
  return { periods, throttled };
}
