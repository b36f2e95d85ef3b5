import { DockerRuntime, ProcessRuntime, type Runtime, SwarmRuntime } from '@bmms/reconciler';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

/** The instance runtime `BMMS_RUNTIME` names: `process` (bubblewrap), `docker` or `swarm` (dockerode, DOCKER_HOST). */
export function createRuntime(config: Config, dataDir: string, log: Logger): Runtime {
  const runtimeLog = log.child({ component: 'runtime' });
  const sink = ({ level, msg, ...fields }: Record<string, unknown>) =>
    (level === 'error' ? runtimeLog.error : level === 'warn' ? runtimeLog.warn : runtimeLog.info)(String(msg), fields);
  switch (config.runtime) {
    case 'docker':
      return new DockerRuntime({ dataDir, image: config.dockerImage, log: sink });
    case 'swarm':
      return new SwarmRuntime({ dataDir, image: config.dockerImage, constraints: config.swarmConstraints, log: sink });
    default:
      return new ProcessRuntime({ dataDir, insecure: config.insecureNoSandbox, log: sink });
  }
}
