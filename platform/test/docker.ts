import Docker from 'dockerode';

let cached: Promise<Docker | null> | undefined;

/**
 * The Docker engine tests run against (DOCKER_HOST, else /var/run/docker.sock), or null when none answers.
 * CI sets BMMS_REQUIRE_DOCKER=1 so that a missing engine fails instead of skipping.
 */
export function dockerForTests(): Promise<Docker | null> {
  cached ??= (async () => {
    const docker = new Docker();
    try {
      await docker.ping();
      return docker;
    } catch (err) {
      if (process.env.BMMS_REQUIRE_DOCKER === '1') {
        throw new Error(`BMMS_REQUIRE_DOCKER=1 but no Docker engine answers: ${(err as Error).message}`);
      }
      return null;
    }
  })();
  return cached;
}
