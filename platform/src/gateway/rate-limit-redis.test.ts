import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_TEST_URL, redisForTests } from '../../test/redis.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { GatewayRateLimits } from './rate-limit.ts';
import { RedisRateLimitStore } from './rate-limit-redis.ts';
import { parseRedisUrl, redactedRedisUrl } from './redis-url.ts';

const available = await redisForTests();
const REDIS_URL = REDIS_TEST_URL;

/** A logger that keeps what it is told. */
type Line = { level: string; msg: string; fields: string };
function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, msg, fields: JSON.stringify(fields, (_k, v) => (v instanceof Error ? v.message : v)) });
  const logger = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger as unknown as Logger & { lines: Line[] };
}

describe('REDIS_URL', () => {
  it('takes redis:// and rediss:// URLs and refuses anything else, and logs them without their password', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379').host).toBe('127.0.0.1:6379');
    expect(parseRedisUrl('rediss://user:pw@cache.example.com:6380/2').protocol).toBe('rediss:');
    expect(() => parseRedisUrl('http://127.0.0.1:6379')).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseRedisUrl('127.0.0.1:6379')).toThrow();
    expect(() => parseRedisUrl('redis://127.0.0.1:6379/cache')).toThrow(/database number/);
    expect(redactedRedisUrl('redis://user:s3cret@127.0.0.1:6379/1')).toBe('redis://user:***@127.0.0.1:6379/1');
  });
});

describe.runIf(available)('rate limits shared through Redis', () => {
  const stores: RedisRateLimitStore[] = [];
  let admin: Redis;
  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    admin?.disconnect();
  });
  async function store(log: Logger = silentLogger): Promise<RedisRateLimitStore> {
    const s = new RedisRateLimitStore(REDIS_URL, log);
    stores.push(s);
    await s.connect();
    return s;
  }

  it('holds one limit across processes that exchange their counts, each through its own connection', async () => {
    const now = () => 1_000_000_000;
    const client = `client-${randomUUID()}`;
    const processes = await Promise.all(
      [randomUUID(), randomUUID()].map(
        async (processId) =>
          new GatewayRateLimits({
            token: { limit: 10, windowMs: 60_000 },
            store: await store(),
            processId,
            log: silentLogger,
            now,
          }),
      ),
    );
    let allowed = 0;
    for (let i = 0; i < 30; i++) {
      const p = processes[i % 2] as GatewayRateLimits;
      if (p.token?.take(client).allowed) allowed++;
      // Every process exchanges between two requests (twice: a repeated exchange adds nothing).
      for (let k = 0; k < 2; k++) for (const q of processes) await q.exchange();
    }
    expect(allowed).toBe(10);
    // The counts expire (an hour after their last write): Redis does not grow with every address ever seen.
    const keys = await admin.keys(`bmms:{rate-limit}:token:${client}:*`);
    expect(keys.length).toBe(1);
    const ttl = await admin.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(3_000_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('exchanges more keys than one script call takes, and counts only the other processes', async () => {
    const a = await store();
    const b = await store();
    const prefix = `addr-${randomUUID()}`;
    const counts = Array.from({ length: 1_234 }, (_, i) => ({ key: `${prefix}:${i}`, window: 7, count: (i % 5) + 1 }));
    expect((await a.exchange('process-a', counts)).size).toBe(0);
    // A lower count (an older exchange arriving late) does not lower what is stored.
    await a.exchange('process-a', [{ key: `${prefix}:0`, window: 7, count: 0 }]);
    const seen = await b.exchange(
      'process-b',
      counts.map((c) => ({ ...c, count: 1 })),
    );
    expect(seen.size).toBe(1_234);
    expect(seen.get(`${prefix}:0\u00007`)).toBe(1);
    expect(seen.get(`${prefix}:4\u00007`)).toBe(5);
    expect([...seen.values()].reduce((x, y) => x + y, 0)).toBe(counts.reduce((x, c) => x + c.count, 0));
    // Its own count is never added to what a process is told.
    expect((await a.exchange('process-a', counts)).get(`${prefix}:4\u00007`)).toBe(1);
  });
});

describe('a Redis that does not answer', () => {
  it('leaves each process limiting on its own, with one warning, and fails each exchange at once', async () => {
    // A port that refuses connections: listen, take its number, close.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const log = recordingLogger();
    const store = new RedisRateLimitStore(`redis://:hunter2@127.0.0.1:${port}/0`, log);
    await store.connect();
    const limits = new GatewayRateLimits({
      token: { limit: 3, windowMs: 60_000 },
      store,
      processId: randomUUID(),
      log,
      syncMs: 60_000,
    });
    try {
      expect([1, 2, 3, 4].map(() => limits.token?.take('k').allowed)).toEqual([true, true, true, false]);
      const started = Date.now();
      for (let i = 0; i < 5; i++) await limits.exchange();
      expect(Date.now() - started).toBeLessThan(2_000);
      // Its own counts still hold.
      expect(limits.token?.take('k').allowed).toBe(false);
      const warnings = log.lines.filter((l) => l.level === 'warn');
      expect(warnings.map((w) => w.msg)).toEqual([
        'Redis is unreachable: rate limits count on this process alone until it answers',
        'rate limit exchange failed: each process limits on its own counts',
      ]);
      expect(warnings[0]?.fields).toContain(`redis://:***@127.0.0.1:${port}/0`);
      expect(JSON.stringify(log.lines)).not.toContain('hunter2');
    } finally {
      await limits.close();
    }
  });
});
