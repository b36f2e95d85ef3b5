import { Redis } from 'ioredis';

/** The Redis tests use (database 15, out of an operator's 0): BMMS_TEST_REDIS_URL, default the local one. */
export const REDIS_TEST_URL = process.env.BMMS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

/**
 * Whether a Redis answers at REDIS_TEST_URL; the suites that need one skip without it, except where CI sets
 * BMMS_REQUIRE_REDIS=1, which turns a missing Redis into a failure.
 */
export async function redisForTests(): Promise<boolean> {
  const probe = new Redis(REDIS_TEST_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  let answers = false;
  try {
    await probe.connect();
    answers = (await probe.ping()) === 'PONG';
  } catch {
    answers = false;
  } finally {
    probe.disconnect();
  }
  if (!answers && process.env.BMMS_REQUIRE_REDIS === '1') {
    throw new Error(`BMMS_REQUIRE_REDIS=1 but no Redis answers at ${REDIS_TEST_URL}`);
  }
  return answers;
}
