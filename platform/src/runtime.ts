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

/** The instance runtime `BMMS_RUNTIME` names: `process` (bubblewrap), `docker` or `swarm` (dockerode, DOCKER_HOST). */
export function createRuntime(
  config: Config,
  dataDir: string,
  log: Logger,
  db: PrismaClient,
  lineSink?: LineSink,
): Runtime {
  const common = commonOptions(config, dataDir, log, db, lineSink);
  switch (config.runtime) {
    case 'docker':
      return new DockerRuntime({ ...common, image: config.dockerImage });
    case 'swarm':
      return new SwarmRuntime({ ...common, image: config.dockerImage, constraints: config.swarmConstraints });
    default:
      return new ProcessRuntime({ ...common, insecure: config.insecureNoSandbox });
  }
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
    own ??= new ProcessRuntime({ ...commonOptions(config, dataDir, log, db), insecure: config.insecureNoSandbox });
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
