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
  const runtimeLog = log.child({ component: 'runtime' });
  const sink = ({ level, msg, ...fields }: Record<string, unknown>) =>
    (level === 'error' ? runtimeLog.error : level === 'warn' ? runtimeLog.warn : runtimeLog.info)(String(msg), fields);
  // Each server's uid is recorded in the database: a restart, or another leader, runs it as the same uid.
  const common = {
    dataDir,
    log: sink,
    uids: new PrismaUidPool(db, config.instanceUids),
    ...(config.instanceDiskMb ? { diskMb: config.instanceDiskMb } : {}),
    ...(config.instanceLogs ? { logBounds: config.instanceLogs } : {}),
    ...(lineSink ? { lineSink } : {}),
  };
  switch (config.runtime) {
    case 'docker':
      return new DockerRuntime({ ...common, image: config.dockerImage });
    case 'swarm':
      return new SwarmRuntime({ ...common, image: config.dockerImage, constraints: config.swarmConstraints });
    default:
      return new ProcessRuntime({ ...common, insecure: config.insecureNoSandbox });
  }
}
