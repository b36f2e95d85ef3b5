import type { PrismaClient } from '@bmms/prisma';
import {
  DockerRuntime,
  type LineSink,
  PrismaUidPool,
  ProcessRuntime,
  type Runtime,
  SwarmRuntime,
} from '@bmms/reconciler';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

/**
 * The instance runtime `BMMS_RUNTIME` names: `process` (bubblewrap, or the confined layer where bwrap is not in the
 * PATH), `confined` (that layer always), `docker` or `swarm` (dockerode, DOCKER_HOST).
 */
export function createRuntime(
  config: Config,
  dataDir: string,
  log: Logger,
  db: PrismaClient,
  lineSink?: LineSink,
  swarmOwners?: string[],
): Runtime {
  const common = commonOptions(config, dataDir, log, db, lineSink);
  switch (config.runtime) {
    case 'docker':
      return new DockerRuntime({ ...common, image: config.dockerImage });
    case 'swarm':
      return new SwarmRuntime({
        ...common,
        image: config.dockerImage,
        constraints: config.swarmConstraints,
        network: config.swarmNetwork,
        ...(swarmOwners ? { owners: swarmOwners } : {}),
      });
    default:
      return new ProcessRuntime({ ...common, ...processOptions(config) });
  }
}

function processOptions(config: Config): { insecure: boolean; confined: 'fallback' | 'always' } {
  return { insecure: config.insecureNoSandbox, confined: config.runtime === 'confined' ? 'always' : 'fallback' };
}

/** Which layer isolates instances, whether it is a hardened sandbox, and what the banner says of it. */
export type Confinement = { layer: string; hardened: boolean; lines: string[] };

/** The layer `runtime` isolates instances with, described plainly: what it does and what it does not protect against. */
export function confinementOf(runtime: Runtime): Confinement {
  if (runtime instanceof DockerRuntime || runtime instanceof SwarmRuntime) {
    const kind = runtime instanceof SwarmRuntime ? 'Docker Swarm services' : 'Docker containers';
    return {
      layer: runtime.name,
      hardened: true,
      lines: [
        `Instances: ${kind} (read-only root, no capabilities, no network but the egress proxy, a uid per server).`,
      ],
    };
  }
  if (!(runtime instanceof ProcessRuntime)) return { layer: runtime.name, hardened: false, lines: [] };
  if (runtime.unavailable) {
    return {
      layer: 'unavailable',
      hardened: false,
      lines: [
        `WARNING: MCP servers cannot run: ${runtime.unavailable.message}`,
        'Install bubblewrap (Debian: apt-get install -y bubblewrap) and restart, or start with BMMS_INSECURE_NO_SANDBOX=1 on a development machine.',
      ],
    };
  }
  if (runtime.sandbox === 'bubblewrap') {
    return {
      layer: 'bubblewrap',
      hardened: true,
      lines: [
        'Instances: bubblewrap sandbox (own network, pid and user namespaces, read-only root, a uid per server when root, cgroup limits).',
      ],
    };
  }
  if (runtime.sandbox === 'confined') {
    return {
      layer: 'confined',
      hardened: false,
      lines: [
        "Instances: confined by Node's permission model (no bubblewrap found). Each server reads only its bundle and",
        'may not open network connections or listeners, write files, start or signal processes, start workers,',
        'load addons or compile strings into code; it talks to the platform over socket pairs, and ctx.fetch',
        'leaves only through the egress proxy.',
        'NOT a hardened sandbox: an exploit of Node or V8 escapes it, with the rights of the user the instance runs',
        `as (${process.getuid?.() === 0 ? 'its own uid' : "the platform's user"}); memory beyond the V8 heap, CPU and`,
        `processes are bounded only ${runtime.cgroups ? 'by cgroups' : 'by rlimits, not cgroups'}. Fine for your own servers; for`,
        "code from people you don't trust install bubblewrap (apt-get install -y bubblewrap) or use BMMS_RUNTIME=docker.",
      ],
    };
  }
  return {
    layer: 'none',
    hardened: false,
    lines: [
      'WARNING: insecure mode: MCP servers run WITHOUT a sandbox (BMMS_INSECURE_NO_SANDBOX=1). Never in production.',
    ],
  };
}

/** `BMMS_SIGNUP=open` with a runtime that is not a hardened sandbox: the platform refuses to start. */
export class UnhardenedSignupError extends Error {
  readonly code = 'unhardened_signup';
  constructor() {
    super(
      'BMMS_SIGNUP=open lets strangers run code, and this host has no hardened sandbox for it: install bubblewrap ' +
        '(apt-get install -y bubblewrap util-linux) or use BMMS_RUNTIME=docker or swarm. The confined runtime ' +
        "(Node's permission model) and BMMS_INSECURE_NO_SANDBOX are for servers you trust; with them, use BMMS_SIGNUP=invite.",
    );
    this.name = 'UnhardenedSignupError';
  }
}

/**
 * Whether the runtime this configuration selects (or `given`) is a hardened sandbox, without starting it: open
 * sign-ups let strangers run code, which only bubblewrap, docker or swarm may hold.
 */
export function hardenedRuntime(config: Config, given?: Runtime): boolean {
  if (given) return confinementOf(given).hardened;
  if (config.runtime === 'docker' || config.runtime === 'swarm') return true;
  if (config.runtime === 'confined' || config.insecureNoSandbox) return false;
  return ProcessRuntime.bubblewrapMissing() === undefined;
}

/**
 * What runs a server's tests in an instance's sandbox: the process runtime itself, or (docker and swarm) a process
 * runtime of its own on the platform's host, made on first use.
 */
export function jobRunner(
  runtime: Runtime,
  config: Config,
  dataDir: string,
  log: Logger,
  db: PrismaClient,
): () => ProcessRuntime {
  if (runtime instanceof ProcessRuntime) return () => runtime;
  let own: ProcessRuntime | undefined;
  return () => {
    own ??= new ProcessRuntime({ ...commonOptions(config, dataDir, log, db), ...processOptions(config) });
    return own;
  };
}

function commonOptions(config: Config, dataDir: string, log: Logger, db: PrismaClient, lineSink?: LineSink) {
  // Each server's uid is recorded in the database: a restart, or another leader, runs it as the same uid.
  const runtimeLog = log.child({ component: 'runtime' });
  const sink = ({ level, msg, ...fields }: Record<string, unknown>) =>
    (level === 'error' ? runtimeLog.error : level === 'warn' ? runtimeLog.warn : runtimeLog.info)(String(msg), fields);
  return {
    dataDir,
    log: sink,
    uids: new PrismaUidPool(db, config.instanceUids),
    ...(config.instanceDiskMb ? { diskMb: config.instanceDiskMb } : {}),
    ...(config.instanceLogs ? { logBounds: config.instanceLogs } : {}),
    ...(lineSink ? { lineSink } : {}),
  };
}
