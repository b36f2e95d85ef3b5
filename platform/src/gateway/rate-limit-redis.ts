import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { COUNTS_KEEP_MS, type RateLimitStore } from './rate-limit.ts';
import { redactedRedisUrl } from './redis-url.ts';

/** Keys per script call: a process that knows many keys exchanges them in several round trips, none of them long. */
const CHUNK = 500;
/** One hash tag for every key, so a Redis Cluster keeps them in one slot and the script may touch them all. */
const PREFIX = 'bmms:{rate-limit}:';

/**
 * For each KEYS[i] (a hash: process id → that process's count of one key and window), raises this process's field to
 * ARGV[i + 2] (a count only grows within its window, so a repeated or late write adds nothing), renews the expiry, and
 * returns the sum of every other process's field.
 */
const EXCHANGE = `
local pid = ARGV[1]
local keep = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS do
  local count = tonumber(ARGV[i + 2])
  local mine = tonumber(redis.call('HGET', KEYS[i], pid) or '0')
  if count > mine then redis.call('HSET', KEYS[i], pid, count) end
  redis.call('PEXPIRE', KEYS[i], keep)
  local all = redis.call('HGETALL', KEYS[i])
  local others = 0
  for j = 1, #all, 2 do
    if all[j] ~= pid then others = others + tonumber(all[j + 1]) end
  end
  out[i] = others
end
return out
`;

type ExchangeClient = Redis & {
  bmmsRateLimitExchange(...args: Array<string | number>): Promise<number[]>;
};

/**
 * Rate-limit counts shared through Redis (REDIS_URL): the same exchange as the Postgres store, one script call per
 * 500 keys. Commands fail at once while Redis is unreachable (no offline queue): the exchange that failed is logged by
 * the limiters, which keep limiting on this process's own counts until Redis answers again; the client reconnects
 * by itself.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #client: ExchangeClient;
  readonly #log: Logger;
  #down = false;

  constructor(url: string, log: Logger) {
    this.#log = log;
    const client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      connectionName: 'bmms-rate-limits',
      retryStrategy: (times) => Math.min(times * 250, 2_000),
    });
    client.defineCommand('bmmsRateLimitExchange', { lua: EXCHANGE });
    // Without a listener, ioredis prints every failed reconnect; one line when it goes, one when it is back.
    client.on('error', (err: Error) => {
      if (this.#down) return;
      this.#down = true;
      this.#log.warn('Redis is unreachable: rate limits count on this process alone until it answers', {
        redis: redactedRedisUrl(url),
        err: err.message,
      });
    });
    client.on('ready', () => {
      if (!this.#down) return;
      this.#down = false;
      this.#log.info('Redis answers again: rate limits are shared', { redis: redactedRedisUrl(url) });
    });
    this.#client = client as ExchangeClient;
  }

  /** Connects (the platform starts even when Redis does not answer: the client keeps trying). */
  async connect(): Promise<void> {
    try {
      await this.#client.connect();
    } catch {
      // Logged by the error listener; reconnecting goes on in the background.
    }
  }

  async exchange(
    processId: string,
    counts: Array<{ key: string; window: number; count: number }>,
  ): Promise<Map<string, number>> {
    const others = new Map<string, number>();
    for (let start = 0; start < counts.length; start += CHUNK) {
      const chunk = counts.slice(start, start + CHUNK);
      const keys = chunk.map((c) => `${PREFIX}${c.key}:${c.window}`);
      const sums = await this.#client.bmmsRateLimitExchange(
        keys.length,
        ...keys,
        processId,
        COUNTS_KEEP_MS,
        ...chunk.map((c) => c.count),
      );
      chunk.forEach((c, i) => {
        const sum = Number(sums[i] ?? 0);
        if (sum > 0) others.set(`${c.key}\u0000${c.window}`, sum);
      });
    }
    return others;
  }

  async close(): Promise<void> {
    this.#client.removeAllListeners('error');
    this.#client.on('error', () => {});
    if (this.#client.status === 'ready') await this.#client.quit().catch(() => this.#client.disconnect());
    else this.#client.disconnect();
  }
}
