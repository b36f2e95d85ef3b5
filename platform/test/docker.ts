import Docker from 'dockerode';

const cached = new Map<string, Promise<Docker | null>>();

/**
 * The Docker engine tests run against (DOCKER_HOST, else /var/run/docker.sock), or null when none answers (or,
 * with `swarm`, when it is not a swarm manager). CI sets BMMS_REQUIRE_DOCKER=1 so that a missing engine fails
 * instead of skipping.
 */
export function dockerForTests(opts: { swarm?: boolean } = {}): Promise<Docker | null> {
  const key = opts.swarm ? 'swarm' : 'docker';
  let found = cached.get(key);
  if (!found) {
    found = (async () => {
      const docker = new Docker();
      let problem: string | undefined;
      try {
        const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
        if (opts.swarm && !(info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable)) {
          problem = 'the engine is not a swarm manager';
        }
      } catch (err) {
        problem = `no Docker engine answers: ${(err as Error).message}`;
      }
      if (problem === undefined) return docker;
      if (process.env.BMMS_REQUIRE_DOCKER === '1') throw new Error(`BMMS_REQUIRE_DOCKER=1 but ${problem}`);
      return null;
    })();
    cached.set(key, found);
  }
  return found;
}
